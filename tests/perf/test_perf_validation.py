"""The performance model against RTL-simulated cycles (bench memory model, Icarus): a small
quantized graph (layernorm -> linear+act -> linear) with weights on chip and off chip at a low
bandwidth; predicted cycles within 10 % of the simulation, outputs bit-exact. The full table
(tiny GPT-2 / Llama, prefill and decode) is benchmarks/perf_validation.py."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from llm2hls.backends.rtl.backend import random_inputs
from llm2hls.perf.model import MemoryModel
from llm2hls.perf.validate import measure, place_offchip, predict
from llm2hls.sim.toolchain import find_icarus
from tests.rtl.graphs import norm_act_graph

pytestmark = pytest.mark.skipif(not find_icarus().ok, reason="iverilog not installed")


@pytest.mark.parametrize("offchip", [False, True], ids=["onchip", "offchip"])
def test_predicted_cycles_match_rtl(tmp_path: Path, offchip: bool) -> None:
    g = place_offchip(norm_act_graph(seed=1), offchip)
    mem = MemoryModel(channels=1, bytes_per_cycle_per_channel=0.5, eta=1.0, latency_cycles=30)
    tokens = g.tensors[g.inputs[0]].type.shape[0]
    inputs = [random_inputs(g, np.random.default_rng(0))]
    m = measure(g, mem, tmp_path, inputs)
    p = predict(g, mem, tokens)
    assert m["passed"] and m["mismatches"] == 0
    assert p["bound"] == ("memory" if offchip else "compute")
    assert abs(p["cycles"] / m["cycles"] - 1) <= 0.10, (p, m)
    if offchip:  # the bench's memory served every weight word once per token
        assert m["memory_bytes"] > 0
