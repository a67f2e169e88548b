"""``route``: moves channels without arithmetic — split, concat, gather, fork, negate.

Reads one token (row) from every input and writes, for every output ``o`` and channel ``j``,
``sign * inputs[src][ch]`` where ``(src, ch, sign) = attrs['map'][o][j]``. Split/chunk, cat,
slices and permutations of channels, head reshapes, ``neg`` and fan-out (fork) are all routes;
the ``merge_routes`` pass composes chains of them into one stage.

attrs: ``map``: list (per output) of lists of ``[src_input, src_channel, sign]`` with sign ±1.
A 1-D input (token ids ``[S]``) is treated as ``[S, 1]``.

Integer semantics: ``out = convert(sign * x, F_src, out_type)``; an output's type has the widest
width and the smallest fraction among its sources (a single-source output keeps its source type,
so a fork or a plain split is the identity on raw values).
"""

from __future__ import annotations

import numpy as np

from ..ir.types import FixedType
from ..numerics import convert
from .base import Cost, OpKind, param_bytes, register
from .qcommon import fixed, set_type


def route_arrays(route_map: list[list[list[int]]]) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(src, ch, sign) int arrays per output, for vectorized evaluation."""
    out = []
    for entries in route_map:
        arr = np.asarray(entries, dtype=np.int64).reshape(-1, 3)
        out.append((arr[:, 0], arr[:, 1], arr[:, 2]))
    return out


def output_sources(route_map: list[list[list[int]]]) -> list[list[int]]:
    """The sorted input indices each output reads."""
    return [sorted({int(e[0]) for e in entries}) for entries in route_map]


def merged_type(types: list[FixedType]) -> FixedType:
    """The route output type over sources ``types`` (see the module docstring)."""
    if len(set(types)) == 1:
        return types[0]
    return FixedType(max(t.width for t in types), min(t.frac for t in types), True,
                     types[0].rounding, types[0].overflow)


@register
class Route(OpKind):
    name = "route"
    hls_template = "route.j2"
    latency_tokens = 1  # buffers one row of every input

    def run_float(self, node, inputs):
        return _apply(node, [np.asarray(x, dtype=np.float64) for x in inputs])

    def quantize(self, node, graph, config):
        in_types = [fixed(graph, t) for t in node.inputs]
        for out, srcs in zip(node.outputs, output_sources(node.attrs["map"])):
            set_type(graph, out, merged_type([in_types[s] for s in srcs]))

    def run_int(self, node, inputs, graph):
        in_types = [fixed(graph, t) for t in node.inputs]
        cols = [np.asarray(x, dtype=np.int64).reshape(np.shape(x)[0], -1) for x in inputs]
        outs = []
        for name, (src, ch, sign) in zip(node.outputs, route_arrays(node.attrs["map"])):
            out_t = fixed(graph, name)
            y = np.empty((cols[0].shape[0], len(src)), dtype=np.int64)
            for s in np.unique(src):
                sel = src == s
                y[:, sel] = convert(cols[s][:, ch[sel]] * sign[sel], in_types[s].frac, out_t)
            outs.append(y.reshape(graph.tensors[name].type.shape))
        return outs

    def cost(self, node, graph):
        seq = graph.tensors[node.outputs[0]].type.shape[0]
        row_in = sum(_row(graph, t) for t in node.inputs)
        row_out = sum(_row(graph, t) for t in node.outputs)
        # a fork copies each element to every output in the same cycle (no row buffer)
        cycles = seq * row_in if _is_fork(node, graph) else seq * (row_in + row_out)
        return Cost(
            param_bytes=param_bytes(node),
            cycles=cycles,
            ii=1,
            lut=10 * len(node.outputs),
        )

    def hls_context(self, node, graph):
        outs = [{"index": o, "runs": runs(entries)} for o, entries in enumerate(node.attrs["map"])]
        return {
            "rows": [_row(graph, t) for t in node.inputs],
            "out_rows": [_row(graph, t) for t in node.outputs],
            "maps": outs,
            "is_fork": _is_fork(node, graph),
        }


def runs(entries: list[list[int]]) -> list[dict[str, int]]:
    """Compress one output's map into runs of consecutive channels of one source and sign.

    Each run ``{src, start, len, sign, dst}`` copies ``len`` channels ``start..`` of input ``src``
    to channels ``dst..`` of the output (the template emits one loop per run).
    """
    out: list[dict[str, int]] = []
    for dst, (src, ch, sign) in enumerate(entries):
        last = out[-1] if out else None
        if last and last["src"] == src and last["sign"] == sign and last["start"] + last["len"] == ch:
            last["len"] += 1
        else:
            out.append({"src": int(src), "start": int(ch), "len": 1, "sign": int(sign), "dst": dst})
    return out


def _row(graph, tensor: str) -> int:
    shape = graph.tensors[tensor].type.shape
    return shape[1] if len(shape) > 1 else 1


def _is_fork(node, graph) -> bool:
    """Every output is an unchanged copy of the single input."""
    if len(node.inputs) != 1:
        return False
    row = _row(graph, node.inputs[0])
    ident = [[0, c, 1] for c in range(row)]
    return all([list(e) for e in m] == ident for m in node.attrs["map"])


def _apply(node, inputs: list[np.ndarray]) -> list[np.ndarray]:
    cols = [x.reshape(x.shape[0], -1) for x in inputs]
    outs = []
    for src, ch, sign in route_arrays(node.attrs["map"]):
        y = np.stack([cols[s][:, c] for s, c in zip(src, ch)], axis=-1) * sign
        outs.append(y[:, 0] if inputs[0].ndim == 1 and len(src) == 1 else y)
    return outs
