"""Size the FIFO of every internal stream: ``tensor.meta['fifo_depth']``.

C simulation runs the stages one after another with unbounded streams, so depths only matter in
hardware (co-simulation, the board), where a FIFO that is too shallow deadlocks a DATAFLOW region
whose paths re-converge. Rule (conservative, docs/report.md):

* every kind has a *latency in tokens*: how many input rows it consumes before its first output
  (``latency_tokens``: 0 for elementwise stages, 1 for row stages such as ``linear``; a kind that
  does not declare it is assumed to buffer the whole sequence, ``S``);
* a stream is *ready* at ``d(t)`` tokens: graph inputs at 0, a stage's outputs at
  ``max(d(inputs)) + latency``;
* a stage reading streams with different readiness stalls the early ones: input ``t`` of a stage
  that starts at ``d0`` has slack ``d0 - d(t)`` tokens and needs
  ``depth = min(S, slack + 1) * row`` beats (``row`` = beats per token of ``t``, passes/beats.py),
  else the default 2.
"""

from __future__ import annotations

from ..ir.graph import Graph
from ..ops import op_kind
from .beats import row_elements
from .canonicalize import clone

DEFAULT_DEPTH = 2


def latency_tokens(graph: Graph, node) -> int:
    """Rows a stage consumes before it writes (the kind's ``latency_tokens``, else ``S``)."""
    seq = graph.tensors[node.outputs[0]].type.shape[0]
    lat = getattr(op_kind(node.op), "latency_tokens", None)
    if callable(lat):
        lat = lat(node, graph)
    return seq if lat is None else min(int(lat), seq)


def size_fifos(graph: Graph) -> tuple[Graph, bool]:
    """Set ``meta['fifo_depth']`` on every tensor (pure: returns a new graph)."""
    g = clone(graph)
    ready = {t: 0 for t in g.inputs}
    depth: dict[str, int] = {}
    for node in g.topo_nodes():
        start = max((ready[t] for t in node.inputs), default=0)
        for t in node.inputs:
            shape = g.tensors[t].type.shape
            slack = start - ready[t]
            beats = row_elements(shape) // g.tensors[t].meta.get("beat", 1)  # a FIFO holds beats
            depth[t] = DEFAULT_DEPTH if slack == 0 else max(DEFAULT_DEPTH, min(shape[0], slack + 1) * beats)
        for t in node.outputs:
            ready[t] = start + latency_tokens(g, node)
    changed = False
    for name, t in g.tensors.items():
        d = depth.get(name, DEFAULT_DEPTH)
        changed |= t.meta.get("fifo_depth") != d
        t.meta["fifo_depth"] = d
    return g, changed
