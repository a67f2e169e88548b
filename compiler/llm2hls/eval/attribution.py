"""Error attribution: where the integer pipeline loses accuracy, stage by stage.

For one input, every output tensor of a quantized graph gets two signal-to-quantization-noise
ratios against the float reference of the same graph (same smoothed weights):

* ``accumulated``: the integer pipeline run end to end (the error that reaches this tensor);
* ``local``: the stage alone, fed its float inputs rounded onto their types (its own error:
  weight rounding, table nonlinearity, requantization; what it adds to what it receives).

A stage whose local SQNR is high while the accumulated one drops is passing on (or amplifying)
error from upstream; a stage whose local SQNR is low is a cause.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from ..ir.graph import Graph
from ..numerics import dequantize, quantize
from ..ops import op_kind
from ..reference import quantize_inputs, run_graph


@dataclass
class StageError:
    """SQNRs (dB) of one stage output; ``type`` is ``W.F``, ``max_abs`` its float peak."""

    node: str
    op: str
    tensor: str
    type: str
    accumulated_db: float
    local_db: float
    max_abs: float

    def to_json(self) -> dict:
        return asdict(self)


def sqnr_db(ref: np.ndarray, x: np.ndarray) -> float:
    """``10 log10(sum ref^2 / sum (ref - x)^2)``; inf when equal."""
    ref = np.asarray(ref, dtype=np.float64)
    noise = float(np.sum((ref - np.asarray(x, dtype=np.float64)) ** 2))
    signal = float(np.sum(ref**2))
    if noise == 0.0:
        return math.inf
    return 10.0 * math.log10(max(signal, 1e-300) / noise)


def attribute_errors(graph: Graph, inputs: dict[str, np.ndarray]) -> list[StageError]:
    """Per-stage accumulated and local SQNR of the quantized ``graph`` on ``inputs`` (float values)."""
    ref = run_graph(graph, inputs, mode="float", keep_all=True)
    env = run_graph(graph, quantize_inputs(graph, inputs), mode="int", keep_all=True)
    rows = []
    for node in graph.topo_nodes():
        local_in = [env[t] if t in graph.inputs else quantize(ref[t], graph.tensors[t].type.dtype)
                    for t in node.inputs]
        local = op_kind(node.op).run_int(node, local_in, graph)
        for t, lv in zip(node.outputs, local):
            ty = graph.tensors[t].type.dtype
            rows.append(StageError(node.name, node.op, t, f"{ty.width}.{ty.frac}",
                                   sqnr_db(ref[t], dequantize(env[t], ty)), sqnr_db(ref[t], dequantize(lv, ty)),
                                   float(np.abs(ref[t]).max(initial=0.0))))
    return rows
