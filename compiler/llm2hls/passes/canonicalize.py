"""Canonicalization: small pure passes applied to a fixpoint right after import.

Each pass is ``Graph -> (Graph, changed)`` and never mutates its input (nodes are copied; param
arrays are shared, they are never written in place):

* :func:`eliminate_dead_nodes` — drop stages whose outputs nobody reads;
* :func:`remove_identity_routes` — drop routes that pass one stream through unchanged;
* :func:`merge_routes` — compose a route reading another route's output into one route;
* :func:`fold_constants` — fold the constant operands left in the graph: chains of ``eltwise``
  with constants (``(x + a) + b -> x + (a + b)``, ``(x * a) * b -> x * (a * b)``) and identities
  (``x + 0``, ``x * 1``). Whole constant subgraphs never reach the IR: the frontend evaluates them
  while lowering, so every stage has at least one stream input;
* :func:`fold_norm_gain` — ``gain * norm(x)`` with a constant per-channel gain -> one norm stage.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import numpy as np

from ..ir.graph import Graph, Node, Param

Pass = Callable[[Graph], "tuple[Graph, bool]"]


def clone(graph: Graph) -> Graph:
    """A copy whose nodes, tensors and lists may be changed freely (param arrays are shared)."""
    g = Graph(graph.name)
    g.tensors = {k: dataclasses.replace(t, meta=dict(t.meta)) for k, t in graph.tensors.items()}
    g.nodes = {
        k: dataclasses.replace(
            n, inputs=list(n.inputs), outputs=list(n.outputs), attrs=dict(n.attrs), params=dict(n.params)
        )
        for k, n in graph.nodes.items()
    }
    g.inputs, g.outputs, g.meta = list(graph.inputs), list(graph.outputs), dict(graph.meta)
    return g


def _consumers(graph: Graph) -> dict[str, list[Node]]:
    users: dict[str, list[Node]] = {t: [] for t in graph.tensors}
    for n in graph.nodes.values():
        for t in n.inputs:
            users[t].append(n)
    return users


def _replace_uses(graph: Graph, old: str, new: str) -> None:
    for n in graph.nodes.values():
        n.inputs = [new if t == old else t for t in n.inputs]


def _drop_node(graph: Graph, node: Node) -> None:
    del graph.nodes[node.name]
    for t in node.outputs:
        graph.tensors.pop(t, None)


# ---- passes ---------------------------------------------------------------------------------
def eliminate_dead_nodes(graph: Graph) -> tuple[Graph, bool]:
    """Remove stages none of whose outputs is read by a stage or is a graph output."""
    g = clone(graph)
    changed = False
    while True:
        users = _consumers(g)
        dead = [
            n for n in g.nodes.values()
            if not any(users.get(t) or t in g.outputs for t in n.outputs)
        ]
        if not dead:
            return g, changed
        for n in dead:
            _drop_node(g, n)
        changed = True


def is_identity_route(node: Node, graph: Graph) -> bool:
    """A route with one input and one output that copies every channel in order, unnegated."""
    if node.op != "route" or len(node.inputs) != 1 or len(node.outputs) != 1:
        return False
    shape = graph.tensors[node.inputs[0]].type.shape
    channels = shape[1] if len(shape) == 2 else 1
    entries = node.attrs["map"][0]
    return len(entries) == channels and all(
        list(e) == [0, c, 1] for c, e in enumerate(entries)
    )


def remove_identity_routes(graph: Graph) -> tuple[Graph, bool]:
    """Bypass identity routes (kept when their output is a graph output, which names it)."""
    g = clone(graph)
    changed = False
    for n in list(g.nodes.values()):
        if is_identity_route(n, g) and n.outputs[0] not in g.outputs:
            _replace_uses(g, n.outputs[0], n.inputs[0])
            _drop_node(g, n)
            changed = True
    return g, changed


def compose_routes(outer: Node, inner: Node) -> tuple[list[str], list[list[list[int]]]]:
    """Inputs and map of ``outer`` with every read of an ``inner`` output replaced by its source."""
    inputs: list[str] = []

    def slot(tensor: str) -> int:
        if tensor not in inputs:
            inputs.append(tensor)
        return inputs.index(tensor)

    new_map = []
    for entries in outer.attrs["map"]:
        out_entries = []
        for src, ch, sign in entries:
            tensor = outer.inputs[src]
            if tensor in inner.outputs:
                isrc, ich, isign = inner.attrs["map"][inner.outputs.index(tensor)][ch]
                out_entries.append([slot(inner.inputs[isrc]), int(ich), int(sign) * int(isign)])
            else:
                out_entries.append([slot(tensor), int(ch), int(sign)])
        new_map.append(out_entries)
    return inputs, new_map


def merge_routes(graph: Graph) -> tuple[Graph, bool]:
    """Fold a route that feeds another route into it (the first dies if nothing else reads it)."""
    g = clone(graph)
    changed = False
    producers = {t: n for n in g.nodes.values() for t in n.outputs}
    for n in g.topo_nodes():
        if n.op != "route":
            continue
        for t in list(dict.fromkeys(n.inputs)):
            inner = producers.get(t)
            if inner is not None and inner.op == "route" and t in n.inputs:
                n.inputs, n.attrs["map"] = compose_routes(n, inner)
                changed = True
    if changed:
        g, _ = eliminate_dead_nodes(g)
    return g, changed


_NEUTRAL = {"add": 0.0, "sub": 0.0, "mul": 1.0}


def _is_const_eltwise(n: Node) -> bool:
    return n.op == "eltwise" and len(n.inputs) == 1 and "const" in n.params and n.attrs.get("fn") in _NEUTRAL


def _as_add(n: Node) -> tuple[str, np.ndarray]:
    """``x - c`` is ``x + (-c)``; returns the (fn, const) pair in add/mul form."""
    c = n.param("const").astype(np.float64)
    return ("add", -c) if n.attrs["fn"] == "sub" else (n.attrs["fn"], c)


def fold_constants(graph: Graph) -> tuple[Graph, bool]:
    """Merge chained constant ``eltwise`` stages of one kind and drop neutral ones."""
    g = clone(graph)
    changed = False
    users = _consumers(g)
    for n in g.topo_nodes():
        if n.name not in g.nodes or not _is_const_eltwise(n):
            continue
        fn, c = _as_add(n)
        out = n.outputs[0]
        if np.all(c == _NEUTRAL[fn]) and out not in g.outputs:
            _replace_uses(g, out, n.inputs[0])
            _drop_node(g, n)
            users = _consumers(g)
            changed = True
            continue
        nxt = users.get(out, [])
        if len(nxt) == 1 and out not in g.outputs and _is_const_eltwise(nxt[0]):
            fn2, c2 = _as_add(nxt[0])
            if fn2 == fn:
                merged = c + c2 if fn == "add" else c * c2
                nxt[0].inputs = [n.inputs[0]]
                nxt[0].attrs["fn"] = fn
                nxt[0].params["const"] = Param(merged.astype(np.float32), nxt[0].params["const"].placement)
                _drop_node(g, n)
                users = _consumers(g)
                changed = True
    return g, changed


def fold_norm_gain(graph: Graph) -> tuple[Graph, bool]:
    """``layernorm`` followed only by ``eltwise mul`` with a per-channel constant (the RMSNorm
    gain ``weight * norm(x)``) becomes one ``layernorm`` whose weight (and bias) absorb it."""
    g = clone(graph)
    changed = False
    users = _consumers(g)
    for n in list(g.nodes.values()):
        if n.op != "layernorm" or n.outputs[0] in g.outputs:
            continue
        nxt = users.get(n.outputs[0], [])
        if len(nxt) != 1 or not _is_const_eltwise(nxt[0]) or nxt[0].attrs["fn"] != "mul":
            continue
        gain = nxt[0].param("const").astype(np.float64)
        if gain.ndim > 1:
            continue
        channels = g.tensors[n.outputs[0]].type.shape[-1]
        weight = n.param("weight").astype(np.float64) if "weight" in n.params else np.ones(channels)
        n.params["weight"] = Param((weight * gain).astype(np.float32))
        if "bias" in n.params:
            n.params["bias"] = Param((n.param("bias").astype(np.float64) * gain).astype(np.float32))
        mul = nxt[0]
        out = mul.outputs[0]
        del g.nodes[mul.name]  # its output tensor lives on as the norm's output
        g.tensors.pop(n.outputs[0])
        n.outputs = [out]
        users = _consumers(g)
        changed = True
    return g, changed


PASSES: tuple[Pass, ...] = (
    eliminate_dead_nodes, remove_identity_routes, merge_routes, fold_constants, fold_norm_gain,
)


def canonicalize(graph: Graph, passes: tuple[Pass, ...] = PASSES, max_rounds: int = 50) -> Graph:
    """Apply ``passes`` in turn until none changes the graph."""
    for _ in range(max_rounds):
        any_change = False
        for p in passes:
            graph, changed = p(graph)
            any_change |= changed
        if not any_change:
            graph.sort()
            return graph
    raise RuntimeError(f"canonicalize did not converge in {max_rounds} rounds")
