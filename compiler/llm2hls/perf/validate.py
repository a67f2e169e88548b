"""The performance model checked against RTL-simulated cycles (issue 6: "validated, not assumed").

The RTL design is fully spatial: one engine per IR node, joined by streams. Its cycles are
predicted from the same per-stage model the exploration uses (:func:`model.token_cycles`,
:func:`model.predict_stage_cycles` with the same :class:`MemoryModel`), composed over the graph:

* **decode step** (one token at position ``pos``): the longest path through the graph of the
  stages' one-token latencies (``pos + 1`` keys in attention), or, when weights stream from
  off chip, at least ``all streamed bytes / bandwidth``; plus one memory latency;
* **prefill** (``T`` tokens): one token's path latency plus ``T - 1`` times the bottleneck
  interval: the slowest stage's per-token interval, or the streamed bytes of one token over the
  whole bandwidth (all off-chip stages share the channels).

:func:`measure` simulates the same design with the bench's memory model (same channels,
bandwidth and latency) and returns first-input-to-last-output cycles of one inference.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from ..ir.graph import Graph
from .model import MemoryModel, predict_stage_cycles, token_cycles
from .workload import Scheme, Stage, stage_of_node


def graph_scheme(graph: Graph) -> Scheme:
    """Bit widths of a quantized graph: its linear weights' bits, 16-bit activations."""
    bits = [n.attrs["param_bits"]["q_weight"] for n in graph.nodes.values() if n.op == "linear"]
    return Scheme(weight_bits=int(max(bits, default=8)), act_bits=16)


def rtl_lanes(graph: Graph, stage: Stage, node_lanes: int) -> int:
    """MACs per cycle of a node's RTL engine: a linear's lanes; attention has ``head_dim``
    multipliers for the scores, then ``head_dim`` for the weighted sum (``d`` per cycle); the
    pointwise kinds stream one element per cycle."""
    if stage.kind == "linear":
        return max(1, min(node_lanes, stage.n))
    if stage.kind == "attention":
        return stage.head_dim
    return 1


def predict(graph: Graph, memory: MemoryModel, tokens: int, context: int = 0) -> dict[str, Any]:
    """Predicted cycles of one pass of ``tokens`` tokens after ``context`` cached ones through the
    spatial design of ``graph`` (``tokens`` = the graph's token count; 1 for a decode step)."""
    scheme = graph_scheme(graph)
    order = list(graph.topo_nodes())
    stages = {n.name: stage_of_node(n, graph) for n in order}
    lanes = {n.name: rtl_lanes(graph, stages[n.name], n.lanes) for n in order}
    offchip = {n.name for n in order if n.op == "linear" and n.params["q_weight"].placement == "offchip"}
    per_token_lat, interval, streamed = {}, {}, 0
    for n in order:
        st, ln = stages[n.name], lanes[n.name]
        per, lat = token_cycles(st, ln, context + tokens)  # the last token sees the most keys
        per_token_lat[n.name] = lat
        if st.kind == "attention":  # average interval over the pass's tokens
            per = sum(token_cycles(st, ln, context + i + 1)[0] for i in range(tokens)) / tokens
        interval[n.name] = per
        if n.name in offchip:
            streamed += predict_stage_cycles(st, ln, scheme, _unit(memory), 1).memory
    # longest path of one token: a stage finishes a token `latency` after its last input arrives
    done: dict[str, float] = {}
    producer = {t: n.name for n in order for t in n.outputs}
    for n in order:
        start = max((done[producer[t]] for t in n.inputs if t in producer), default=0.0)
        if not any(t in producer for t in n.inputs):  # a source stage loads its first input row
            start = float(interval[n.name]) if stages[n.name].kind != "embedding" else 1.0
        done[n.name] = start + per_token_lat[n.name]
    path = max(done[producer[t]] for t in graph.outputs)
    mem_per_token = streamed / memory.bytes_per_cycle if offchip else 0.0
    bottleneck = max(max(interval.values()), mem_per_token)
    compute_bound = path + (tokens - 1) * max(interval.values())
    total = path + (tokens - 1) * bottleneck
    if offchip:  # every token's weights must come through the shared channels
        total = max(total, tokens * mem_per_token) + memory.latency_cycles
    return {"cycles": int(math.ceil(total)), "path": path, "bottleneck": bottleneck,
            "memory_per_token": mem_per_token, "compute_bound": compute_bound,
            "bound": "memory" if offchip and tokens * mem_per_token > compute_bound else "compute"}


def _unit(memory: MemoryModel) -> MemoryModel:
    """A 1-byte-per-cycle memory: ``predict_stage_cycles(...).memory`` then counts bytes."""
    return MemoryModel(1, 1.0, 1.0, 0)


def place_offchip(graph: Graph, offchip: bool) -> Graph:
    """``graph`` with every linear weight matrix off chip (True) or on chip (False)."""
    from ..passes.canonicalize import clone

    g = clone(graph)
    for n in g.nodes.values():
        if n.op == "linear":
            n.params["q_weight"].placement = "offchip" if offchip else "onchip"
    return g


def measure(graph: Graph, memory: MemoryModel, work_dir: Path, inputs: list[dict[str, np.ndarray]],
            golden=None, simulator: str = "icarus") -> dict[str, Any]:
    """Simulate ``graph`` with the bench's memory model; cycles of the first inference (first input
    beat to last output beat), no input gaps, no backpressure, outputs checked bit-exact."""
    from ..backends.rtl import write_rtl
    from ..backends.rtl.memory import MemoryParams
    from ..sim.rtl import simulate

    rtl = write_rtl(graph, Path(work_dir) / "rtl", inputs=inputs, golden=golden, gap=0.0,
                    memory=MemoryParams.of(memory))
    r = simulate(rtl, simulator)
    return {"cycles": r.get("total_cycles"), "passed": bool(r.get("passed")),
            "mismatches": r.get("mismatches"), "memory_bytes": r.get("memory_bytes"),
            "simulator": simulator}
