"""Vector streams in the RTL backend: every stream carries ``gcd(W, row)`` elements per beat
(passes/beats.py); the operator library takes and gives one beat per cycle. Bit-exact against the
reference interpreter (integer mode) under random input gaps and output backpressure: a tiny
GPT-2 decode step (KV cache, off-chip weights, linears taking 4 inputs per lane and cycle) at W = 4
and at W = 32 (attention beats spanning two heads); odd row sizes whose beats differ stream by
stream at W = 4; norms, fused linears, masked and GQA attention at W = 2. One Verilator build
(with -Wall lint); the rest runs in Icarus. Whole models at W = 1..8 against the performance
model: benchmarks/perf_validation.py."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from llm2hls.backends.rtl import write_rtl
from llm2hls.errors import UserError
from llm2hls.passes.beats import assign_beats
from llm2hls.passes.decode_step import decode_step, load_kv_cache, step_golden
from llm2hls.perf.validate import place_offchip
from llm2hls.sim.rtl import simulate

from .graphs import attention_graph, mixed_graph, norm_act_graph
from .test_backend_sim import assert_bit_exact_and_lint_clean, golden as _golden, needs_icarus, needs_verilator


def _port_beats(rtl: Path, top: str) -> dict[str, int]:
    """Declared width of every top-level data port, from the generated top module."""
    text = (rtl / f"{top}.v").read_text()
    out = {}
    for line in text.splitlines():
        line = line.strip()
        if line.startswith(("input  wire [", "output wire [")) and "_data" in line:
            hi = int(line.split("[")[1].split(":")[0])
            out[line.split("]")[1].split(",")[0].strip()] = hi + 1
    return out


@pytest.fixture(scope="module")
def gpt2_w4(tmp_path_factory: pytest.TempPathFactory):
    """Tiny GPT-2 (hidden 32, 2 heads, 1 layer, 4 tokens) compiled at stream width 4."""
    from models import tiny_gpt2

    from llm2hls.pipeline import compile_model

    return compile_model(tiny_gpt2(hidden=32, heads=2, layers=1, vocab=50), tmp_path_factory.mktemp("gpt2"),
                         seq_len=4, lanes=4, csim=False, name="gpt2", stream_width=4).graph


@needs_icarus
def test_gpt2_decode_step_at_width_4(tmp_path: Path, gpt2_w4) -> None:
    """A decode step (KV cache preloaded) with every linear given all its output channels and 4
    inputs per cycle (lanes = 4n), weights streamed from the bench's memory model; then the same
    step at W = 32, where an attention output beat spans two heads."""
    g = place_offchip(gpt2_w4, True)
    assert g.meta["stream_width"] == 4
    for n in g.nodes.values():
        if n.op == "linear":
            n.lanes = 4 * int(n.param("q_weight").shape[0])
    prompt = {g.inputs[0]: np.array([7, 1, 42, 13])}
    step = load_kv_cache(decode_step(g, 3), g, prompt)
    rtl = write_rtl(step, tmp_path / "rtl", inputs=[{g.inputs[0]: prompt[g.inputs[0]][3:]}] * 2,
                    golden=step_golden(g, prompt, 3), seed=5, gap=0.3)
    top = json.loads((rtl / "rtl.json").read_text())["top"]
    assert ".LI(4)" in (rtl / f"{top}.v").read_text()
    out = g.outputs[0]  # logits [1, 50] leave gcd(4, 50) = 2 per beat
    assert _port_beats(rtl, top)[f"{out}_data"] == 2 * g.tensors[out].type.dtype.width
    r = simulate(rtl, "icarus")
    assert r["passed"] and r["mismatches"] == 0, r
    assert r["checked"] == 2 * 50 and r["memory_bytes"] > 0
    # W = 32: one beat holds both heads of 16 (attention gathers a beat over its heads)
    wide = assign_beats(step, 32)[0]
    assert wide.tensors[next(n for n in wide.nodes.values() if n.op == "attention").outputs[0]].meta["beat"] == 32
    rtl = write_rtl(wide, tmp_path / "rtl32", inputs=[{g.inputs[0]: prompt[g.inputs[0]][3:]}],
                    golden=step_golden(g, prompt, 3), seed=6, gap=0.3)
    r = simulate(rtl, "icarus")
    assert r["passed"] and r["mismatches"] == 0, r


@needs_icarus
def test_mixed_beats_masks_and_gqa(tmp_path: Path) -> None:
    """Odd rows give streams of different beats side by side (W = 4: rows of 7 and 3 channels
    stay scalar, rows of 4 take 4 per beat, through routes, eltwise constants and linears);
    norms, fused linear+act and linear+residual at W = 2; attention at W = 2 (head size 6):
    causal GQA and a padding mask."""
    cases = [(assign_beats(mixed_graph(seed=11), 4)[0], "mixed"),
             (assign_beats(norm_act_graph(seed=2), 2)[0], "normact"),
             (assign_beats(attention_graph(seed=1), 2)[0], "attn")]
    beats = {t.meta["beat"] for g, _ in cases[:1] for t in g.tensors.values()}
    assert beats == {1, 4}
    for g, name in cases:
        r = simulate(write_rtl(g, tmp_path / name, golden=_golden, seed=1, gap=0.4), "icarus")
        assert r["passed"] and r["mismatches"] == 0, (name, r)


def test_attention_beat_straddling_heads_is_a_user_error(tmp_path: Path) -> None:
    g = assign_beats(attention_graph(seed=1), 4)[0]  # head size 6, beats of 4
    with pytest.raises(UserError, match="straddles heads"):
        write_rtl(g, tmp_path / "rtl")
    assert not (tmp_path / "rtl").exists()


@needs_verilator
def test_verilator_width_4_bit_exact_and_lint_clean(tmp_path: Path) -> None:
    g = assign_beats(norm_act_graph(seed=4), 4)[0]
    rtl = write_rtl(g, tmp_path / "rtl", runs=2, seed=2, gap=0.3)
    assert_bit_exact_and_lint_clean(rtl)
