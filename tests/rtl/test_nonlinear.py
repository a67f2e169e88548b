"""Phase 2 operators alone, in Icarus: act tables, LayerNorm/RMSNorm, fused linear (act +
residual), forks, attention (causal GQA streaming rows, non-causal with a padding mask), all
quantized by the real passes and checked bit-exact against the reference interpreter
(``reference.run_graph(..., "int")``) under random valid gaps and backpressure."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from llm2hls.backends.rtl import write_rtl
from llm2hls.sim.rtl import simulate
from llm2hls.sim.toolchain import find_icarus, find_verilator, sim_env

from .graphs import attention_graph, norm_act_graph

pytestmark = pytest.mark.skipif(not find_icarus().ok, reason="iverilog not installed")


def _lint(rtl: Path) -> None:
    if not find_verilator().ok:
        return
    spec = json.loads((rtl / "rtl.json").read_text())
    lint = subprocess.run(["verilator", "--lint-only", "-Wall", "--top-module", spec["top"], *spec["sources"]],
                          cwd=rtl, env={**os.environ, **sim_env("verilator")}, capture_output=True, text=True)
    assert lint.returncode == 0, lint.stderr[-3000:]


@pytest.mark.parametrize("seed, act_fn", [(0, "silu"), (1, "tanh")])
def test_norms_tables_fused_linear(tmp_path: Path, seed: int, act_fn: str) -> None:
    g = norm_act_graph(seed, act_fn)
    assert {n.op for n in g.nodes.values()} >= {"layernorm", "linear", "act", "route"}
    rtl = write_rtl(g, tmp_path / "rtl", runs=3, seed=seed, gap=0.4)
    r = simulate(tmp_path / "rtl", "icarus")
    assert r["passed"] and r["mismatches"] == 0, r
    assert r["checked"] == 3 * g.tensors[g.outputs[0]].type.numel
    assert r["total_cycles"] > r["latency_cycles"] > 0
    _lint(rtl)


def test_attention_causal_gqa_and_masked(tmp_path: Path) -> None:
    g = attention_graph(0)
    rtl = write_rtl(g, tmp_path / "rtl", runs=2, seed=3, gap=0.3)
    params = {s["node"]: s for s in json.loads((rtl / "rtl.json").read_text())["stages"]}
    assert set(params) == {"a_attn", "b_attn"}
    r = simulate(tmp_path / "rtl", "icarus")
    assert r["passed"] and r["mismatches"] == 0, r
    assert r["checked"] == 2 * sum(g.tensors[t].type.numel for t in g.outputs)
    top = (rtl / f"{json.loads((rtl / 'rtl.json').read_text())['top']}.v").read_text()
    assert ".STREAM(1)" in top and ".STREAM(0)" in top and ".HAS_MASK(1)" in top
    _lint(rtl)
