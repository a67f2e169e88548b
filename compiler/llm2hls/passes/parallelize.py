"""Choose the number of parallel lanes of every stage.

Rule (docs/report.md): a kind that declares ``parallel = True`` (matrix stages: ``linear``) gets
``lanes = the largest divisor of its output channels that is <= cap``, so every lane group is full
and the output-channel loop needs no remainder; every other stage streams one element per cycle
and keeps ``lanes = 1``.

A saved design (``compile --design``, dse/design_file.py) gives each matrix stage its own lane
count ``L`` (MACs per cycle, the performance model's lanes). :func:`design_lanes` turns it into
lanes the backends build, split like ``perf.model.linear_lanes_split``: ``outputs`` = the largest
divisor of the output channels ``<= L``; only when every output channel has a lane, the rest take
``inputs`` elements of one input beat per cycle (a power of two, so it divides the row):
``lanes = outputs x inputs`` (templates/hls/ops/linear.j2 ``KI``, templates/rtl/lib/l2h_linear.v).

An attention stage named in the design takes ``P`` keys per cycle (``lanes = P``,
:func:`llm2hls.ops.attention.keys_per_cycle` of its MACs per cycle and head dimension, at most its
key capacity, the captured sequence length): ``P`` dot products of ``head_dim`` MACs in the score
loop and ``P`` weighted values in the weights loop (templates/hls/ops/attention.j2).
"""

from __future__ import annotations

import math

from ..errors import UserError
from ..ir.graph import Graph
from ..ops import op_kind
from ..ops.attention import keys_per_cycle
from .canonicalize import clone

DEFAULT_LANES = 4


def largest_divisor_at_most(n: int, cap: int) -> int:
    """The largest ``d`` with ``d | n`` and ``1 <= d <= cap``."""
    return max(d for d in range(1, min(n, cap) + 1) if n % d == 0)


def design_lanes(lanes: int, channels: int, inputs: int, width: int) -> int:
    """Lanes of a matrix stage asked for ``lanes`` MACs per cycle, with ``channels`` output
    channels, ``inputs`` elements per input row and stream width ``width`` (module docstring)."""
    out = largest_divisor_at_most(channels, max(1, lanes))
    if out < channels:
        return out
    per = min(math.gcd(max(1, width), inputs), lanes // channels)  # at most one input beat
    return channels * (1 << (per.bit_length() - 1)) if per > 1 else channels


def parallelize(graph: Graph, cap: int = DEFAULT_LANES, overrides: dict[str, int] | None = None,
                width: int = 1) -> tuple[Graph, bool]:
    """Set ``node.lanes`` on every stage (pure: returns a new graph).

    ``overrides`` maps matrix stages to the lanes a saved design gives them (:func:`design_lanes`
    at stream width ``width``) and attention stages to their MACs per cycle (keys per cycle, see
    the module docstring); the other matrix stages get the ``cap`` rule, the other attention
    stages one key per cycle.
    """
    if cap < 1:
        raise UserError(f"--lanes must be at least 1 (got {cap})")
    overrides = overrides or {}
    g = clone(graph)
    changed = False
    for node in g.nodes.values():
        lanes = 1
        kind = op_kind(node.op)
        if getattr(kind, "parallel", False):
            channels = g.tensors[node.outputs[0]].type.shape[-1]
            if hasattr(kind, "lane_channels"):  # e.g. a fused Q/K/V stage: all its rows
                channels = kind.lane_channels(node, g)
            if node.name in overrides:
                inputs = g.tensors[node.inputs[0]].type.shape[-1]
                lanes = design_lanes(overrides[node.name], channels, inputs, width)
            else:
                lanes = largest_divisor_at_most(channels, cap)
        elif node.op == "attention" and node.name in overrides:
            keys = g.tensors[node.outputs[0]].type.shape[0]
            lanes = min(keys_per_cycle(overrides[node.name], node.attrs["head_dim"]), keys)
        changed |= node.lanes != lanes
        node.lanes = lanes
    return g, changed
