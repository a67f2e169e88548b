"""Error attribution: where the integer pipeline loses accuracy, stage by stage.

For one input, every output tensor of a quantized graph gets two signal-to-quantization-noise
ratios against the float reference of the same graph (same smoothed weights):

* ``accumulated``: the integer pipeline run end to end (the error that reaches this tensor);
* ``local``: the stage alone, fed its float inputs rounded onto their types (its own error:
  weight rounding, table nonlinearity, requantization; what it adds to what it receives).

A stage whose local SQNR is high while the accumulated one drops is passing on (or amplifying)
error from upstream; a stage whose local SQNR is low is a cause.

Given the scheme's :class:`~llm2hls.passes.quantize.QuantConfig`, every row also compares the
integer pipeline with fake-quantization (:func:`~llm2hls.eval.fakequant.fake_quant_graph`, the
scheme's own rounding in float): ``fq_accumulated_db`` end to end, and, for the compiler's own
arithmetic alone, ``fq_local_db`` / ``fq_local_bias_lsb``: the integer stage and the fake-quant stage
fed the same fake-quant inputs (already on their types), their SQNR and their mean difference in
output LSBs (a rounding or table bias shows as a non-zero mean).
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass

import numpy as np

from ..ir.graph import Graph
from ..passes.quantize import QuantConfig
from ..numerics import dequantize, quantize
from ..ops import op_kind
from ..reference import quantize_inputs, run_graph
from .fakequant import fake_quant_graph, fake_quant_stages


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
    fq_accumulated_db: float | None = None
    fq_local_db: float | None = None
    fq_local_bias_lsb: float | None = None

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


def attribute_errors(graph: Graph, inputs: dict[str, np.ndarray], config: QuantConfig | None = None
                     ) -> list[StageError]:
    """Per-stage SQNRs of the quantized ``graph`` on ``inputs`` (float values): accumulated and
    local vs float, and, with the scheme's ``config``, vs fake-quantization (see the module doc)."""
    ref = run_graph(graph, inputs, mode="float", keep_all=True)
    env = run_graph(graph, quantize_inputs(graph, inputs), mode="int", keep_all=True)
    fq = stage = None
    if config is not None:
        fq = fake_quant_graph(graph, config, keep_all=True)(inputs)
        stage = fake_quant_stages(graph, config)
    rows = []
    for node in graph.topo_nodes():
        local_in = [env[t] if t in graph.inputs else quantize(ref[t], graph.tensors[t].type.dtype)
                    for t in node.inputs]
        local = op_kind(node.op).run_int(node, local_in, graph)
        fq_local = _fake_quant_local(graph, node, env, fq, stage) if fq is not None else [None] * len(local)
        for t, lv, pair in zip(node.outputs, local, fq_local):
            ty = graph.tensors[t].type.dtype
            got = dequantize(env[t], ty)
            row = StageError(node.name, node.op, t, f"{ty.width}.{ty.frac}", sqnr_db(ref[t], got),
                             sqnr_db(ref[t], dequantize(lv, ty)), float(np.abs(ref[t]).max(initial=0.0)))
            if pair is not None:
                int_v, fq_v = pair
                row.fq_accumulated_db = sqnr_db(fq[t], got)
                row.fq_local_db = sqnr_db(fq_v, int_v)
                row.fq_local_bias_lsb = float(np.mean(int_v - fq_v) / ty.lsb) if int_v.size else 0.0
            rows.append(row)
    return rows


def _fake_quant_local(graph: Graph, node, env, fq, stage) -> list[tuple[np.ndarray, np.ndarray]]:
    """(integer, fake-quant) outputs of ``node`` alone, both fed the fake-quant inputs (float)."""
    raw_in = [env[t] if t in graph.inputs else quantize(fq[t], graph.tensors[t].type.dtype) for t in node.inputs]
    ints = op_kind(node.op).run_int(node, raw_in, graph)
    fqs = stage(node, [fq[t] for t in node.inputs])
    return [(dequantize(i, graph.tensors[t].type.dtype), np.asarray(f, dtype=np.float64))
            for t, i, f in zip(node.outputs, ints, fqs)]


def summarize_by_stage(rows: list[StageError]) -> list[dict]:
    """One line per stage role (the node name without its layer number, e.g. ``mlp_gate_proj_linear``):
    the count, the worst and median local SQNRs and the mean local bias, vs float and fake-quant."""
    groups: dict[str, list[StageError]] = {}
    for r in rows:
        groups.setdefault(re.sub(r"layers_\d+_", "", r.node), []).append(r)
    out = []
    for role, rs in groups.items():
        line = {"stage": role, "op": rs[0].op, "count": len(rs),
                "local_db_min": min(r.local_db for r in rs),
                "local_db_median": float(np.median([r.local_db for r in rs]))}
        if rs[0].fq_local_db is not None:
            line.update(fq_local_db_min=min(r.fq_local_db for r in rs),
                        fq_local_db_median=float(np.median([r.fq_local_db for r in rs])),
                        fq_local_bias_lsb=float(np.mean([r.fq_local_bias_lsb for r in rs])))
        out.append(line)
    return out
