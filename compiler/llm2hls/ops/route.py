"""``route``: moves channels without arithmetic — split, concat, gather, fork, negate.

Reads one token (row) from every input and writes, for every output ``o`` and channel ``j``,
``sign * inputs[src][ch]`` where ``(src, ch, sign) = attrs['map'][o][j]``. Split/chunk, cat,
slices and permutations of channels, head reshapes, ``neg`` and fan-out (fork) are all routes;
the ``merge_routes`` pass composes chains of them into one stage.

attrs: ``map``: list (per output) of lists of ``[src_input, src_channel, sign]`` with sign ±1.
"""

from __future__ import annotations

import numpy as np

from .base import OpKind, register


def route_arrays(route_map: list[list[list[int]]]) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(src, ch, sign) int arrays per output, for vectorized evaluation."""
    out = []
    for entries in route_map:
        arr = np.asarray(entries, dtype=np.int64).reshape(-1, 3)
        out.append((arr[:, 0], arr[:, 1], arr[:, 2]))
    return out


@register
class Route(OpKind):
    name = "route"
    hls_template = "route.j2"

    def run_float(self, node, inputs):
        return _apply(node, [np.asarray(x, dtype=np.float64) for x in inputs])


def _apply(node, inputs: list[np.ndarray]) -> list[np.ndarray]:
    outs = []
    for src, ch, sign in route_arrays(node.attrs["map"]):
        cols = np.stack([inputs[s][:, c] for s, c in zip(src, ch)], axis=-1) if len(src) else None
        outs.append(cols * sign)
    return outs
