"""Each canonicalization pass on a hand-built graph: the structure changes as intended, the
float meaning (reference interpreter) does not, and the input graph is left untouched."""

from __future__ import annotations

import numpy as np

from llm2hls.ir.graph import Graph, Node, Param
from llm2hls.ir.types import TensorType
from llm2hls.passes.canonicalize import (
    canonicalize,
    eliminate_dead_nodes,
    fold_constants,
    merge_routes,
    remove_identity_routes,
)
from llm2hls.reference import run_graph

S = 3


def _graph(*specs: tuple[str, str, list[str], list[tuple[str, int]], dict, dict]) -> Graph:
    """Graph with input ``x [S, 4]``; specs = (node, op, inputs, [(out, channels)], attrs, params)."""
    g = Graph("t")
    g.add_tensor("x", TensorType((S, 4)))
    g.inputs = ["x"]
    for name, op, ins, outs, attrs, params in specs:
        for t, c in outs:
            g.add_tensor(t, TensorType((S, c)))
        g.add_node(Node(name, op, ins, [t for t, _ in outs], attrs, {k: Param(np.asarray(v, np.float32)) for k, v in params.items()}))
    return g


def _same_meaning(a: Graph, b: Graph) -> None:
    x = {"x": np.random.default_rng(0).standard_normal((S, 4))}
    ra, rb = run_graph(a, x), run_graph(b, x)
    assert ra.keys() == rb.keys()
    for k in ra:
        np.testing.assert_allclose(ra[k], rb[k], rtol=1e-6, atol=1e-6)


def _ident(c: int) -> list[list[list[int]]]:
    return [[[0, j, 1] for j in range(c)]]


def test_dead_nodes_are_removed_transitively():
    g = _graph(
        ("live", "eltwise", ["x"], [("y", 4)], {"fn": "mul"}, {"const": 2.0}),
        ("dead1", "eltwise", ["x"], [("d1", 4)], {"fn": "add"}, {"const": 1.0}),
        ("dead2", "act", ["d1"], [("d2", 4)], {"fn": "tanh"}, {}),
    )
    g.outputs = ["y"]
    out, changed = eliminate_dead_nodes(g)
    assert changed and list(out.nodes) == ["live"] and "d1" not in out.tensors
    assert list(g.nodes) == ["live", "dead1", "dead2"]  # input untouched
    assert eliminate_dead_nodes(out)[1] is False
    _same_meaning(g, out)


def test_identity_routes_are_bypassed_but_not_at_outputs():
    g = _graph(
        ("r1", "route", ["x"], [("a", 4)], {"map": _ident(4)}, {}),
        ("t", "act", ["a"], [("b", 4)], {"fn": "tanh"}, {}),
        ("r2", "route", ["b"], [("y", 4)], {"map": _ident(4)}, {}),
        ("perm", "route", ["b"], [("z", 4)], {"map": [[[0, 1, 1], [0, 0, 1], [0, 2, 1], [0, 3, 1]]]}, {}),
    )
    g.outputs = ["y", "z"]
    out, changed = remove_identity_routes(g)
    assert changed and "r1" not in out.nodes and out.nodes["t"].inputs == ["x"]
    assert "r2" in out.nodes and "perm" in out.nodes  # names an output / really permutes
    _same_meaning(g, out)


def test_consecutive_routes_compose():
    # split x into halves, then swap + negate one half and concatenate with the other
    split = [[[0, 0, 1], [0, 1, 1]], [[0, 2, 1], [0, 3, 1]]]
    g = _graph(
        ("split", "route", ["x"], [("lo", 2), ("hi", 2)], {"map": split}, {}),
        ("e", "eltwise", ["lo"], [("lo2", 2)], {"fn": "mul"}, {"const": 3.0}),
        ("cat", "route", ["hi", "lo2", "lo"], [("y", 6)],
         {"map": [[[0, 1, -1], [0, 0, 1], [1, 0, 1], [1, 1, 1], [2, 1, -1], [2, 0, 1]]]}, {}),
    )
    g.outputs = ["y"]
    out, changed = merge_routes(g)
    assert changed
    cat = out.nodes["cat"]
    assert cat.inputs == ["x", "lo2"]
    assert cat.attrs["map"] == [[[0, 3, -1], [0, 2, 1], [1, 0, 1], [1, 1, 1], [0, 1, -1], [0, 0, 1]]]
    assert "split" in out.nodes  # still feeds the eltwise
    _same_meaning(g, out)


def test_constant_chains_fold_and_neutral_ops_vanish():
    g = _graph(
        ("a1", "eltwise", ["x"], [("t1", 4)], {"fn": "add"}, {"const": [1.0, 2.0, 3.0, 4.0]}),
        ("a2", "eltwise", ["t1"], [("t2", 4)], {"fn": "sub"}, {"const": 0.5}),
        ("m1", "eltwise", ["t2"], [("t3", 4)], {"fn": "mul"}, {"const": 1.0}),
        ("m2", "eltwise", ["t3"], [("y", 4)], {"fn": "mul"}, {"const": 2.0}),
    )
    g.outputs = ["y"]
    out = canonicalize(g)
    assert [n.op for n in out.nodes.values()] == ["eltwise", "eltwise"]
    add, mul = out.nodes.values()
    assert add.attrs["fn"] == "add" and np.allclose(add.param("const"), [0.5, 1.5, 2.5, 3.5])
    assert mul.inputs == add.outputs and mul.attrs["fn"] == "mul"
    _same_meaning(g, out)
    assert fold_constants(out)[1] is False
