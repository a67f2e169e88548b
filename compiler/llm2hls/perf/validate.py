"""The performance model checked against RTL-simulated cycles (issue 6: "validated, not assumed").

The RTL design is fully spatial: one engine per IR node (fused Q/K/V, gate/up and residual+norm
stages expanded as the RTL backend does, :func:`rtl_graph`), joined by streams. Its cycles are
predicted from the same per-stage model the exploration uses (:func:`model.token_cycles`,
:func:`model.predict_stage_cycles` with the same :class:`MemoryModel`), composed over the graph:

* **decode step** (one token at position ``pos``): the longest path through the graph of the
  stages' one-token latencies (``pos + 1`` keys in attention); when weights stream from off chip,
  the same path with every stage ending no earlier than its last weight word arrives (the
  streams' prefetch buffers hold only the first bursts, so the memory idles while the token is in
  a stage without weights), and at least ``all streamed bytes / bandwidth`` + one memory latency;
* **prefill** (``T`` tokens): one token's path latency plus ``T - 1`` times the bottleneck
  interval: the slowest stage's per-token interval, or the streamed bytes of one token over the
  whole bandwidth (all off-chip stages share the channels).

:func:`measure` simulates the same design with the bench's memory model (same channels,
bandwidth and latency) and returns first-input-to-last-output cycles of one inference.
"""

from __future__ import annotations

import dataclasses

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..ir.graph import Graph, Node
from .model import MemoryModel, linear_lanes_split, predict_stage_cycles, stream_beat, token_cycles
from .workload import Scheme, Stage, stage_of_node


def graph_scheme(graph: Graph) -> Scheme:
    """Bit widths of a quantized graph: its linear weights' bits, 16-bit activations."""
    bits = [n.attrs["param_bits"]["q_weight"] for n in graph.nodes.values() if n.op == "linear"]
    return Scheme(weight_bits=int(max(bits, default=8)), act_bits=16)


def rtl_lanes(graph: Graph, stage: Stage, node_lanes: int, width: int = 1) -> int:
    """MACs per cycle of a node's RTL engine at stream width ``width``: a linear's lanes (outputs
    x inputs, :func:`model.linear_lanes_split`); attention takes ``P = node.lanes`` keys per cycle,
    ``P * head_dim`` multipliers for the scores, then as many for the weighted sum
    (``model.attention_keys`` turns them back into ``P``); the pointwise and row-wise kinds take
    one beat (``gcd(width, n)`` elements) per cycle."""
    if stage.kind == "linear":
        out, inp = linear_lanes_split(stage, max(1, node_lanes), width)
        return out * inp
    if stage.kind == "attention":
        return max(1, node_lanes) * stage.head_dim
    return stream_beat(width, stage.n)


def predict(graph: Graph, memory: MemoryModel, tokens: int, context: int = 0) -> dict[str, Any]:
    """Predicted cycles of one pass of ``tokens`` tokens after ``context`` cached ones through the
    spatial design of ``graph`` (``tokens`` = the graph's token count; 1 for a decode step).

    The RTL backend expands fused Q/K/V, gate/up and residual+norm stages into their unfused stages
    (``passes.fuse.unfuse``), each its own engine with its own lanes; the prediction is made for
    those stages, i.e. for the design that is simulated."""
    graph = rtl_graph(graph)
    scheme = graph_scheme(graph)
    width = int(graph.meta.get("stream_width", 1))
    order = list(graph.topo_nodes())
    stages = {n.name: stage_of_node(n, graph) for n in order}
    lanes = {n.name: rtl_lanes(graph, stages[n.name], n.lanes, width) for n in order}
    offchip = {n.name for n in order if n.op == "linear" and n.params["q_weight"].placement == "offchip"}
    per_token_lat, interval, nbytes = {}, {}, {}
    for n in order:
        st, ln = stages[n.name], lanes[n.name]
        per, lat = token_cycles(st, ln, context + tokens, width)  # the last token sees the most keys
        per_token_lat[n.name] = lat
        if st.kind == "attention":  # average interval over the pass's tokens
            per = sum(token_cycles(st, ln, context + i + 1, width)[0] for i in range(tokens)) / tokens
        interval[n.name] = per
        if n.name in offchip:
            nbytes[n.name] = predict_stage_cycles(st, ln, scheme, _unit(memory), 1, width=width).memory
    sources = {n.name: 1.0 if stages[n.name].kind == "embedding" else float(interval[n.name])
               for n in order}  # a source stage first loads its input row (an embedding: one id)
    path = _longest_path(graph, lambda name, start: start + per_token_lat[name], sources)
    mem_per_token = sum(nbytes.values()) / memory.bytes_per_cycle
    bottleneck = max(max(interval.values()), mem_per_token)
    compute_bound = path + (tokens - 1) * max(interval.values())
    total = path + (tokens - 1) * bottleneck
    if offchip:  # every token's weights must come through the shared channels
        total = max(total, tokens * mem_per_token) + memory.latency_cycles
        if tokens == 1:
            finish = _weight_arrival(order, nbytes, interval, per_token_lat, memory)
            total = max(total, _longest_path(graph, finish, sources))
    return {"cycles": int(math.ceil(total)), "path": path, "bottleneck": bottleneck,
            "memory_per_token": mem_per_token, "compute_bound": compute_bound,
            "bound": "memory" if offchip and total > compute_bound + memory.latency_cycles else "compute"}


