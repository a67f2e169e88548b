"""Insert fork stages so that every stream has exactly one producer and one consumer.

An HLS DATAFLOW region requires it, and so does a hardware FIFO. A tensor read by ``k > 1`` ports
(a node reading it twice counts twice; being a graph output counts once) gets a ``route`` stage
copying it to ``k`` streams. Runs after quantization: the copies keep the tensor's type.
"""

from __future__ import annotations

import dataclasses

from ..ir.graph import Graph, Node
from .canonicalize import clone


def _readers(graph: Graph, tensor: str) -> list[tuple[Node, int]]:
    return [(n, i) for n in graph.nodes.values() for i, t in enumerate(n.inputs) if t == tensor]


def insert_forks(graph: Graph) -> tuple[Graph, bool]:
    """Give every multiply-read tensor a fork ``route`` (pure: returns a new graph)."""
    g = clone(graph)
    changed = False
    for name in list(g.tensors):
        readers = _readers(g, name)
        n_out = len(readers) + (1 if name in g.outputs else 0)
        passthrough = name in g.inputs and name in g.outputs
        if n_out <= 1 and not passthrough:
            continue
        base = g.tensors[name]
        copies = []
        for i in range(n_out):
            copy = g.unique_name(f"{name}_{i}")
            g.tensors[copy] = dataclasses.replace(base, name=copy, meta=dict(base.meta))
            copies.append(copy)
        for (reader, port), copy in zip(readers, copies):
            reader.inputs[port] = copy
        if name in g.outputs:
            g.outputs[g.outputs.index(name)] = copies[-1]
        width = base.type.shape[1] if len(base.type.shape) > 1 else 1
        producer = g.producer(name)
        g.add_node(Node(
            g.unique_name(f"{name}_fork"), "route", [name], copies,
            attrs={"map": [[[0, c, 1] for c in range(width)] for _ in copies], "fork": True},
            source=producer.source if producer else "",
            layer=producer.layer if producer else None,
        ))
        changed = True
    if changed:
        g.sort()
    return g, changed
