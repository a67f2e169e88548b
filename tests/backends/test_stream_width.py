"""Vector streams (``--stream-width W``): every stream carries ``gcd(W, row)`` values per beat and the
C simulation stays bit-exact.

Oracles: the reference interpreter's integer outputs (the testbench's golden files; zero differing
elements) and, for decode, the independent greedy loop of test_decode.py.
"""

from __future__ import annotations

import math
import re

import pytest
from click.testing import CliRunner

import models
from llm2hls import pipeline
from llm2hls.cli import main
from llm2hls.frontend import import_model
from llm2hls.passes.parallelize import parallelize
from llm2hls.passes.quantize import QuantConfig
from llm2hls.pipeline import compile_graph, random_inputs
from test_decode import NEW, PROMPT, T, greedy


def _compile(model, out, seq_len, width, quant="w8a16", **options):
    imported = import_model(model, seq_len=seq_len)
    g = imported.graph
    calib = [random_inputs(g, seed) for seed in (1, 2)] + [imported.example_inputs]
    return compile_graph(g, out, QuantConfig.from_scheme(quant), calib, imported.example_inputs,
                         stream_width=width, **options)


def _assert_bit_exact(res):
    cs = res.csim
    assert cs["passed"] and cs["mismatches"] == 0 and cs["elements"] > 0, cs


def _source(res) -> str:
    return (res.out_dir / "src" / f"{res.report['top']}.cpp").read_text()


def test_gpt2_w4_is_bit_exact_with_beats_of_gcd(tmp_path):
    res = _compile(models.tiny_gpt2(layers=1), tmp_path / "gpt2", seq_len=8, width=4)
    _assert_bit_exact(res)
    g = res.graph
    logits = g.outputs[0]
    assert res.csim["elements"] == g.tensors[logits].type.numel
    assert res.report["stream_width"] == 4
    # hidden rows of 48 move 4 per beat; the 97 logits of a row cannot: beats of gcd(4, 97) = 1
    for name, t in g.tensors.items():
        assert t.meta["beat"] == math.gcd(4, t.type.shape[-1] if len(t.type.shape) > 1 else 1), name
    header = (res.out_dir / "src" / f"{res.report['top']}.h").read_text()
    hidden = g.nodes[next(n for n in g.nodes if n.endswith("wte_embedding"))].outputs[0]
    assert f"typedef llm2hls::beat<{hidden}_t, 4> {hidden}_beat_t;" in header
    assert f"hls::stream<{logits}_t>& {logits}" in header  # beat 1: the plain element stream
    src = _source(res)
    # the LM head reads beats of 4 and writes single values
    head = re.search(r"void (\w*lm_head\w*)\(hls::stream<(\w+)>& in0, hls::stream<(\w+)>& out0", src)
    assert head and head.group(2).endswith("_beat_t") and not head.group(3).endswith("_beat_t")


def test_llama_w4_with_input_lanes_is_bit_exact(tmp_path, monkeypatch):
    """Linears whose lanes exceed their rows take a beat of the input row per cycle (outputs x inputs)."""
    def wide_lanes(g, cap):
        linears = {n.name: 1 << 20 for n in g.nodes.values() if n.op == "linear"}
        return parallelize(g, cap, overrides=linears, width=4)

    monkeypatch.setattr(pipeline, "parallelize", wide_lanes)
    res = _compile(models.tiny_llama(layers=1), tmp_path / "llama", seq_len=8, width=4, quant="w4a8-asym")
    _assert_bit_exact(res)
    wide = [n for n in res.graph.nodes.values() if n.op == "linear" and n.lanes > 1]
    assert wide and all(n.lanes % 4 == 0 for n in wide)
    assert _source(res).count("4 inputs of the row per cycle") == len(wide)


def test_decode_w2_generates_the_reference_tokens(tmp_path):
    # an even vocabulary: the logits leave in beats of 2 (unpacked by the testbench and the data mover)
    res = _compile(models.tiny_gpt2(layers=1, vocab=98), tmp_path / "dec", seq_len=T, width=2,
                   decode=(PROMPT, NEW))
    _assert_bit_exact(res)
    assert res.csim["tokens"] == greedy(res.graph, PROMPT, NEW)
    logits = res.graph.outputs[0]
    assert res.graph.tensors[logits].meta["beat"] == 2
    assert f"hls::stream<{logits}_beat_t>& in" in (res.out_dir / "host" / "movers.cpp").read_text()


def test_engine_w2_decodes_with_beat_buffers(tmp_path):
    res = _compile(models.tiny_llama(layers=2), tmp_path / "eng", seq_len=T, width=2, engine=True,
                   decode=(PROMPT, NEW), offchip_min_elements=1024)
    _assert_bit_exact(res)
    assert res.csim["tokens"] == greedy(res.graph, PROMPT, NEW)
    # the residual stream between layers is held as beats of 2 in the ping/pong buffers
    assert re.search(r"static \w+_beat_t ping\[\d+\], pong\[\d+\];", _source(res))


@pytest.mark.parametrize("width", ["3", "0"])
def test_stream_width_must_be_a_power_of_two(tmp_path, width):
    out = tmp_path / "out"
    r = CliRunner().invoke(main, ["compile", str(tmp_path / "missing.pt2"), "--stream-width", width,
                                  "--out", str(out)])
    assert r.exit_code == 2
    assert "--stream-width must be a power of two" in r.output and len(r.output.strip().splitlines()) == 1
    assert not out.exists()