def _longest_path(graph: Graph, finish: Callable[[str, float], float], sources: dict[str, float]) -> float:
    """When one token's last output leaves the graph: every stage starts when its last input
    row is complete (a source stage at ``sources[name]``) and ends at ``finish(name, start)``."""
    done: dict[str, float] = {}
    producer = {t: n.name for n in graph.nodes.values() for t in n.outputs}
    for n in graph.topo_nodes():
        ins = [done[producer[t]] for t in n.inputs if t in producer]
        done[n.name] = finish(n.name, max(ins) if ins else sources[n.name])
    return max(done[producer[t]] for t in graph.outputs)


def _weight_arrival(order: list[Node], nbytes: dict[str, int], interval: dict[str, float],
                    latency: dict[str, int], memory: MemoryModel) -> Callable[[str, float], float]:
    """``finish(stage, start)`` of one token when weights stream from off chip (a decode step).

    Each weight stream has a prefetch buffer (``MemoryParams.buffer``: latency x bandwidth + two
    bursts, the bench's and a board design's sizing): at the start every stream requests the
    whole bursts that fit, served in order; the rest of a matrix is requested only once its stage
    has taken enough words to free a burst's room, so the memory idles while the token is in
    stages without weights (norms, rotary, attention) and a stage ends no earlier than its last
    weight word plus its drain (latency - interval). Requests are served first come, first served,
    in topological order (siblings such as Q/K/V start together)."""
    from ..backends.rtl.memory import MemoryParams

    bench = MemoryParams.of(memory)
    burst, buffer, bw = bench.burst_bytes, bench.buffer, memory.bytes_per_cycle
    prefetch = {s: min(b, burst * (buffer // burst)) for s, b in nbytes.items()}
    free, arrived = float(memory.latency_cycles), {}
    for n in order:  # the first bursts of every stream, requested at cycle 0
        if n.name in nbytes:
            free += prefetch[n.name] / bw
            arrived[n.name] = free

    def finish(name: str, start: float) -> float:
        nonlocal free
        end = start + latency[name]
        if name not in nbytes:
            return end
        rest = nbytes[name] - prefetch[name]
        if rest > 0:  # asked for when the stage, at its own rate, has freed one burst's room
            rate = nbytes[name] / interval[name]
            ask = start + max(0, prefetch[name] + burst - buffer) / rate
            free = max(free, ask + memory.latency_cycles) + rest / bw
            arrived[name] = free
        return max(end, arrived[name] + max(0, latency[name] - interval[name]))

    return finish


def rtl_graph(graph: Graph) -> Graph:
    """The stages the RTL backend builds for ``graph``: fused sibling linears (Q/K/V) and
    residual+norm stages expanded into one engine each (as ``backends/rtl`` does)."""
    from ..passes.fuse import unfuse

    return unfuse(graph)[0]


def _unit(memory: MemoryModel) -> MemoryModel:
    """A 1-byte-per-cycle memory: ``predict_stage_cycles(...).memory`` then counts bytes."""
    return MemoryModel(1, 1.0, 1.0, 0)


def place_offchip(graph: Graph, offchip: bool) -> Graph:
    """``graph`` with every linear weight matrix off chip (True) or on chip (False)."""
    from ..passes.canonicalize import clone

    g = clone(graph)
    for n in g.nodes.values():
        if n.op == "linear":
            # a new Param: clone() shares Param objects, so mutating one would move the caller's too
            n.params["q_weight"] = dataclasses.replace(n.params["q_weight"], placement="offchip" if offchip else "onchip")
    return g


def with_keys_per_cycle(graph: Graph, keys: int) -> Graph:
    """``graph`` with every attention stage taking ``keys`` keys per cycle (``node.lanes = P``)."""
    from ..passes.canonicalize import clone

    g = clone(graph)
    for n in g.nodes.values():
        if n.op == "attention":
            n.lanes = max(1, int(keys))
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
