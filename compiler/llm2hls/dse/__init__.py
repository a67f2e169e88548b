"""Design-space exploration: lanes, weight placement, layer reuse and channels for one board.

The space (:func:`explore`):

* ``channels`` — off-chip channels used (powers of two up to all of them);
* ``onchip_share`` — share of the free on-chip memory offered to weights/KV (0, 1/2, all); what
  goes where is then decided by :func:`llm2hls.perf.model.place` (best bytes saved per byte, or
  the KV cache first: an off-chip cache streams over only ``P`` ports);
* ``engines`` — block engines: 1 (one engine reused by every layer, per-layer weight offsets),
  ``L`` (one engine per layer, fully spatial) or a divisor of ``L`` in between (each engine runs
  ``L / E`` layers in turn); more than one only when every layer's weights are on chip. Each
  engine adds its DSP/LUT/buffers; batched decode and prefill pipeline over the engines;
* ``prefill_tile`` — prompt tokens per prefill pass (8, 32, 128): longer tiles reuse each weight
  more but need bigger input buffers;
* ``stream_width`` — elements per stream beat between stages (1, 4, ..., 64): a stage loads its
  input and writes its output ``width`` elements per cycle, at the cost of wider FIFOs, beat
  registers and input buffers (:func:`llm2hls.perf.model.stream_ffs`); ``Exploration.by_width``
  keeps the best design of each width;
* lanes — one lane count for all linear stages (their compute and their weight bytes both grow
  with ``n x k``, so one count balances them all); then each streamed stage is trimmed to the
  fewest lanes that keep it as fast as its own weight stream, attention is sized to its KV stream
  or a quarter of the block's linear time in whole keys per cycle (``P x head_dim`` MACs, what the
  backends build; an off-chip KV cache is then striped over ``P`` ports,
  :func:`llm2hls.perf.model.stage_stream`), and pointwise stages to 10 % of it; no stage gets more
  lanes than its stream width lets work (:func:`llm2hls.perf.model.effective_lanes`).

Each point is evaluated by the analytical model (microseconds), so a 1B-parameter config explores
in seconds. The result keeps every feasible point's summary, the best by the objective, and the
Pareto front over (decode tokens/s up, resource share down, power down).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from itertools import product
from typing import Any

from ..errors import UserError
from ..perf.model import (
    Design,
    MemoryModel,
    Operating,
    Performance,
    buffer_bits,
    effective_lanes,
    evaluate,
    kv_cache_bytes,
    place,
    predict_stage_cycles,
    resources,
    width_generated,
)
from ..perf.workload import Scheme, Stage
from ..targets import Target

OBJECTIVES = ("throughput", "latency")
LINEAR_LANES = tuple(2**i for i in range(3, 15))  # 8 .. 16384 MACs per cycle
ATTN_MAX_LANES = 4096
SHARES = (0.0, 0.5, 1.0)
TILES = (8, 32, 128)  # prefill tokens per pass (weights are read once per pass)
STREAM_WIDTHS = (1, 4, 8, 16, 32, 64)  # elements per stream beat


@dataclass
class Point:
    design: Design
    perf: Performance
    linear_lanes: int = 0
    attention_lanes: int = 0
    engines: int = 1  # block engines (1 = one reused engine, L = one per layer)

    @property
    def resource_share(self) -> float:
        """Largest used fraction of the kernel budget over DSP/BRAM/URAM/LUT."""
        return max(self.perf.utilization[k] for k in ("dsp", "bram18", "uram", "lut"))

    def summary(self) -> dict[str, Any]:
        d, p = self.design, self.perf
        return {
            "decode_tps": round(p.decode_tps, 2), "ttft_ms": round(p.ttft_s * 1e3, 3),
            "power_w": round(p.power_w, 2), "tokens_per_j": round(p.tokens_per_j, 3),
            "fraction_of_roofline": round(p.fraction_of_roofline, 4),
            "resource_share": round(self.resource_share, 4), "channels": d.channels,
            "replicate": d.replicate, "engines": self.engines, "kv_onchip": d.kv_onchip,
            "stream_width": d.stream_width, "generated_by_backends": width_generated(d.stream_width),
            "linear_lanes": self.linear_lanes, "attention_lanes": self.attention_lanes,
            "dsp": p.resources["dsp"], "bram18": p.resources["bram18"], "uram": p.resources["uram"],
            "lut": p.resources["lut"],
        }


@dataclass
class Exploration:
    best: Point
    front: list[Point]
    evaluated: int
    feasible: int
    objective: str
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)
    by_engines: dict[int, Point] = field(default_factory=dict)  # best point per block engine count
    by_width: dict[int, Point] = field(default_factory=dict)  # best point per stream width


def _pow2_at_least(x: float, cap: int) -> int:
    return int(min(cap, 2 ** max(0, math.ceil(math.log2(max(1.0, x))))))


def size_lanes(stages: list[Stage], scheme: Scheme, mem: MemoryModel, lin: int,
               onchip: dict[str, int], kv_onchip: bool, context: int, width: int = 1) -> dict[str, int]:
    """Lanes per stage for ``lin`` linear lanes at stream width ``width`` (module docstring).

    A streamed linear stage gets the fewest lanes (power of two, at most ``lin``) that keep its
    compute within its weight stream; attention gets the fewest that keep it within its KV stream
    or a quarter of the block's linear time; pointwise stages share 10 % of that time. Each count
    is then cut to the lanes that can be busy at ``width`` (no idle MACs are paid for).
    """
    lanes: dict[str, int] = {}
    lin_cycles = 0
    for s in stages:
        if s.kind == "linear":
            c = predict_stage_cycles(s, 1, scheme, mem, 1, context, onchip.get(s.name, 0), kv_onchip)
            streamed = onchip.get(s.name, 0) < s.count
            need = lin if not streamed else min(lin, _pow2_at_least(c.compute / max(1, c.memory), lin))
            need = effective_lanes(s, need, width)
            lanes[s.name] = need
            if s.layered:
                lin_cycles += math.ceil(s.n * s.k / need)
    n_pw = max(1, sum(1 for s in stages if s.layered and s.kind not in ("linear", "attention")))
    for s in stages:
        if s.kind == "attention":
            # whole keys per cycle (P x head_dim MACs): what the backends build (ops.attention)
            c = predict_stage_cycles(s, s.head_dim, scheme, mem, 1, context, 0, kv_onchip)
            target = max(c.memory, lin_cycles // 4, 1)
            keys = _pow2_at_least(c.compute / target, max(1, ATTN_MAX_LANES // s.head_dim))
            lanes[s.name] = keys * s.head_dim
        elif s.kind != "linear":
            work = (2 if s.kind == "layernorm" else 1) * s.n
            lanes[s.name] = effective_lanes(s, _pow2_at_least(work * n_pw / max(1, lin_cycles // 10), 256), width)
    return lanes


def explore(stages: list[Stage], scheme: Scheme, target: Target, op: Operating | None = None,
            objective: str = "throughput", eta: float | None = None,
            widths: tuple[int, ...] = STREAM_WIDTHS) -> Exploration:
    """Search the space for ``stages`` on ``target`` (stream widths ``widths``); raise
    :class:`UserError` if nothing fits."""
    import time

    if objective not in OBJECTIVES:
        raise UserError(f"unknown objective {objective!r}; use one of {', '.join(OBJECTIVES)}")
    t0 = time.perf_counter()
    op = op or Operating()
    tm = target.memory
    channels = sorted({min(tm.channels, 2**i) for i in range(0, 7)} | {tm.channels})
    kv_bytes = kv_cache_bytes(stages, scheme, op.max_context)
    kv_saving = op.decode_context / op.max_context
    points: list[Point] = []
    evaluated = 0
    budget = target.budget()
    from ..targets import BRAM18_BITS, URAM_BITS

    mem_budget = (budget["bram18"] * BRAM18_BITS + budget["uram"] * URAM_BITS) // 8
    layers = max((s.count for s in stages if s.layered), default=1)
    for tile in sorted({min(op.prompt, t) for t in TILES}):
        buffers = sum(buffer_bits(s, scheme, tile) for s in stages) // 8
        free = max(0, mem_budget - buffers - tm.channels * target.port_bits * 64)
        placements = {}
        for share, kv_first in product(SHARES, (False, True)):
            placements[share, kv_first] = place(stages, scheme, int(free * share), op.max_context, kv_bytes,
                                                kv_saving, kv_first)
        for ch in channels:
            mem = MemoryModel.of(target, ch, eta)
            for onchip, kv_on, reasons in {repr(v[:2]): v for v in placements.values()}.values():
                all_on = all(onchip.get(s.name, 0) == s.count for s in stages if s.layered and s.weight_elems)
                for engines, width in product(engine_counts(layers) if all_on else (1,), widths):
                    for lin in useful_linear_lanes(stages, width):
                        lanes = size_lanes(stages, scheme, mem, lin, onchip, kv_on, op.decode_context, width)
                        d = Design(lanes, onchip, ch, engines > 1, engines, kv_on, list(reasons), tile, width)
                        evaluated += 1
                        res = resources(stages, d, scheme, target, tile, op.max_context, kv_bytes)
                        if not all(res[k] <= budget[k] for k in res):
                            continue
                        perf = evaluate(stages, d, scheme, target, op, eta, detail=False, res=res)
                        points.append(Point(d, perf, lin, lanes.get(_attn_name(stages), 0), engines))
    if not points:
        raise UserError(
            f"no design fits {target.name} (even 8 lanes and all weights off-chip); "
            "use a bigger target or fewer weight bits"
        )
    key = ((lambda p: (p.perf.decode_tps, -p.perf.power_w)) if objective == "throughput"
           else (lambda p: (-p.perf.ttft_s, p.perf.decode_tps)))
    by_width = _best_by(points, key, lambda p: p.design.stream_width)
    # per-stage lanes: refine the best design of each width, then take the best of those
    for w, p in by_width.items():
        by_width[w] = refine_lanes(stages, scheme, target, op, eta, p, key)
        points.append(by_width[w])
    best = max(points, key=key)
    front = pareto_front(points)
    by_engines = _best_by(points, key, lambda p: p.engines)
    # full detail (batch curve) only for the points shown
    for p in {id(p): p for p in front + [best, *by_width.values()]}.values():
        p.perf = evaluate(stages, p.design, scheme, target, op, eta)
    return Exploration(best, front, evaluated, len(points), objective, time.perf_counter() - t0,
                       by_engines=by_engines, by_width=by_width)


def refine_lanes(stages: list[Stage], scheme: Scheme, target: Target, op: Operating, eta: float | None,
                 point: Point, key) -> Point:
    """Give single stages more lanes while that improves ``key`` and the design fits.

    The grid gives every linear stage one lane count; stages differ in size (GPT-2's fused Q/K/V
    has 3x the rows of the output projection, the LM head 50x), so a stage whose lane groups are
    not full, or whose attention is the longest stage, gains from lanes others would waste. Each
    round tries doubling each linear and attention stage's lanes (a linear's counted as the lanes
    its split can use, :func:`effective_lanes`) and keeps the best move that fits the budget.
    """
    budget = target.budget()
    kv_bytes = kv_cache_bytes(stages, scheme, op.max_context)
    best = point
    while True:
        d, moves = best.design, []
        for s in stages:
            if s.kind not in ("linear", "attention"):
                continue
            cur = d.lanes.get(s.name, 1)
            new = effective_lanes(s, 2 * cur if s.kind == "linear" else min(2 * cur, ATTN_MAX_LANES), d.stream_width)
            if new <= cur:
                continue
            nd = replace(d, lanes={**d.lanes, s.name: new})
            res = resources(stages, nd, scheme, target, min(op.prompt, nd.prefill_tile), op.max_context, kv_bytes)
            if not all(res[k] <= budget[k] for k in res):
                continue
            perf = evaluate(stages, nd, scheme, target, op, eta, detail=False, res=res)
            moves.append(Point(nd, perf, best.linear_lanes, nd.lanes.get(_attn_name(stages), 0), best.engines))
        better = [m for m in moves if key(m) > key(best)]
        if not better:
            return best
        best = max(better, key=key)


def _best_by(points: list[Point], key, group) -> dict[int, Point]:
    """The best point (by ``key``) of each value of ``group(point)``, in increasing group order."""
    best: dict[int, Point] = {}
    for p in points:
        g = group(p)
        if g not in best or key(p) > key(best[g]):
            best[g] = p
    return dict(sorted(best.items()))


def useful_linear_lanes(stages: list[Stage], width: int) -> list[int]:
    """The linear lane counts worth exploring at ``width``: up to the first that lets every
    linear stage work at its full rate (``n x width`` lanes); more would only idle."""
    cap = max((s.n * width for s in stages if s.kind == "linear"), default=1)
    return [lin for i, lin in enumerate(LINEAR_LANES) if i == 0 or LINEAR_LANES[i - 1] < cap]


def engine_counts(layers: int) -> list[int]:
    """Block engine counts explored for ``layers`` layers: every divisor (1 = reused, L = spatial)."""
    return [e for e in range(1, layers + 1) if layers % e == 0]


def _attn_name(stages: list[Stage]) -> str:
    return next((s.name for s in stages if s.kind == "attention"), "")


def pareto_front(points: list[Point]) -> list[Point]:
    """Points no other point beats on (tokens/s up, resource share down, power down)."""
    def objs(p: Point) -> tuple[float, float, float]:
        return (-p.perf.decode_tps, p.resource_share, p.perf.power_w)

    # In lexicographic order a point can only be dominated by an earlier one, and if an earlier
    # dominated point dominates it, so does that point's own dominator on the front.
    front: list[Point] = []
    for p in sorted(points, key=objs):
        a = objs(p)
        if not any(all(x <= y for x, y in zip(objs(f), a)) for f in front):
            front.append(p)
    return front
