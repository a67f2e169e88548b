"""Prefill/decode projects (--decode): greedy generation in C simulation equals the integer reference.

The oracle is the reference interpreter recomputing the whole padded sequence for every new token
(independent of the KV-cache path); csim runs prefill + one decode call per token with the caches.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from click.testing import CliRunner

import models
from llm2hls.cli import main
from llm2hls.errors import UserError
from llm2hls.frontend import import_model
from llm2hls.passes.quantize import QuantConfig
from llm2hls.pipeline import compile_graph, random_inputs
from llm2hls.reference import run_graph

T = 10
PROMPT = [5, 3, 9, 1]
NEW = 6


def compile_decode(model, out, kv_onchip_max_bytes=None):
    imported = import_model(model, seq_len=T)
    g = imported.graph
    calib = [random_inputs(g, seed) for seed in (1, 2)] + [imported.example_inputs]
    return compile_graph(g, out, QuantConfig.from_scheme("w8a16"), calib, imported.example_inputs,
                         decode=(PROMPT, NEW), kv_onchip_max_bytes=kv_onchip_max_bytes)


def reference_logits(g, ids):
    padded = np.zeros(T, dtype=np.int64)
    padded[:len(ids)] = ids
    return run_graph(g, {g.inputs[0]: padded}, mode="int")[g.outputs[0]]


def greedy(g, prompt, n):
    seq = list(prompt)
    for _ in range(n):
        seq.append(int(np.argmax(reference_logits(g, seq)[len(seq) - 1])))
    return seq[len(prompt):]


CASES = {
    "gpt2": (lambda: models.tiny_gpt2(layers=1), None),  # learned positions, on-chip caches
    "neox": (lambda: models.tiny_gpt_neox(layers=1), None),  # partial rotary
    "llama": (lambda: models.tiny_llama(), 0),  # GQA, rotary, caches forced off chip (m_axi)
}


@pytest.fixture(scope="module", params=sorted(CASES))
def compiled(request, tmp_path_factory):
    factory, kv_bytes = CASES[request.param]
    out = tmp_path_factory.mktemp("decode") / request.param
    return request.param, compile_decode(factory(), out, kv_bytes)


def test_csim_generates_the_reference_tokens(compiled):
    name, res = compiled
    g = res.graph
    assert res.csim["passed"] and res.csim["mismatches"] == 0, res.csim
    expected = greedy(g, PROMPT, NEW)
    assert res.csim["tokens"] == expected
    assert len(set(expected)) > 1, "a constant continuation would not test much"
    # every logits row the accelerator produced (prefill rows 0..L-1, then one per decode call) was
    # compared bit-exactly by the testbench with this file; it must be the reference's
    vocab = g.tensors[g.outputs[0]].type.shape[-1]
    golden = np.loadtxt(res.out_dir / "tb" / f"{g.outputs[0]}.golden.txt", dtype=np.int64).reshape(-1, vocab)
    full = PROMPT + expected[:-1]
    assert golden.shape[0] == len(full)
    np.testing.assert_array_equal(golden[:len(PROMPT)], reference_logits(g, PROMPT)[:len(PROMPT)])
    np.testing.assert_array_equal(golden, reference_logits(g, full)[:len(full)])


def test_kv_cache_placement_and_runtime_window(compiled):
    name, res = compiled
    src = (res.out_dir / "src" / f"{res.report['top']}.cpp").read_text()
    caches = res.report["decode"]["kv_caches"]
    assert len(caches) == sum(n.op == "attention" for n in res.graph.nodes.values())
    offchip = CASES[name][1] == 0
    for c in caches:
        assert c["placement"] == ("offchip" if offchip else "onchip")
        assert (f"mode=m_axi port={c['stage']}_kcache" in src) == offchip
        assert bool(re.search(rf"static \w+ {c['stage']}_vcache\[{T}\]", src)) != offchip
    assert "mode=s_axilite port=pos0" in src and "mode=s_axilite port=n_tokens" in src
    assert f"#pragma HLS LOOP_TRIPCOUNT max={T}\n" in src
    assert "[pos0 + s][c]" in src  # position embedding / rotary tables read at the absolute position
    assert (res.out_dir / "host" / "host.cpp").is_file()


def test_rows_depend_only_on_earlier_tokens():
    """The premise of the oracle: with causal attention, padding ids do not change earlier rows."""
    imported = import_model(models.tiny_gpt_neox(layers=1), seq_len=T)
    g = imported.graph
    from llm2hls.passes.quantize import calibrate, quantize_graph

    cfg = QuantConfig.from_scheme("w8a16")
    calibrate(g, [random_inputs(g, 1)], cfg)
    quantize_graph(g, cfg)
    a = run_graph(g, {g.inputs[0]: np.array(PROMPT + [0] * (T - 4))}, mode="int")[g.outputs[0]]
    b = run_graph(g, {g.inputs[0]: np.array(PROMPT + [7] * (T - 4))}, mode="int")[g.outputs[0]]
    np.testing.assert_array_equal(a[:4], b[:4])
    assert (a[4:] != b[4:]).any()


def test_cli_user_errors(tmp_path):
    runner = CliRunner()
    r = runner.invoke(main, ["compile", "x.pt2", "--prompt", "1,2"])
    assert r.exit_code == 2 and "only apply with --decode" in r.output
    r = runner.invoke(main, ["generate", str(tmp_path), "--prompt", "1"])
    assert r.exit_code == 2 and "not an llm2hls project" in r.output


def test_encoder_is_refused(tmp_path):
    imported = import_model(models.tiny_bert(layers=1), seq_len=6)
    g = imported.graph
    with pytest.raises(UserError, match="causal"):
        compile_graph(g, tmp_path / "bert", QuantConfig.from_scheme("w8a16"), [imported.example_inputs],
                      imported.example_inputs, decode=([1, 2], 2))


def test_generate_cli_new_prompt(compiled, tmp_path):
    """``llm2hls generate`` re-runs the cached csim binary on another prompt, checked against the oracle."""
    import json
    import shutil

    _, res = compiled
    project = tmp_path / "p"
    shutil.copytree(res.out_dir, project)
    prompt = [2, 7]
    r = CliRunner().invoke(main, ["generate", str(project), "--prompt", "2,7", "--new-tokens", "5", "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout[r.stdout.index("{"):])
    assert out["passed"] and out["tokens"] == greedy(res.graph, prompt, 5)
