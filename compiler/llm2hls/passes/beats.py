"""Choose the beat of every stream: how many elements it carries per transfer.

``--stream-width W`` (a power of two) is the design's stream width. A stream whose rows have
``C`` elements carries ``gcd(W, C)`` of them per beat (``tensor.meta['beat']``), so every row is a
whole number of beats and no beat straddles two rows; ``W = 1`` is the element-per-cycle design.
The performance model's ``width`` (perf/model.py) is this W; both backends read ``meta['beat']``.
"""

from __future__ import annotations

import math

from ..errors import UserError
from ..ir.graph import Graph
from .canonicalize import clone

DEFAULT_WIDTH = 1


def row_elements(shape: tuple[int, ...] | list[int]) -> int:
    """Elements of one row (one token) of a ``[S, ...]`` stream."""
    return math.prod(shape[1:]) if len(shape) > 1 else 1


def beat_of(width: int, shape: tuple[int, ...] | list[int]) -> int:
    """Elements per beat of a stream of ``shape`` in a design of stream width ``width``."""
    return math.gcd(width, row_elements(shape))


def assign_beats(graph: Graph, width: int = DEFAULT_WIDTH) -> tuple[Graph, bool]:
    """Set ``meta['beat']`` on every stream and ``graph.meta['stream_width']`` (pure)."""
    if width < 1 or width & (width - 1):
        raise UserError(f"--stream-width must be a power of two >= 1 (got {width})")
    g = clone(graph)
    changed = g.meta.get("stream_width") != width
    g.meta["stream_width"] = width
    for t in g.tensors.values():
        beat = beat_of(width, t.type.shape)
        changed |= t.meta.get("beat") != beat
        t.meta["beat"] = beat
    return g, changed
