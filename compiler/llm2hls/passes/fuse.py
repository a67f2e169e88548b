"""Fusion passes: fold a stage into its producer when the result is one cheaper stage.

Both are ``Graph -> (Graph, changed)``, never mutate their input, and are numerically transparent:
the fused ``linear`` computes, bit for bit, what the unfused chain computes (docs/numerics.md).

* :func:`fuse_activation` — ``linear -> act`` (the act being the linear output's only reader)
  becomes one ``linear`` with ``attrs['act']``;
* :func:`fuse_residual` — ``linear (-> act) -> eltwise add`` whose other operand is a stream
  becomes one ``linear`` with ``attrs['residual']`` and that stream as its second input.
"""

from __future__ import annotations

from ..ir.graph import Graph, Node
from .canonicalize import clone


def _sole_reader(graph: Graph, tensor: str) -> Node | None:
    """The node reading ``tensor``, if exactly one node reads it once and it is not an output."""
    if tensor in graph.outputs:
        return None
    readers = [n for n in graph.nodes.values() for t in n.inputs if t == tensor]
    return readers[0] if len(readers) == 1 else None


def _absorb(graph: Graph, node: Node, absorbed: Node) -> None:
    """``node`` takes over ``absorbed``'s outputs; the stream between them disappears."""
    (mid,) = node.outputs
    node.outputs = list(absorbed.outputs)
    del graph.nodes[absorbed.name]
    del graph.tensors[mid]


def fuse_activation(graph: Graph) -> tuple[Graph, bool]:
    """Fuse every ``act`` into the ``linear`` that alone feeds it."""
    g = clone(graph)
    changed = False
    for node in list(g.nodes.values()):
        if node.op != "linear" or node.attrs.get("act") or node.attrs.get("residual"):
            continue
        reader = _sole_reader(g, node.outputs[0])
        if reader is None or reader.op != "act":
            continue
        node.attrs["act"] = reader.attrs["fn"]
        _absorb(g, node, reader)
        changed = True
    return g, changed


def fuse_residual(graph: Graph) -> tuple[Graph, bool]:
    """Fuse ``eltwise add`` of a ``linear`` output and another stream into the linear."""
    g = clone(graph)
    changed = False
    for node in list(g.nodes.values()):
        if node.op != "linear" or node.attrs.get("residual") or node.name not in g.nodes:
            continue
        reader = _sole_reader(g, node.outputs[0])
        if (reader is None or reader.op != "eltwise" or reader.attrs.get("fn") != "add"
                or len(reader.inputs) != 2 or reader.inputs[0] == reader.inputs[1]):
            continue
        other = reader.inputs[1] if reader.inputs[0] == node.outputs[0] else reader.inputs[0]
        node.inputs = [node.inputs[0], other]
        node.attrs["residual"] = True
        _absorb(g, node, reader)
        changed = True
    if changed:
        g.sort()  # the residual's producer may come after the linear in insertion order
    return g, changed


def fuse(graph: Graph) -> Graph:
    """Apply both fusions (activation first, so ``linear -> act -> add`` fuses completely)."""
    graph, _ = fuse_activation(graph)
    graph, _ = fuse_residual(graph)
    return graph
