"""Float mode (unquantized graph) of the nonlinear templates: C++ float32 vs the float64 reference."""

from __future__ import annotations

import numpy as np

from llm2hls.ops import op_kind
from llm2hls.ops.activation import ACT_TAILS

from .nl_harness import CppCase, one_node_graph, run_cpp


def _cases():
    rng = np.random.default_rng(5)
    cases = []
    for i, fn in enumerate(sorted(ACT_TAILS)):
        x = rng.normal(0, 2, (3, 5))
        g, node = one_node_graph("act", {"fn": fn}, [x.shape], x.shape, name=f"fa{i}")
        cases.append(CppCase(g, node, [x]))
    for i, kind in enumerate(("layer", "rms")):
        x = rng.normal(0.3, 2, (4, 24))
        params = {"weight": 1 + 0.2 * rng.normal(size=24), "bias": 0.1 * rng.normal(size=24)}
        g, node = one_node_graph("layernorm", {"kind": kind, "eps": 1e-5}, [x.shape], x.shape,
                                 params, name=f"fl{i}")
        cases.append(CppCase(g, node, [x]))
    for i, (s, hq, hk, d, causal, mask) in enumerate([(7, 6, 2, 8, True, False), (5, 3, 3, 8, False, True)]):
        attrs = dict(heads=hq, kv_heads=hk, head_dim=d, scale=d**-0.5, causal=causal)
        params = {"mask": np.arange(s)[None, :] < 3 + np.zeros((s, 1), int)} if mask else None
        g, node = one_node_graph("attention", attrs, [(s, hq * d), (s, hk * d), (s, hk * d)],
                                 (s, hq * d), params, name=f"ft{i}")
        cases.append(CppCase(g, node, [rng.normal(0, 1, (s, h * d)) for h in (hq, hk, hk)]))
    return cases


def test_float_templates_match_reference():
    cases = _cases()
    for case, got in zip(cases, run_cpp(cases)):
        want = op_kind(case.node.op).run_float(case.node, case.inputs)[0]
        np.testing.assert_allclose(got, want, rtol=2e-4, atol=2e-4, err_msg=case.node.name)
