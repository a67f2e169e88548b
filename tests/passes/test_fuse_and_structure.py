"""Fusion transparency, lanes, forks and FIFO depths."""

from __future__ import annotations

import numpy as np
import pytest
from hand_graphs import H, calib_inputs, hand_graph, id_inputs

from llm2hls.passes.fifo import size_fifos
from llm2hls.passes.forks import insert_forks
from llm2hls.passes.fuse import fuse, fuse_activation, fuse_residual
from llm2hls.passes.parallelize import largest_divisor_at_most, parallelize
from llm2hls.passes.quantize import QuantConfig, calibrate, quantize_graph
from llm2hls.reference import quantize_inputs, run_graph


def int_run(g, seed=5):
    cfg = QuantConfig()
    calibrate(g, calib_inputs(), cfg)
    quantize_graph(g, cfg)
    return run_graph(g, quantize_inputs(g, id_inputs(seed)), mode="int")["out"]


def test_fuse_residual_structure_and_pureness():
    g = hand_graph()
    fused, changed = fuse_residual(g)
    assert changed and "res" in g.nodes  # input untouched
    assert "res" not in fused.nodes
    fc2 = fused.nodes["fc2"]
    assert fc2.attrs["residual"] and fc2.inputs == ["h2", "e"] and fc2.outputs == ["r"]
    assert fuse_residual(fused)[1] is False  # fixpoint


def test_fusion_is_numerically_transparent_residual():
    assert np.array_equal(int_run(hand_graph()), int_run(fuse(hand_graph())))


@pytest.mark.parametrize("fn", ["gelu_tanh", "silu"])
def test_fusion_is_numerically_transparent_activation(fn):
    g = hand_graph(act=fn)
    fused, changed = fuse_activation(g)
    assert changed and fused.nodes["fc1"].attrs["act"] == fn and "act" not in fused.nodes
    assert np.array_equal(int_run(hand_graph(act=fn)), int_run(fused))


def test_fusion_float_semantics_unchanged():
    g = hand_graph(act="gelu_tanh")
    a = run_graph(g, id_inputs(1))["out"]
    b = run_graph(fuse(g), id_inputs(1))["out"]
    assert np.allclose(a, b, rtol=0, atol=1e-12)


def test_lanes_rule():
    assert largest_divisor_at_most(12, 5) == 4
    assert largest_divisor_at_most(7, 4) == 1
    g, _ = parallelize(hand_graph(), 4)
    assert g.nodes["fc1"].lanes == 4 and g.nodes["head"].lanes == 1  # 7 output channels: prime
    assert g.nodes["addc"].lanes == 1  # elementwise stages stream one value per cycle
    assert H % g.nodes["fc1"].lanes == 0


def test_forks_one_reader_per_stream():
    g, changed = insert_forks(hand_graph())
    assert changed
    for name in g.tensors:
        reads = sum(t == name for n in g.nodes.values() for t in n.inputs) + (name in g.outputs)
        assert reads <= 1, name
    # "r" was read by rot and mul, "e" by fc1 and res
    assert {n.op for n in g.nodes.values() if n.attrs.get("fork")} == {"route"}
    assert sum(1 for n in g.nodes.values() if n.attrs.get("fork")) == 2
    assert np.array_equal(run_graph(g, id_inputs(2))["out"], run_graph(hand_graph(), id_inputs(2))["out"])


def test_fork_of_a_twice_read_tensor():
    g = hand_graph()
    g.nodes["mul"].inputs = ["r", "r"]  # x * x reads one stream twice
    f, _ = insert_forks(g)
    assert len(set(f.nodes["mul"].inputs)) == 2


def test_fifo_depth_skip_path():
    g, _ = insert_forks(fuse(hand_graph()))
    g, _ = size_fifos(g)
    fc2 = g.nodes["fc2"]
    skip = fc2.inputs[1]  # the residual stream waits while fc1 (a row stage) buffers a token
    assert g.tensors[skip].meta["fifo_depth"] >= g.tensors[skip].type.shape[1] * 2
    assert g.tensors[fc2.inputs[0]].meta["fifo_depth"] == 2
