"""``act`` kind: float vs PyTorch, integer tables vs float (exhaustive), integer vs C++ (bit-exact)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from llm2hls.ir.types import FixedType
from llm2hls.numerics import INT
from llm2hls.ops import op_kind
from llm2hls.ops.activation import ACT_TAILS, act_int, quantize_act
from llm2hls.ops.functions import FUNCTIONS
from llm2hls.reference.interpreter import run_graph

from .nl_harness import Config, CppCase, one_node_graph, quantize_one, raw_inputs, run_cpp

TORCH = {
    "gelu_erf": F.gelu,
    "gelu_tanh": lambda x: F.gelu(x, approximate="tanh"),
    "silu": F.silu,
    "sigmoid": torch.sigmoid,
    "relu": F.relu,
    "tanh": torch.tanh,
    "exp": torch.exp,
}
# Input types of the exhaustive accuracy test: range +-16 (exp: +-8, so e^x fits 16 bits).
IN_TYPE = {fn: FixedType(16, 11) for fn in TORCH} | {"exp": FixedType(16, 12)}
TOL_LSB = 1.5  # worst |int - float| in output LSBs, measured 1.27 (docs/numerics-nonlinear.md)


@pytest.mark.parametrize("fn", sorted(TORCH))
def test_float_matches_torch(fn):
    x = np.random.default_rng(1).normal(0, 4, (9, 11))
    g, node = one_node_graph("act", {"fn": fn}, [x.shape], x.shape)
    got = op_kind("act").run_float(node, [x])[0]
    want = TORCH[fn](torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("fn", sorted(ACT_TAILS))
def test_int_accuracy_every_input(fn):
    """Every one of the 65536 inputs is within TOL_LSB of the exact function, saturated."""
    it = IN_TYPE[fn]
    xs = np.arange(it.raw_min, it.raw_max + 1, dtype=INT)
    exact = FUNCTIONS[fn](xs * it.lsb)
    out_t, params, attrs = quantize_act(fn, it, float(np.abs(exact).max()), Config())
    assert attrs["act_table"]["size"] <= 1024
    y = act_int(fn, xs, it, out_t, params, attrs)
    target = np.clip(exact, out_t.raw_min * out_t.lsb, out_t.max_value)
    err = np.abs(y * out_t.lsb - target) / out_t.lsb
    assert err.max() <= TOL_LSB, f"{fn}: worst error {err.max():.2f} LSB"


def _act_cases():
    rng = np.random.default_rng(7)
    cases = []
    for i, fn in enumerate(sorted(ACT_TAILS)):
        for j, scale in enumerate((3.0, 0.4)):  # wide range, and a narrow one (fine input LSB)
            x = rng.normal(0, scale, (4, 13))
            g, node = one_node_graph("act", {"fn": fn}, [x.shape], x.shape, name=f"act{i}_{j}")
            quantize_one(g, node, [[x]])
            raw = raw_inputs(g, node, [x])[0]
            t = node.attrs["act_table"]
            hi = t["lo"] + t["size"] * 2 ** t["shift"] - 1
            it = g.tensors[node.inputs[0]].type.dtype
            edges = [it.raw_min, it.raw_max, 0, 1, -1, t["lo"] - 1, t["lo"], hi, hi + 1,
                     t["lo"] + 2 ** t["shift"] - 1, t["lo"] + 2 ** t["shift"]]
            edges = np.clip(edges, it.raw_min, it.raw_max)
            raw.reshape(-1)[: len(edges)] = edges
            cases.append(CppCase(g, node, [raw]))
    return cases


@pytest.fixture(scope="module")
def act_cpp():
    cases = _act_cases()
    return cases, run_cpp(cases)


def test_cpp_bit_exact(act_cpp):
    cases, outs = act_cpp
    for case, got in zip(cases, outs):
        want = run_graph(case.graph, dict(zip(case.graph.inputs, case.inputs)), mode="int")
        want = want[case.graph.outputs[0]]
        diff = int((want != got).sum())
        assert diff == 0, f"{case.node.name} ({case.node.attrs['fn']}): {diff} elements differ"


def test_fused_interface_matches_stage():
    """quantize_act/act_int (the interface linear uses when an act is fused) = the act stage."""
    x = np.random.default_rng(3).normal(0, 2, (3, 5))
    g, node = one_node_graph("act", {"fn": "silu"}, [x.shape], x.shape)
    quantize_one(g, node, [[x]])
    it, ot = g.tensors[node.inputs[0]].type.dtype, g.tensors[node.outputs[0]].type.dtype
    out_t, params, attrs = quantize_act("silu", it, float(np.abs(FUNCTIONS["silu"](x)).max()), Config())
    assert out_t == ot
    raw = raw_inputs(g, node, [x])[0]
    stage = op_kind("act").run_int(node, [raw], g)[0]
    np.testing.assert_array_equal(act_int("silu", raw, it, out_t, params, attrs), stage)
