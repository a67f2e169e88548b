"""Quantization: types from calibration, integer semantics vs float, exact properties."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hand_graphs import calib_inputs, hand_graph, id_inputs

from llm2hls.errors import UserError
from llm2hls.ir import FixedType
from llm2hls.ops.linear import quantize_weight
from llm2hls.ops.eltwise import binary_int
from llm2hls.passes.quantize import QuantConfig, activation_type, calibrate, quantize_graph
from llm2hls.reference import dequantize_outputs, quantize_inputs, run_graph


def quantized(g, cfg=None):
    cfg = cfg or QuantConfig()
    calibrate(g, calib_inputs() + [id_inputs(7)], cfg)  # the accuracy test's input is in range
    return quantize_graph(g, cfg), cfg


def test_activation_type_rule():
    assert activation_type(3.2, 16) == FixedType(16, 13)  # ceil(log2 3.2) = 2 integer bits
    assert activation_type(0.4, 16).frac == 16   # values below 1/2 gain a fraction bit
    assert activation_type(0.0, 16).frac == 15
    t = activation_type(9.99, 16)
    assert t.max_value >= 9.99 > t.max_value / 2


def test_scheme_parsing():
    assert QuantConfig.from_scheme("w8a16").weight_bits == 8
    assert QuantConfig.from_scheme("w8a16", weight_bits=4).scheme == "w4a16"
    assert QuantConfig.from_scheme("float").is_float
    with pytest.raises(UserError):
        QuantConfig.from_scheme("int3")


def test_weight_quantization_per_channel():
    w = np.random.default_rng(0).normal(0, 1, (6, 10)) * np.arange(1, 7)[:, None]
    q, s = quantize_weight(w, 8)
    assert np.abs(q).max(axis=1).tolist() == [127] * 6  # every row uses its full range
    assert np.abs(q * s[:, None] - w).max() <= s.max() / 2 + 1e-12  # half an LSB of its own row


def test_every_tensor_typed_and_covering_calibration():
    g, cfg = quantized(hand_graph())
    for name, t in g.tensors.items():
        assert t.type.dtype.is_fixed, name
        if "max_abs" in t.meta and name != "ids":
            assert t.type.dtype.max_value * 2 > t.meta["max_abs"]  # no wasted integer bit
    lin = g.nodes["fc1"]
    assert lin.attrs["param_bits"]["q_weight"] == 8
    assert set(lin.attrs["param_types"]) == {"q_weight", "q_scale", "q_bias"}


@pytest.mark.parametrize("wb, tol", [(8, 0.03), (4, 0.25)])
def test_integer_pipeline_close_to_float(wb, tol):
    g = hand_graph()
    ref = run_graph(g, id_inputs(7))["out"]
    g, _ = quantized(g, QuantConfig.from_scheme("w8a16", weight_bits=wb))
    out = dequantize_outputs(g, run_graph(g, quantize_inputs(g, id_inputs(7)), mode="int"))["out"]
    rel = np.abs(out - ref).max() / np.abs(ref).max()
    assert rel < tol
    assert rel > 0  # really quantized


def test_linear_int_matches_exact_rational_formula():
    g, _ = quantized(hand_graph(residual=False))
    env = run_graph(g, quantize_inputs(g, id_inputs(3)), mode="int", keep_all=True)
    n = g.nodes["fc1"]
    x_t = g.tensors["e"].type.dtype
    y_t = g.tensors["h"].type.dtype
    fm = n.attrs["param_types"]["q_scale"]["frac"]
    # exact rational value of the affine result, then round half up, saturate: independent of numerics.convert
    exact = (env["e"].astype(object) @ n.param("q_weight").T.astype(object)) * n.param("q_scale").astype(object) \
        + n.param("q_bias").astype(object)
    shift = x_t.frac + fm - y_t.frac
    expect = np.vectorize(lambda v: min(max(math.floor((v + (1 << (shift - 1))) / (1 << shift)), y_t.raw_min),
                                        y_t.raw_max))(exact)
    assert np.array_equal(env["h"], expect.astype(np.int64))


def test_eltwise_int_properties():
    a_t, b_t, o_t = FixedType(16, 12), FixedType(16, 9), FixedType(16, 11)
    a = np.array([100, -4096, 32767, -32768])
    b = np.array([3, 7, 32767, -32768])
    add = binary_int("add", a, a_t, b, b_t, o_t)
    real = a / 2**12 + b / 2**9
    assert np.all(np.abs(add / 2**11 - np.clip(real, o_t.raw_min / 2**11, o_t.max_value)) <= 2**-12)
    assert add.max() <= o_t.raw_max and add.min() >= o_t.raw_min  # saturates
    mul = binary_int("mul", a, a_t, b, b_t, o_t)
    assert mul[0] == math.floor(100 * 3 / 2**10 + 0.5)  # product frac 21 -> 11: round half up


def test_route_negation_saturates_and_fork_is_identity():
    g, _ = quantized(hand_graph())
    env = run_graph(g, quantize_inputs(g, id_inputs(3)), mode="int", keep_all=True)
    r, rr = env["r"], env["rr"]
    t = g.tensors["rr"].type.dtype
    assert g.tensors["r"].type.dtype == t  # single source: same type
    assert np.array_equal(rr[:, 6:], r[:, :6])
    assert np.array_equal(rr[:, :6], np.minimum(-r[:, 6:], t.raw_max))


def test_float_scheme_leaves_graph_float():
    g, _ = quantized(hand_graph(), QuantConfig.from_scheme("float"))
    assert not g.tensors["h"].type.dtype.is_fixed
