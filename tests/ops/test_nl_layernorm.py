"""``layernorm`` kind: float vs PyTorch, integer vs float, integer vs C++ (bit-exact), bounds."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from llm2hls.errors import UserError
from llm2hls.ir.types import FixedType
from llm2hls.numerics import dequantize
from llm2hls.ops import op_kind
from llm2hls.ops.layernorm import bit_length, layernorm_plan
from llm2hls.reference.interpreter import run_graph

from .nl_harness import CppCase, one_node_graph, quantize_one, raw_inputs, run_cpp

TOL_LSB = 1.0  # worst |int - float| in output LSBs (measured ~0.52)


def _norm_graph(kind, c, rows, gamma=True, beta=True, seed=0, name="ln", eps=1e-5):
    rng = np.random.default_rng(seed)
    params = {}
    if gamma:
        params["weight"] = 1.0 + 0.3 * rng.normal(size=c)
    if beta:
        params["bias"] = 0.2 * rng.normal(size=c)
    return one_node_graph("layernorm", {"kind": kind, "eps": eps}, [(rows, c)], (rows, c), params, name)


def _torch_norm(node, x):
    kind, eps = node.attrs["kind"], node.attrs["eps"]
    w = torch.from_numpy(node.param("weight")) if "weight" in node.params else None
    b = torch.from_numpy(node.param("bias")) if "bias" in node.params else None
    xt = torch.from_numpy(x)
    if kind == "layer":
        return F.layer_norm(xt, (x.shape[-1],), w, b, eps).numpy()
    y = F.rms_norm(xt, (x.shape[-1],), w, eps)
    return (y + b if b is not None else y).numpy()


def _rows(rng, rows, c):
    """Random rows plus hard ones: constant (variance 0), one outlier, alternating extremes."""
    x = rng.normal(0.5, 2.0, (rows, c))
    x[0] = 1.25
    x[1] = -3.0
    x[1, c // 2] = 7.5
    x[2] = np.where(np.arange(c) % 2, 7.9, -8.0)
    return x


@pytest.mark.parametrize("kind", ["layer", "rms"])
@pytest.mark.parametrize("affine", [True, False])
def test_float_matches_torch(kind, affine):
    g, node = _norm_graph(kind, 37, 5, gamma=affine, beta=affine)
    x = np.random.default_rng(2).normal(1, 3, (5, 37))
    got = op_kind("layernorm").run_float(node, [x])[0]
    np.testing.assert_allclose(got, _torch_norm(node, x), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("kind", ["layer", "rms"])
@pytest.mark.parametrize("c", [7, 48, 2048])
def test_int_accuracy(kind, c):
    rng = np.random.default_rng(c)
    g, node = _norm_graph(kind, c, 6, seed=c)
    x = _rows(rng, 6, c)
    quantize_one(g, node, [[x]])
    raw = raw_inputs(g, node, [x])
    y = op_kind("layernorm").run_int(node, raw, g)[0]
    it, ot = g.tensors[node.inputs[0]].type.dtype, g.tensors[node.outputs[0]].type.dtype
    want = _torch_norm(node, dequantize(raw[0], it))
    want = np.clip(want, ot.raw_min * ot.lsb, ot.max_value)
    err = np.abs(dequantize(y, ot) - want).max() / ot.lsb
    assert err <= TOL_LSB, f"worst error {err:.3f} LSB"


def test_plan_bounds_and_errors():
    plan = layernorm_plan("layer", FixedType(16, 8), 2048, 1e-5)
    assert plan["guard"] == 8  # sum(d^2) <= 2048 * 2^48 < 2^60
    with pytest.raises(UserError, match="overflow"):
        layernorm_plan("layer", FixedType(16, 8), 1 << 28, 1e-5)
    v = np.array([0, 1, 2, 3, 255, 256, (1 << 62) - 1, 1 << 61], dtype=np.int64)
    assert bit_length(v).tolist() == [int(a).bit_length() for a in v]


@pytest.fixture(scope="module")
def ln_cpp():
    cases = []
    for i, (kind, c, gamma, beta) in enumerate([
        ("layer", 7, True, True), ("layer", 16, False, False), ("layer", 48, True, True),
        ("layer", 2048, True, True), ("rms", 8, True, False), ("rms", 13, False, False),
        ("rms", 48, True, True),
    ]):
        rng = np.random.default_rng(100 + i)
        rows = 3 if c == 2048 else 5
        g, node = _norm_graph(kind, c, rows, gamma, beta, seed=i, name=f"ln{i}")
        x = _rows(rng, rows, c)
        quantize_one(g, node, [[x]])
        raw = raw_inputs(g, node, [x])
        it = g.tensors[node.inputs[0]].type.dtype
        raw[0][-1, : min(c, 4)] = [it.raw_min, it.raw_max, 0, -1][: min(c, 4)]  # saturated inputs
        cases.append(CppCase(g, node, raw))
    return cases, run_cpp(cases)


def test_cpp_bit_exact(ln_cpp):
    cases, outs = ln_cpp
    for case, got in zip(cases, outs):
        want = run_graph(case.graph, dict(zip(case.graph.inputs, case.inputs)), mode="int")
        diff = int((want[case.graph.outputs[0]] != got).sum())
        assert diff == 0, f"{case.node.name}: {diff} elements differ"
