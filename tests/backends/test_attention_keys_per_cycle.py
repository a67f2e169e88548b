"""HLS attention taking P keys per cycle, and off-chip KV caches striped over P m_axi ports.

Oracle: the reference interpreter (golden outputs, greedy tokens by full recomputation); the C
simulation compares every element bit-exactly. Each case also checks that the generated code really
has P keys per cycle (the unrolled key loop), so it would fail if P were ignored.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from click.testing import CliRunner

import models
from llm2hls import pipeline
from llm2hls.cli import main
from llm2hls.dse.design_file import parse_sp
from llm2hls.ir.serialize import load_graph
from llm2hls.ops.attention import keys_per_cycle
from llm2hls.passes.parallelize import parallelize
from llm2hls.passes.quantize import QuantConfig
from llm2hls.frontend import import_model
from llm2hls.pipeline import compile_graph, random_inputs
from llm2hls.reference import run_graph
from ops.nl_harness import CppCase, one_node_graph, quantize_one, raw_inputs, render_stage, run_cpp
from test_decode import NEW, PROMPT, T, greedy


@pytest.fixture
def keys(monkeypatch):
    """Make the pipeline give every attention stage ``P`` keys per cycle, as a design file's
    ``P * head_dim`` attention MACs do (``parallelize`` overrides); returns a setter."""
    def set_keys(p: int) -> None:
        def with_attention(g, cap):
            macs = {n.name: p * n.attrs["head_dim"] for n in g.nodes.values() if n.op == "attention"}
            return parallelize(g, cap, overrides=macs)
        monkeypatch.setattr(pipeline, "parallelize", with_attention)
    return set_keys


def _compile(model, out, seq_len, quant="w8a16", **options):
    imported = import_model(model, seq_len=seq_len)
    g = imported.graph
    calib = [random_inputs(g, seed) for seed in (1, 2)] + [imported.example_inputs]
    return compile_graph(g, out, QuantConfig.from_scheme(quant), calib, imported.example_inputs, **options)


def _check(res, p: int) -> str:
    """Bit-exact C simulation, every attention stage at ``p`` keys per cycle in the IR and in the
    code; returns the kernel source."""
    cs = res.csim
    assert cs["passed"] and cs["mismatches"] == 0 and cs["elements"] > 0, cs
    attention = [n for n in res.graph.nodes.values() if n.op == "attention"]
    assert attention and all(n.lanes == p for n in attention)
    src = (res.out_dir / "src" / f"{res.report['top']}.cpp").read_text()
    for label in ("scores", "weights"):  # both key loops take p keys per iteration (II=1)
        loops = re.findall(rf"_{label}:\n\s+for \(int g = 0; g \* {p} < n_keys; \+\+g\) \{{.*\n#pragma HLS PIPELINE II=1\n"
                           rf"\s+for \(int jj = 0; jj < {p}; \+\+jj\) \{{\n#pragma HLS UNROLL\n", src)
        assert len(loops) == len({n.name for n in attention} & set(re.findall(r"void (\w+)_row\(", src))) > 0
    return src


def test_keys_per_cycle_from_design_macs():
    assert keys_per_cycle(256, 64) == 4 and keys_per_cycle(100, 64) == 1 and keys_per_cycle(0, 64) == 1
    attrs = dict(heads=2, kv_heads=2, head_dim=16, scale=0.25, causal=True)
    g, node = one_node_graph("attention", attrs, [(4, 32)] * 3, (4, 32), name="att")  # 4 keys
    assert parallelize(g, 2, overrides={"att": 48})[0].nodes["att"].lanes == 3
    assert parallelize(g, 2, overrides={"att": 1024})[0].nodes["att"].lanes == 4  # at most the keys
    assert parallelize(g, 2)[0].nodes["att"].lanes == 1  # not named by a design: one key


@pytest.mark.slow
def test_gpt2_prefill_three_keys_per_cycle_with_beats(tmp_path, keys):
    keys(3)  # 8 keys: the last group of each row is partial
    res = _compile(models.tiny_gpt2(layers=1), tmp_path / "gpt2", seq_len=8, stream_width=4)
    src = _check(res, 3)
    assert "#pragma HLS ARRAY_PARTITION variable=kbuf cyclic factor=3 dim=1" in src


# (seq, Hq, Hk, D, causal, mask, P): partial key groups, GQA, padding masks, a row with no key
STAGES = [
    (7, 3, 3, 8, True, None, 3),
    (13, 6, 2, 8, True, None, 2),  # GQA
    (7, 6, 2, 16, False, "pad", 2),  # non-causal, keys >= 4 hidden by the mask
    (5, 2, 2, 8, False, "none_row", 2),  # row 2 attends to no key: zeros
    (13, 5, 5, 16, False, None, 4),
]


def test_stages_bit_exact_with_masks(tmp_path):
    """One-stage graphs through the real template (tests/ops harness, one g++ build) against the
    integer reference, at P = 2, 3, 4 keys per cycle."""
    cases = []
    for i, (s, hq, hk, d, causal, mask, p) in enumerate(STAGES):
        attrs = dict(heads=hq, kv_heads=hk, head_dim=d, scale=d**-0.5, causal=causal)
        allowed = np.ones((s, s), dtype=bool)
        if mask == "pad":
            allowed[:, 4:] = False
        elif mask == "none_row":
            allowed[2] = False
        g, node = one_node_graph("attention", attrs, [(s, hq * d), (s, hk * d), (s, hk * d)], (s, hq * d),
                                 {"mask": allowed} if mask else None, f"attn{i}")
        rng = np.random.default_rng(300 + i)
        xs = [rng.normal(0, 1.0, (s, h * d)) for h in (hq, hk, hk)]
        quantize_one(g, node, [xs])
        node.lanes = p
        cases.append(CppCase(g, node, raw_inputs(g, node, xs)))
    outs = run_cpp(cases, str(tmp_path))
    for case, got, (*_, mask, p) in zip(cases, outs, STAGES):
        want = run_graph(case.graph, dict(zip(case.graph.inputs, case.inputs)), mode="int")[case.graph.outputs[0]]
        assert int((want != got).sum()) == 0, case.node.name
        src = render_stage(case.graph, case.node)
        assert src.count(f"for (int jj = 0; jj < {p}; ++jj) {{") == 2  # scores and weights: P keys per cycle
        assert (f"variable={case.node.name}_q_mask cyclic factor={p} dim=2" in src) == (mask is not None)
    assert not outs[3][2].any() and outs[3][1].any()


def test_llama_decode_with_striped_offchip_cache(tmp_path, keys):
    keys(2)  # GQA 6/2 heads, stream width 2; caches forced off chip: K and V each on two m_axi ports
    res = _compile(models.tiny_llama(), tmp_path / "llama", seq_len=T, decode=(PROMPT, NEW),
                   kv_onchip_max_bytes=0, stream_width=2)
    src = _check(res, 2)
    assert res.csim["tokens"] == greedy(res.graph, PROMPT, NEW)
    caches = res.report["decode"]["kv_caches"]
    assert caches and all(c["placement"] == "offchip" and c["ports"] == 2 for c in caches)
    assert json.loads((res.out_dir / "report.json").read_text())["decode"]["kv_caches"] == caches
    header = (res.out_dir / "src" / f"{res.report['top']}.h").read_text()
    for c in caches:
        for t in ("kcache", "vcache"):
            for port in range(2):  # positions 0, 2, .. on port 0; 1, 3, .. on port 1: 5 rows each
                assert re.search(rf"\w+ {c['stage']}_{t}_p{port}\[5\]\[\d+\]", header)
            assert f"{c['stage']}_{t}[" not in header
    bundles = [line for line in src.splitlines() if "mode=m_axi" in line] + \
        [line for line in header.splitlines() if "mode=m_axi" in line]
    assert len({b.split("bundle=")[1].split()[0] for b in bundles}) == 4 * len(caches)
    host = (res.out_dir / "host" / "host.cpp").read_text()
    assert host.count("run.set_arg(") == 2 + 4 * len(caches)


@pytest.mark.slow
def test_gpt2_decode_onchip_cache_partitioned(tmp_path, keys):
    keys(2)
    res = _compile(models.tiny_gpt2(layers=1), tmp_path / "gpt2d", seq_len=T, decode=(PROMPT, NEW))
    src = _check(res, 2)
    assert res.csim["tokens"] == greedy(res.graph, PROMPT, NEW)
    caches = res.report["decode"]["kv_caches"]
    assert caches and all(c["placement"] == "onchip" and c["ports"] == 1 for c in caches)
    assert re.search(r"ARRAY_PARTITION variable=\w+_kcache cyclic factor=2 dim=1", src)


@pytest.mark.slow
def test_engine_decode_w2_striped(tmp_path, keys):
    keys(2)  # one block engine for 2 layers: [layers][rows][row] caches per port, stream width 2
    res = _compile(models.tiny_llama(layers=2), tmp_path / "eng", seq_len=T, engine=True, stream_width=2,
                   decode=(PROMPT, NEW), offchip_min_elements=1024)
    src = _check(res, 2)
    assert res.csim["tokens"] == greedy(res.graph, PROMPT, NEW)
    caches = res.report["decode"]["kv_caches"]
    assert len(caches) == 1 and caches[0]["ports"] == 2
    assert re.search(rf"{caches[0]['stage']}_vcache_p1\[layer\]", src)


@pytest.mark.slow
def test_design_file_attention_lanes(tmp_path):
    """explore -> design (one block engine) with attention at 2 x head_dim MACs and the KV cache off
    chip -> compile --design --decode: 2 keys per cycle, caches on 2 ports with their own sp= lines."""
    models.tiny_gpt2(layers=2).save_pretrained(tmp_path / "tiny")
    run = CliRunner().invoke(main, ["explore", str(tmp_path / "tiny"), "--target", "U280", "--quant", "w8a16",
                                    "--prompt", "4", "--generate", "4", "--save-design", str(tmp_path / "d.json")])
    assert run.exit_code == 0, run.output
    doc = json.loads((tmp_path / "d.json").read_text())
    doc.update(channels=2, kv_onchip=False, replicate=False, engines=1)
    for row in doc["stages"]:
        if row["kind"] == "attention":
            row["lanes"] = 2 * row["head_dim"] + 1  # not a whole number of keys: cut to 2
    (tmp_path / "d.json").write_text(json.dumps(doc))
    run = CliRunner().invoke(main, ["compile", str(tmp_path / "tiny"), "--design", str(tmp_path / "d.json"),
                                    "--decode", "--max-context", "8", "--new-tokens", "3",
                                    "--out", str(tmp_path / "p"), "--json"])
    assert run.exit_code == 0, run.output
    root = tmp_path / "p"
    report = json.loads((root / "report.json").read_text())
    assert report["csim"]["passed"] and report["csim"]["mismatches"] == 0
    assert report["csim"]["tokens"] == report["decode"]["reference_tokens"]
    g = load_graph(root / "ir.json")
    attention = [n for n in g.nodes.values() if n.op == "attention"]
    assert attention and all(n.lanes == 2 for n in attention)
    notes = g.meta["design"]["notes"]
    assert not any("attention" in n and "not applied" in n for n in notes), notes
    assert any("attention MACs cut to whole keys" in n for n in notes), notes
    caches = report["decode"]["kv_caches"]
    assert caches and all(c["placement"] == "offchip" and c["ports"] == 2 for c in caches)
    sp = parse_sp((root / "host" / "link.cfg").read_text())
    for c in caches:
        banks = [s["bank"] for s in sp if s["arg"].startswith(c["stage"] + "_kcache_p")]
        assert len(banks) == 2 and banks[0] != banks[1]  # the two key ports on distinct channels
