"""Choose the number of parallel lanes of every stage.

Rule (docs/report.md): a kind that declares ``parallel = True`` (matrix stages: ``linear``) gets
``lanes = the largest divisor of its output channels that is <= cap``, so every lane group is full
and the output-channel loop needs no remainder; every other stage streams one element per cycle
and keeps ``lanes = 1``.
"""

from __future__ import annotations

from ..errors import UserError
from ..ir.graph import Graph
from ..ops import op_kind
from .canonicalize import clone

DEFAULT_LANES = 4


def largest_divisor_at_most(n: int, cap: int) -> int:
    """The largest ``d`` with ``d | n`` and ``1 <= d <= cap``."""
    return max(d for d in range(1, min(n, cap) + 1) if n % d == 0)


def parallelize(graph: Graph, cap: int = DEFAULT_LANES) -> tuple[Graph, bool]:
    """Set ``node.lanes`` on every stage (pure: returns a new graph)."""
    if cap < 1:
        raise UserError(f"--lanes must be at least 1 (got {cap})")
    g = clone(graph)
    changed = False
    for node in g.nodes.values():
        lanes = 1
        kind = op_kind(node.op)
        if getattr(kind, "parallel", False):
            channels = g.tensors[node.outputs[0]].type.shape[-1]
            if hasattr(kind, "lane_channels"):  # e.g. a fused Q/K/V stage: all its rows
                channels = kind.lane_channels(node, g)
            lanes = largest_divisor_at_most(channels, cap)
        changed |= node.lanes != lanes
        node.lanes = lanes
    return g, changed
