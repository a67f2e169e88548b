"""``attention`` kind: float vs PyTorch SDPA, integer vs float, integer vs C++ (bit-exact)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from llm2hls.numerics import dequantize
from llm2hls.ops import op_kind
from llm2hls.ops.attention import streams_causally
from llm2hls.reference.interpreter import run_graph

from .nl_harness import CppCase, one_node_graph, quantize_one, raw_inputs, run_cpp

TOL_LSB = 3.0  # worst |int - float| in output LSBs (measured ~1.3)


def _attn(s, hq, hk, d, causal=True, mask=None, name="attn", scale=None):
    attrs = dict(heads=hq, kv_heads=hk, head_dim=d, scale=scale or d**-0.5, causal=causal)
    params = {"mask": mask} if mask is not None else None
    return one_node_graph("attention", attrs, [(s, hq * d), (s, hk * d), (s, hk * d)],
                          (s, hq * d), params, name)


def _inputs(rng, s, hq, hk, d, spread=1.0):
    return [rng.normal(0, spread, (s, h * d)) for h in (hq, hk, hk)]


def _torch_sdpa(node, q, k, v):
    a = node.attrs
    s, d = q.shape[0], a["head_dim"]
    heads = lambda x: torch.from_numpy(x).reshape(s, -1, d).transpose(0, 1)
    allowed = torch.ones(s, s, dtype=torch.bool)
    if a["causal"]:
        allowed = torch.tril(allowed)
    if "mask" in node.params:
        allowed &= torch.from_numpy(node.param("mask").astype(bool))
    out = F.scaled_dot_product_attention(heads(q), heads(k), heads(v), attn_mask=allowed,
                                         scale=a["scale"], enable_gqa=True)
    return out.transpose(0, 1).reshape(s, -1).numpy()


def _padding_mask(s, keep):
    m = np.zeros((s, s), dtype=bool)
    m[:, :keep] = True
    return m


CASES = [  # (seq, Hq, Hk, D, causal, mask)
    (7, 3, 3, 8, True, None),
    (13, 5, 5, 16, False, None),
    (13, 6, 2, 8, True, None),  # GQA
    (7, 6, 2, 16, False, "pad"),  # padding mask: keys >= 4 hidden
    (1, 3, 1, 8, True, None),  # one token
    (7, 2, 1, 8, False, "first"),  # every row attends to key 0 only
]


def _mask(kind, s):
    return None if kind is None else _padding_mask(s, 4 if kind == "pad" else 1)


@pytest.mark.parametrize("s,hq,hk,d,causal,mask", CASES)
def test_float_matches_torch(s, hq, hk, d, causal, mask):
    g, node = _attn(s, hq, hk, d, causal, _mask(mask, s))
    xs = _inputs(np.random.default_rng(s + hq), s, hq, hk, d)
    got = op_kind("attention").run_float(node, xs)[0]
    np.testing.assert_allclose(got, _torch_sdpa(node, *xs), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("s,hq,hk,d,causal,mask", CASES)
def test_int_accuracy(s, hq, hk, d, causal, mask):
    g, node = _attn(s, hq, hk, d, causal, _mask(mask, s))
    xs = _inputs(np.random.default_rng(10 + s), s, hq, hk, d, spread=1.5)
    quantize_one(g, node, [xs])
    raw = raw_inputs(g, node, xs)
    y = op_kind("attention").run_int(node, raw, g)[0]
    ot = g.tensors[node.outputs[0]].type.dtype
    deq = [dequantize(r, g.tensors[t].type.dtype) for r, t in zip(raw, node.inputs)]
    err = np.abs(dequantize(y, ot) - _torch_sdpa(node, *deq)).max() / ot.lsb
    assert err <= TOL_LSB, f"worst error {err:.2f} LSB"


def test_streaming_decision():
    assert streams_causally(_attn(5, 2, 2, 8, True)[1], 5)
    assert not streams_causally(_attn(5, 2, 2, 8, False)[1], 5)
    # an explicit mask that is lower-triangular also streams
    assert streams_causally(_attn(5, 2, 2, 8, False, np.tril(np.ones((5, 5), bool)))[1], 5)


@pytest.fixture(scope="module")
def attn_cpp():
    cases = []
    extra = [(13, 4, 2, 8, True, None, 6.0),  # large inputs: scores saturate the score type
             (5, 2, 2, 8, False, "none_row", 1.0)]  # a row with no allowed key gives 0
    for i, (s, hq, hk, d, causal, mask, *spread) in enumerate(CASES + extra):
        rng = np.random.default_rng(200 + i)
        if mask == "none_row":
            m = np.ones((s, s), dtype=bool)
            m[2] = False
        else:
            m = _mask(mask, s)
        g, node = _attn(s, hq, hk, d, causal, m, name=f"attn{i}")
        xs = _inputs(rng, s, hq, hk, d, spread[0] if spread else 1.0)
        calib = [x / 3 for x in xs] if spread else xs  # calibrate on smaller values: saturation
        quantize_one(g, node, [calib])
        raw = raw_inputs(g, node, xs)
        cases.append(CppCase(g, node, raw))
    return cases, run_cpp(cases)


def test_cpp_bit_exact(attn_cpp):
    cases, outs = attn_cpp
    for case, got in zip(cases, outs):
        want = run_graph(case.graph, dict(zip(case.graph.inputs, case.inputs)), mode="int")
        diff = int((want[case.graph.outputs[0]] != got).sum())
        assert diff == 0, f"{case.node.name}: {diff} elements differ"


def test_fully_masked_row_is_zero(attn_cpp):
    cases, outs = attn_cpp
    assert np.all(outs[-1][2] == 0) and np.any(outs[-1][1] != 0)
