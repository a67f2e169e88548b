"""Analytical performance model of a streaming-dataflow transformer accelerator on one board.

One model, validated against RTL cycles at stream widths 1, 2, 4 and 8 (``perf/validate.py``,
benchmarks/perf_validation.py). Per stage (:func:`predict_stage_cycles`): compute cycles from the
stage's token schedule (:func:`token_cycles`): a stream of rows of ``e`` elements carries
``gcd(width, e)`` of them per beat (``Design.stream_width``, passes/beats.py), so a stage's
input-load and output-write terms take :func:`row_beats` cycles, while its lanes set the MAC rate;
memory cycles from the off-chip bytes it reads divided by the bytes per cycle the
:class:`MemoryModel` gives it, and ``cycles = max(compute, memory)``: weights are streamed in long
sequential bursts that overlap with the arithmetic.

Per design (:func:`evaluate`):

* decode step (``B`` sequences, one new token each, ``context`` cached): the stages of a token
  depend on each other, so a step is the sum of the stage cycles over every layer copy, plus one
  memory latency; weights are read once per step and shared by the ``B`` tokens.
* prefill (``S`` prompt tokens): inside a layer the stages pipeline over tokens, so a layer takes
  its slowest stage (or its weight bytes / bandwidth) plus the time the first token needs to go
  through; the LM head runs for the last position only (that is all the first token needs).
* replicated engines (one engine per layer, weights on chip) pipeline layers: prefill takes the
  slowest stage of the whole model, and a batch of ``B`` sequences decodes ``B`` tokens in one
  latency plus ``B - 1`` layer times.

Every result is shown against the bandwidth roofline ``tokens/s <= BW / off-chip bytes per token``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from functools import lru_cache
from typing import Any

from ..ops.attention import keys_per_cycle
from ..targets import BRAM18_BITS, URAM_BITS, Target
from .power import estimate_power
from .workload import Scheme, Stage, stage_work

LUT_PER_LANE = {"linear": 40, "attention": 60, "layernorm": 80, "act": 30, "eltwise": 20, "embedding": 10}
LUT_PER_STAGE = 1500  # control, stream adapters
LUT_PER_CHANNEL = 3000  # one m_axi adapter + burst engine
FF_PER_LUT = 1.5
BURST_BYTES = 4096  # one sequential m_axi burst train per channel
BACKEND_STREAM_WIDTH = 1  # the one-element-per-beat design, reported beside the best of any width
WIDTH_NOTE = ("a stream of rows of e elements carries gcd(W, e) of them per beat; both backends "
              "generate every power-of-two W (HLS: csim bit-exact; RTL: bit-exact, cycles checked "
              "against this model at W = 1, 2, 4, 8, benchmarks/results/perf_validation.md)")


def width_generated(width: int) -> bool:
    """Whether the backends build a design of stream width ``width`` (any power of two,
    ``--stream-width``; passes/beats.py)."""
    return width >= 1 and width & (width - 1) == 0
STREAM_FIFO_BEATS = 2  # default FIFO depth between stages (passes/fifo.py), in beats
STREAMS_PER_STAGE = 2  # one input and one output stream per stage (a residual add has two inputs)


def macs_per_dsp(a_bits: int, b_bits: int) -> float:
    """Multiply-accumulates one DSP48E2 does per cycle.

    Two products that share one operand pack into one 27x18 multiplier when both fit in 8 bits
    and one in 4 (AMD WP486 packs two INT8 products; a 4-bit weight leaves more guard bits);
    otherwise one product per DSP while it fits 27x18, else two DSPs per product.
    """
    lo, hi = sorted((a_bits, b_bits))
    if lo <= 4 and hi <= 8:
        return 2.0
    if lo <= 18 and hi <= 27:
        return 1.0
    return 0.5


@dataclass(frozen=True)
class MemoryModel:
    """Off-chip bandwidth a design sees: ``channels`` ports, each ``eta`` x min(channel, port)."""

    channels: int
    bytes_per_cycle_per_channel: float  # peak, limited by the channel and by the port width
    eta: float  # burst efficiency
    latency_cycles: int

    @staticmethod
    def of(target: Target, channels: int | None = None, eta: float | None = None) -> "MemoryModel":
        m = target.memory
        used = m.channels if channels is None else channels
        f = target.clock_mhz * 1e6
        per = min(m.gbps_per_channel * 1e9 / f, target.port_bits / 8)
        return MemoryModel(used, per, m.burst_efficiency if eta is None else eta,
                           math.ceil(m.latency_ns * 1e-9 * f))

    @property
    def bytes_per_cycle(self) -> float:
        return self.channels * self.bytes_per_cycle_per_channel * self.eta

    def cycles(self, nbytes: float) -> int:
        return math.ceil(nbytes / self.bytes_per_cycle) if nbytes else 0


@dataclass
class Design:
    """One point of the design space.

    ``lanes``: stage name -> parallel lanes. ``onchip``: stage name -> layer copies whose weights
    are on chip (the rest stream from off-chip memory). ``kv_onchip``: KV cache on chip.
    ``replicate``: one engine per layer (True) or one engine reused by every layer (False).
    ``engines``: with ``replicate``, the number of block engines (0: one per layer; a divisor
    ``E`` of the layer count: each engine runs ``layers / E`` layers in turn, :func:`layer_engines`).
    ``stream_width``: elements per stream beat between stages (the backends emit 1 today).
    ``stage_channels``: stage name -> memory channels its off-chip traffic (weights, KV cache) is
    striped over, where that is not all ``channels`` (:func:`stage_stream`; a project's m_axi ports
    per weight or cache, report/modeled.py). ``weight_scale``: stage name -> stored / counted bytes
    of its streamed weights (> 1 when a packed file pads whole port words).
    """

    lanes: dict[str, int]
    onchip: dict[str, int] = field(default_factory=dict)
    channels: int = 1
    replicate: bool = False
    engines: int = 0
    kv_onchip: bool = False
    reasons: list[str] = field(default_factory=list)
    prefill_tile: int = 128  # prompt tokens per prefill pass
    stream_width: int = BACKEND_STREAM_WIDTH
    stage_channels: dict[str, int] = field(default_factory=dict)
    weight_scale: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class StageCycles:
    name: str
    kind: str
    count: int
    compute: int  # per copy
    memory: int  # per copy (weights of an off-chip copy + KV traffic)
    memory_onchip_copy: int  # per copy whose weights are on chip (KV traffic only)
    onchip_copies: int
    latency: int = 0  # per copy: the last token's last input element to its last output element

    @property
    def total(self) -> int:
        """All copies, each busy for its whole pass (``compute``) or its memory stream."""
        return self._copies(self.compute)

    @property
    def chain(self) -> int:
        """All copies inside a streaming chain of one token: each adds its ``latency`` (its input
        arrives while its producer still writes), or its memory stream if that is longer."""
        return self._copies(self.latency)

    def _copies(self, cycles: int) -> int:
        off = self.count - self.onchip_copies
        return off * max(cycles, self.memory) + self.onchip_copies * max(cycles, self.memory_onchip_copy)

    @property
    def bound(self) -> str:
        return "memory" if self.memory > self.compute and self.onchip_copies < self.count else "compute"


# Fixed costs of the stream schedules both backends implement (docs/rtl.md, ops/*.cost):
GROUP_OVERHEAD = 3  # linear: cycles per lane group beyond its K weight words (pipeline, handover)
NORM_STEPS = 96  # layernorm: mean/variance steps + 31-step isqrt + 62-step division per row
HEAD_STEPS = 51  # attention: init, exp drain, PR+1 = 47-step division and output setup per head
STREAM_DEPTH = 3  # a pointwise stage's registers between its input and output


def stream_beat(width: int, elems: int) -> int:
    """Elements per beat of a stream whose rows hold ``elems`` elements at stream width ``width``:
    ``gcd(width, elems)``, so no beat straddles two rows (the contract of passes/beats.py)."""
    return math.gcd(max(1, width), elems) if elems > 0 else 1


def row_beats(width: int, elems: int) -> int:
    """Beats (cycles) one row of ``elems`` elements takes on a stream of width ``width``."""
    return -(-elems // stream_beat(width, elems))


def linear_lanes_split(stage: Stage, lanes: int, width: int = 1) -> tuple[int, int]:
    """``(outputs, inputs)`` a linear's MAC array works on per cycle with ``lanes`` lanes.

    Lanes go to output channels first (at most ``n``); lanes beyond ``n`` take several inputs of
    the buffered row per cycle: a power of two, at most one input beat (``gcd(width, k)``), as
    the RTL ``l2h_linear`` and ``passes.parallelize.design_lanes`` build it.
    """
    out = max(1, min(lanes, stage.n))
    per = max(1, min(stream_beat(width, stage.k), lanes // out))
    return out, 1 << (per.bit_length() - 1)


def effective_lanes(stage: Stage, lanes: int, width: int = 1) -> int:
    """The lanes of ``stage`` that can be busy at stream width ``width`` (extra ones would idle):
    a linear's ``outputs x inputs`` split, ``min(lanes, beat)`` for row-wise and pointwise kinds
    (one beat of ``gcd(width, n)`` elements per cycle), all of attention's (they work on buffered
    rows)."""
    lanes = max(1, lanes)
    if stage.kind == "linear":
        out, inp = linear_lanes_split(stage, lanes, width)
        return out * inp
    if stage.kind == "attention":  # whole keys: P = lanes // head_dim dot products per cycle
        return attention_keys(stage, lanes) * stage.head_dim
    return min(lanes, stream_beat(width, stage.n))


def attention_keys(stage: Stage, lanes: int) -> int:
    """Keys per cycle ``P`` of an attention stage with ``lanes`` MACs per cycle (``P`` dot products
    of ``head_dim`` MACs; ``ops.attention.keys_per_cycle``, the IR's ``node.lanes``)."""
    return keys_per_cycle(max(1, lanes), max(1, stage.head_dim))


def token_cycles(stage: Stage, lanes: int, keys: int = 1, width: int = 1) -> tuple[int, int]:
    """``(interval, latency)`` of one token through ``stage``: the cycles it stays busy with the
    token (one token per ``interval`` in a pipeline) and the cycles from the token's last input
    element to its last output element (what the stage adds to a token's latency in a chain).

    A stream of rows of ``e`` elements carries ``gcd(width, e)`` of them per beat
    (:func:`stream_beat`), so loading or writing a row takes :func:`row_beats` cycles; the lanes
    set the MAC rate. A linear loads the next
    token while it computes, and runs ``ceil(n / outputs)`` lane groups of ``ceil(k / inputs) +
    GROUP_OVERHEAD`` cycles (:func:`linear_lanes_split`), each group's outputs leaving while the
    next computes; attention (``lanes`` MACs = ``P`` keys per cycle, :func:`attention_keys`) loads
    the token's q, k and v rows, then per query head spends ``2 ceil(keys / P)`` cycles on the
    scores and the weighted sum (``P`` keys per cycle in each loop), ``ceil(d / width)`` on the
    output and ``HEAD_STEPS`` on the softmax division; a norm makes ``passes - 1`` more passes
    over the row (LayerNorm 3, RMSNorm 2) plus ``NORM_STEPS``; a route loads its input rows, then
    writes its outputs, while a fork (``k = 0``) passes each beat on as it arrives; an embedding
    writes a whole row after its one id; pointwise kinds take ``n / min(lanes, width)`` cycles.

    This is the schedule the RTL backend implements at every stream width, checked against its
    simulated cycles by ``perf/validate.py`` (W = 1, 2, 4, 8).
    """
    lanes, width = max(1, lanes), max(1, width)
    beats = lambda elems: row_beats(width, elems)  # noqa: E731
    if stage.kind == "linear":
        out, inp = linear_lanes_split(stage, lanes, width)
        group = -(-stage.k // inp) + GROUP_OVERHEAD
        busy = -(-stage.n // out) * group
        # the last output leaves after the last group, or after the whole output stream if
        # a group's outputs take longer to write than the next group to compute
        last = -(-out // stream_beat(width, stage.n))
        return max(beats(stage.k), busy, beats(stage.n)), max(busy + last, group + beats(stage.n)) + 2
    if stage.kind == "attention":
        d, hq, p = stage.head_dim, stage.heads, attention_keys(stage, lanes)
        busy = hq * (2 * -(-keys // p) + -(-d // stream_beat(width, hq * d)) + HEAD_STEPS)
        return beats(hq * d) + 2 * beats(stage.kv_heads * d) + busy, busy
    rate = effective_lanes(stage, lanes, width)  # one beat per cycle, at most `lanes` elements
    if stage.kind == "layernorm":
        extra = (2 if stage.bias else 1) * -(-stage.n // rate) + NORM_STEPS
        return extra, extra + 2
    if stage.kind == "route":
        if not stage.k:  # a fork: no row buffer, its last beat leaves one cycle after it came
            return beats(stage.n), 1
        return beats(stage.k) + beats(stage.n), beats(stage.n) + 1
    per = -(-stage.n // rate)
    if stage.kind == "embedding":  # the whole row leaves after its one input (the id)
        return per, per + STREAM_DEPTH
    return per, STREAM_DEPTH


@lru_cache(maxsize=1 << 16)  # the exploration asks for the same stage settings many times
def predict_stage_cycles(stage: Stage, lanes: int, scheme: Scheme, memory: MemoryModel,
                         tokens: int = 1, context: int = 0, onchip_copies: int = 0,
                         kv_onchip: bool = False, width: int = 1, weight_scale: float = 1.0) -> StageCycles:
    """Cycles of one pass of ``stage`` (per layer copy) with ``lanes`` lanes and ``width``-element
    stream beats.

    Compute: the token intervals of :func:`token_cycles` (token ``i`` of the pass sees ``context +
    i + 1`` keys) plus the last token's remaining latency. Memory = ``ceil(streamed bytes / (eta x
    bytes per cycle))``, where the streamed bytes are the weight matrix (and group-wise scales):
    per-channel scales and biases are ``n`` words kept on chip; ``weight_scale`` = stored / counted
    bytes of that stream (whole port words of padding in a packed file).
    """
    w = stage_work(stage, scheme, tokens, context)
    compute = _stream_compute(stage, max(1, lanes), tokens, context, width)
    kv = 0 if kv_onchip else w.kv_read_bytes + w.kv_write_bytes
    streamed = math.ceil((w.weight_bytes - side_table_bytes(stage, scheme)) * weight_scale)
    latency = token_cycles(stage, max(1, lanes), context + tokens, width)[1]
    return StageCycles(stage.name, stage.kind, stage.count, compute,
                       memory.cycles(streamed + kv), memory.cycles(kv), onchip_copies, latency)


def _stream_compute(stage: Stage, lanes: int, tokens: int, context: int, width: int) -> int:
    """Token intervals of :func:`token_cycles` over a pass, plus the last token's drain."""
    if stage.kind == "attention":  # token i sees context + i + 1 keys; its latency < interval
        per_one, _ = token_cycles(stage, lanes, 0, width)  # the interval without any key
        p = attention_keys(stage, lanes)
        keys = 2 * (_ceil_sum(1, p, context + tokens) - _ceil_sum(1, p, context))
        return tokens * per_one + stage.heads * keys
    per, lat = token_cycles(stage, lanes, 1, width)
    return tokens * per + max(0, lat - per)


def _ceil_sum(a: int, b: int, m: int) -> int:
    """``sum(ceil(a * j / b) for j in 1..m)`` in O(period): the terms grow by ``a * g / b`` every
    ``g = b / gcd(a, b)`` steps (a prefill pass of 128 tokens would otherwise loop per token)."""
    g = b // math.gcd(a, b)
    q, r = divmod(m, g)
    first = [-(-a * j // b) for j in range(1, min(g, m) + 1)]
    step = a * g // b
    return q * sum(first) + step * g * q * (q - 1) // 2 + sum(first[:r]) + q * step * r


def side_table_bytes(stage: Stage, scheme: Scheme) -> int:
    """Bytes of a linear's per-output-channel scales and biases (kept on chip, ``n`` words)."""
    if stage.kind != "linear" or scheme.group_size:
        return 0
    return scheme.linear_weight_bytes(stage.n, stage.k, stage.bias) - -(-stage.n * stage.k * scheme.weight_bits // 8)


# ---- placement --------------------------------------------------------------------------------
def stored_bytes(stage: Stage, scheme: Scheme, positions: int) -> int:
    """Bytes one copy keeps in memory (position tables hold ``positions`` rows)."""
    if stage.const_elems:
        return -(-positions * stage.const_elems * scheme.act_bits // 8)
    return stage.weight_bytes(scheme)


def kv_cache_bytes(stages: list[Stage], scheme: Scheme, max_context: int, batch: int = 1) -> int:
    return sum(s.count * batch * max_context * -(-2 * s.kv_heads * s.head_dim * scheme.kv // 8)
               for s in stages if s.kind == "attention")


def place(stages: list[Stage], scheme: Scheme, budget_bytes: int, positions: int,
          kv_bytes: int, kv_saving: float, kv_first: bool = False) -> tuple[dict[str, int], bool, list[str]]:
    """Put on chip what saves the most off-chip bytes per byte stored, until ``budget_bytes``.

    Every weight is read once per token, so weights save 1 byte per byte; an embedding table
    saves one row per ``vocab`` rows; the KV cache saves ``kv_saving`` (average context / max
    context). Items go in that order, layer copy by layer copy. ``kv_first`` places the KV cache
    first when it fits: an off-chip cache streams over only ``P`` ports (:func:`stage_stream`), so
    its bytes can cost more time than the weights' (the exploration evaluates both orders).
    Returns (on-chip copies per stage, KV on chip, reasons).
    """
    items = []
    for s in stages:
        size = stored_bytes(s, scheme, positions)
        if not size:
            continue
        saves = 1.0 / s.table_rows if s.kind == "embedding" else (1.0 / positions if s.const_elems else 1.0)
        items.append((saves, size, s))
    items.sort(key=lambda t: (-t[0], t[1]))
    left, onchip, reasons, kv_on = budget_bytes, {}, [], False
    candidates: list[tuple[float, int, Any]] = items + [(math.inf if kv_first else kv_saving, kv_bytes, None)]
    candidates.sort(key=lambda t: (-t[0], t[1]))
    for saves, size, s in candidates:
        if s is None:
            if 0 < kv_bytes <= left:
                kv_on, left = True, left - kv_bytes
            continue
        copies = min(s.count, left // size) if size else s.count
        if copies:
            onchip[s.name] = int(copies)
            left -= copies * size
    for s in stages:
        size = stored_bytes(s, scheme, positions)
        if not size:
            continue
        c = onchip.get(s.name, 0)
        where = "on chip" if c == s.count else ("off-chip" if c == 0 else f"{c}/{s.count} copies on chip")
        why = ("fits the on-chip budget" if c == s.count else
               "this design offers no on-chip memory to weights" if budget_bytes == 0 else
               "on-chip budget exhausted")
        why += "" if c == s.count else "; streamed by m_axi bursts over all channels"
        reasons.append(f"{s.name}: {_mb(size * s.count)} {where} ({why})")
    reasons.append(f"KV cache: {_mb(kv_bytes)} {'on chip' if kv_on else 'off-chip'}"
                   f" ({'fits what is left' if kv_on else 'does not fit what is left'})")
    return onchip, kv_on, reasons


def _mb(nbytes: float) -> str:
    return f"{nbytes / 1e6:.2f} MB" if nbytes >= 1e5 else f"{nbytes / 1e3:.1f} kB"


# ---- resources --------------------------------------------------------------------------------
def _mem_blocks(bits: int, width: int, use_uram: bool) -> tuple[int, int]:
    """(BRAM18, URAM) blocks for a memory of ``bits`` read ``width`` bits per cycle."""
    if bits <= 0:
        return 0, 0
    if use_uram:
        return 0, max(math.ceil(bits / URAM_BITS), math.ceil(width / 72))
    return max(math.ceil(bits / BRAM18_BITS), math.ceil(width / 36)), 0


def buffer_bits(stage: Stage, scheme: Scheme, tile: int) -> int:
    """On-chip buffer a stage needs to reuse its weights across a ``tile`` of tokens.

    A linear stage keeps the tile's inputs (``tile x k``; the layers after the last block run on
    one token), attention keeps the tile's keys and values, a norm keeps one token.
    """
    t = tile if stage.layered or stage.kind != "linear" or stage.n <= stage.k else 1
    if stage.kind == "linear":
        return t * stage.k * scheme.act_bits
    if stage.kind == "attention":
        return tile * 2 * stage.kv_heads * stage.head_dim * scheme.kv
    if stage.kind == "layernorm":
        return stage.n * scheme.act_bits
    return 0


def resources(stages: list[Stage], design: Design, scheme: Scheme, target: Target,
              prefill_tokens: int, positions: int, kv_bytes: int) -> dict[str, int]:
    """DSP, BRAM18, URAM, LUT, FF of a design (weights prefer URAM where the board has it)."""
    res = {"dsp": 0, "bram18": 0, "uram": 0, "lut": 0, "ff": 0}
    engines = lambda s: layer_engines(design, s.count) if s.layered else 1  # noqa: E731
    for s in stages:
        lanes = design.lanes.get(s.name, 1)
        e = engines(s)
        if s.kind in ("linear", "attention"):
            other = scheme.weight_bits if s.kind == "linear" else scheme.kv
            dsp = math.ceil(lanes / macs_per_dsp(scheme.act_bits, other))
        elif s.kind in ("layernorm",) or (s.kind == "eltwise" and s.const_elems):
            dsp = lanes
        else:
            dsp = 0
        res["dsp"] += e * dsp
        res["lut"] += e * (LUT_PER_STAGE + lanes * LUT_PER_LANE.get(s.kind, 20))
        # on-chip weights: width = lanes x weight bits read per cycle
        copies = design.onchip.get(s.name, 0)
        if copies:
            bits = copies * stored_bytes(s, scheme, positions) * 8
            wbits = scheme.weight_bits if s.kind == "linear" else scheme.act_bits
            b, u = _mem_blocks(bits, lanes * wbits, target.uram > 0)
            res["bram18"] += b
            res["uram"] += u
        # input buffers of a prefill tile, read one beat per cycle; tables of nonlinear stages
        buf = buffer_bits(s, scheme, prefill_tokens)
        blocks = _mem_blocks(buf, design.stream_width * scheme.act_bits, False)[0]
        res["bram18"] += e * (blocks + (2 if s.kind in ("act", "layernorm", "attention") else 0))
        res["lut"] += e * stream_luts(design.stream_width, scheme.act_bits)
        res["ff"] += e * stream_ffs(design.stream_width, scheme.act_bits)
    if design.kv_onchip:
        b, u = _mem_blocks(kv_bytes * 8, 2 * 72, target.uram > 0)
        res["bram18"] += b
        res["uram"] += u
    # per channel: m_axi adapter and a prefetch FIFO of port width
    res["bram18"] += design.channels * math.ceil(target.port_bits / 36)
    res["lut"] += design.channels * LUT_PER_CHANNEL
    # spill URAM demand into BRAM18 when the board has too little URAM (8 BRAM18 per URAM)
    over = res["uram"] - target.budget()["uram"]
    if over > 0:
        res["uram"] -= over
        res["bram18"] += over * (URAM_BITS // BRAM18_BITS)
    res["ff"] += int(res["lut"] * FF_PER_LUT)
    return res


def stream_ffs(width: int, act_bits: int) -> int:
    """Registers a stage's streams add beyond a scalar stream: its FIFOs (``STREAM_FIFO_BEATS``
    beats, in flip-flops) hold ``width - 1`` more elements each."""
    return STREAMS_PER_STAGE * STREAM_FIFO_BEATS * (max(1, width) - 1) * act_bits


def stream_luts(width: int, act_bits: int) -> int:
    """LUTs a stage's streams add beyond a scalar stream: about one per extra bit of each beat
    (the FIFO's write/read multiplexing and the pack/unpack of a beat into elements)."""
    return STREAMS_PER_STAGE * (max(1, width) - 1) * act_bits


def utilization(res: dict[str, int], target: Target) -> dict[str, float]:
    """Used / device total per resource (the budget is ``target.usable`` of that)."""
    return {k: (res[k] / getattr(target, k) if getattr(target, k) else (math.inf if res[k] else 0.0))
            for k in res}


def fits(res: dict[str, int], target: Target) -> bool:
    budget = target.budget()
    return all(res[k] <= budget[k] for k in res)


# ---- whole-design evaluation ------------------------------------------------------------------
@dataclass
class Operating:
    """The workload the figures are for: prompt length, generated tokens, batch sizes."""

    prompt: int = 128
    generate: int = 128
    batches: tuple[int, ...] = (1, 2, 4, 8, 16, 32)

    @property
    def decode_context(self) -> int:
        """Average context over the generation (prompt + half the generated tokens)."""
        return self.prompt + self.generate // 2

    @property
    def max_context(self) -> int:
        return self.prompt + self.generate


@dataclass
class Performance:
    """Modeled figures of one design (every time in seconds)."""

    decode_tps: float
    decode_step_s: float
    prefill_s: float
    ttft_s: float
    power_w: float
    tokens_per_j: float
    offchip_bytes_per_token: int
    roofline_tps: float  # peak bandwidth / this design's off-chip bytes per token
    roofline_all_offchip_tps: float  # peak bandwidth / every byte of every token off-chip
    resources: dict[str, int]
    utilization: dict[str, float]
    fits: bool
    batch_curve: list[dict[str, float]]
    stages_decode: list[StageCycles]
    stages_prefill: list[StageCycles]
    power_parts: dict[str, float]

    @property
    def fraction_of_roofline(self) -> float:
        return self.decode_tps / self.roofline_tps if self.roofline_tps else 0.0

    @property
    def fraction_of_all_offchip_roofline(self) -> float:
        return self.decode_tps / self.roofline_all_offchip_tps

    def to_json(self) -> dict[str, Any]:
        d = {k: v for k, v in asdict(self).items() if k not in ("stages_decode", "stages_prefill")}
        d["fraction_of_roofline"] = self.fraction_of_roofline
        d["fraction_of_all_offchip_roofline"] = self.fraction_of_all_offchip_roofline
        for phase in ("decode", "prefill"):
            d[f"stages_{phase}"] = [
                {**asdict(s), "cycles": s.total, "bound": s.bound} for s in getattr(self, f"stages_{phase}")
            ]
        return d


@lru_cache(maxsize=1 << 12)
def packed_stream(stage: Stage, lanes: int, width: int, weight_bits: int, channels: int) -> tuple[int, float]:
    """``(ports, stored / counted bytes)`` of an off-chip linear weight as the HLS backend stores it
    when a design gives it ``channels`` channels: the lanes it builds (``passes.parallelize
    .design_lanes``: full lane groups) form tile rows of ``outputs x inputs`` fields, packed by
    ``backends.hls.offchip.plan_packing`` into power-of-two words per port (a design rule of m_axi
    ports: no padded data types), so a port may carry zero fields and fewer ports than channels may
    be the fastest choice (e.g. 3,072 4-bit lanes: 24 ports of 128 fields; 32 ports would need
    96-field words)."""
    from ..backends.hls.offchip import container_bits, plan_packing
    from ..passes.parallelize import design_lanes

    built = design_lanes(lanes, stage.n, stage.k, width)
    out = min(built, stage.n)
    tile = out * (built // out)
    spec = plan_packing(tile, weight_bits, channels)
    if spec is None:  # whole C integers on one port
        return 1, container_bits(weight_bits) / weight_bits
    return spec.ports, spec.ports * spec.lanes_per_port * spec.bits / (tile * weight_bits)


def stage_stream(design: Design, stage: Stage, scheme: Scheme, mem: MemoryModel) -> tuple[MemoryModel, float]:
    """The memory one stage's off-chip traffic sees and the stored / counted bytes of its weights.

    ``design.stage_channels`` / ``weight_scale`` when they name the stage (a compiled project's
    m_axi ports and file sizes); else an off-chip KV cache of an attention stage with ``P`` keys per
    cycle is striped over ``P`` ports (one key row per port and cycle, the HLS backend's default),
    a streamed linear weight over the ports its packing takes (:func:`packed_stream`), and other
    streams over all the design's channels. Stages run one after another, so each may use all of
    them in turn.
    """
    ch, scale = design.stage_channels.get(stage.name), design.weight_scale.get(stage.name)
    if ch is None and scale is None and stage.kind not in ("linear", "attention"):
        return mem, 1.0  # the fast path of the exploration: all channels, the counted bytes
    if ch is None or scale is None:
        streamed = design.onchip.get(stage.name, 0) < stage.count
        ch0, scale0 = _default_stream(stage, design.lanes.get(stage.name, 1), design.stream_width,
                                      scheme.weight_bits, mem.channels, design.kv_onchip, streamed)
        ch = ch0 if ch is None else ch
        scale = scale0 if scale is None else scale
    return _channels_of(mem, max(1, min(ch, mem.channels))), scale


@lru_cache(maxsize=1 << 14)  # the exploration asks for the same stage settings many times
def _default_stream(stage: Stage, lanes: int, width: int, weight_bits: int, channels: int,
                    kv_onchip: bool, streamed: bool) -> tuple[int, float]:
    """``(channels, stored / counted bytes)`` of a stage's stream when no project says (:func:`stage_stream`)."""
    if stage.kind == "attention" and not kv_onchip:  # the cache's ports, as the HLS backend stripes it
        from ..backends.hls.emit import kv_ports

        return kv_ports(attention_keys(stage, lanes), onchip=False), 1.0
    if stage.kind == "linear" and streamed:
        return packed_stream(stage, lanes, width, weight_bits, channels)
    return channels, 1.0


@lru_cache(maxsize=1 << 10)
def _channels_of(mem: MemoryModel, channels: int) -> MemoryModel:
    """``mem`` with ``channels`` channels (same per-channel bandwidth, efficiency and latency)."""
    return mem if channels == mem.channels else replace(mem, channels=channels)


def design_stage_cycles(stage: Stage, design: Design, scheme: Scheme, mem: MemoryModel,
                        tokens: int, context: int) -> StageCycles:
    """:func:`predict_stage_cycles` of ``stage`` with ``design``'s lanes, placement, channels and
    stored weight bytes (:func:`stage_stream`)."""
    sub, scale = stage_stream(design, stage, scheme, mem)
    return predict_stage_cycles(stage, design.lanes.get(stage.name, 1), scheme, sub, tokens, context,
                                design.onchip.get(stage.name, 0), design.kv_onchip, design.stream_width, scale)


def _step_cycles(stages, design, scheme, mem, tokens, context) -> list[StageCycles]:
    return [design_stage_cycles(s, design, scheme, mem, tokens, context) for s in stages]


def layer_engines(design: Design, layers: int) -> int:
    """Block engines of ``design`` for ``layers`` layers: 1 (reused) .. ``layers`` (replicated)."""
    if not design.replicate:
        return 1
    return max(1, min(layers, design.engines or layers))


def decode_step_cycles(stages, design, scheme, mem, batch, context) -> tuple[int, list[StageCycles]]:
    """Cycles of one decode step producing ``batch`` tokens (one per sequence).

    One token streams through the chain of stages: the step is the sum of their latencies (or
    memory streams), the composition ``perf/validate.py`` checks against RTL cycles, plus the
    first stage loading its input and one memory latency. ``B`` tokens pass each stage in turn.
    """
    per = _step_cycles(stages, design, scheme, mem, batch, context)
    one = per if batch == 1 else _step_cycles(stages, design, scheme, mem, 1, context)
    lat1 = sum(p.chain for p in one) + (one[0].compute - one[0].latency if one else 0) + mem.latency_cycles
    if batch == 1:
        return max(1, lat1), per
    # B tokens pipeline through the chain: one latency, then B - 1 slowest intervals of each
    # engine's turn (interval: the extra cycles per token of a B-token pass); E block engines run
    # L / E layers each; weights stream once for all B tokens, so the step is also at least every
    # copy's memory stream
    gap = [(pb.compute - p1.compute) / (batch - 1) for pb, p1 in zip(per, one)]
    L = max((s.count for s in stages if s.layered), default=1)
    turns = -(-L // layer_engines(design, L))
    slowest = turns * max((g for g, s in zip(gap, stages) if s.layered), default=0.0)
    slowest += sum(g * s.count for g, s in zip(gap, stages) if not s.layered)
    streams = sum(p._copies(0) for p in per) + mem.latency_cycles
    pipelined = int(math.ceil(max(lat1 + (batch - 1) * slowest, streams)))
    return min(sum(p.total for p in per) + mem.latency_cycles, pipelined), per


def prefill_cycles(stages, design, scheme, mem, prompt) -> tuple[int, list[StageCycles]]:  # noqa: C901
    """Cycles to consume the prompt and produce the first token's logits.

    The prompt runs in passes of at most ``design.prefill_tile`` tokens (weights are read once per
    pass). Stages after the last transformer block (final norm, LM head) run for the last position
    only. Without replication each layer takes max(slowest stage, layer weight bytes / bandwidth)
    plus the fill time of one token through its stages; with replication all layers pipeline.
    """
    tile = min(prompt, design.prefill_tile)
    passes = -(-prompt // tile)
    last_layered = max((i for i, s in enumerate(stages) if s.layered), default=-1)

    def pc(i: int, s: Stage, tokens: int) -> StageCycles:
        t = 1 if (i > last_layered and not s.layered) else tokens
        return design_stage_cycles(s, design, scheme, mem, t, 0)

    per = [pc(i, s, tile) for i, s in enumerate(stages)]
    fill = [pc(i, s, 1).compute for i, s in enumerate(stages)]
    mem_of = lambda p, copies: (copies - min(copies, p.onchip_copies)) * p.memory + min(copies, p.onchip_copies) * p.memory_onchip_copy  # noqa: E731
    L = max([s.count for s in stages if s.layered], default=0)
    E = layer_engines(design, L)
    if design.replicate and E >= L:
        head = [i for i in range(len(stages)) if i <= last_layered]
        body = max(max((per[i].compute for i in head), default=0), sum(mem_of(per[i], per[i].count) for i in head))  # head may be empty: no layers
        one_pass = body + sum(fill[i] * stages[i].count for i in head)
    else:
        # E engines run L / E layers each in turn, sharing the bandwidth; E = 1: one reused engine
        layered = [i for i, s in enumerate(stages) if s.layered]
        layer_mem = sum(mem_of(per[i], per[i].count) for i in layered) / max(1, L)
        layer = max([per[i].compute for i in layered] + [layer_mem]) + sum(fill[i] for i in layered)
        one_pass = (max(-(-L // E) * layer, L * layer_mem) + (E - 1) * sum(fill[i] for i in layered)
                    + sum(per[i].total for i, s in enumerate(stages) if not s.layered and i < last_layered))
    tail = sum(per[i].total for i in range(last_layered + 1, len(stages)))
    return int(math.ceil(passes * one_pass + tail)) + mem.latency_cycles, per


def evaluate(stages: list[Stage], design: Design, scheme: Scheme, target: Target,
             op: Operating | None = None, eta: float | None = None, detail: bool = True,
             res: dict[str, int] | None = None) -> Performance:
    """All modeled figures of ``design`` on ``target`` for the workload ``op``.

    ``detail=False`` skips the latency-versus-batch curve (the exploration's fast path); ``res``:
    the design's :func:`resources` when the caller has them already.
    """
    op = op or Operating()
    mem = MemoryModel.of(target, design.channels, eta)
    f = target.clock_mhz * 1e6
    ctx = op.decode_context
    step, per_dec = decode_step_cycles(stages, design, scheme, mem, 1, ctx)
    pre, per_pre = prefill_cycles(stages, design, scheme, mem, op.prompt)
    decode_s = step / f
    off_bytes = offchip_bytes_per_token(stages, design, scheme, ctx)
    all_bytes = _all_offchip_bytes(tuple(stages), scheme, ctx)
    peak = target.memory.total_gbps * 1e9
    kv_bytes = kv_cache_bytes(stages, scheme, op.max_context)
    if res is None:
        res = resources(stages, design, scheme, target, min(op.prompt, design.prefill_tile), op.max_context, kv_bytes)
    busy = sum(p.count * p.compute for p in per_dec) / max(1, step)
    pw = estimate_power(target, res, busy, off_bytes / decode_s)
    curve = []
    for b in op.batches if detail else ():
        cyc, _ = decode_step_cycles(stages, design, scheme, mem, b, ctx)
        curve.append({"batch": b, "step_ms": cyc / f * 1e3, "tokens_per_s": b * f / cyc})
    return Performance(
        decode_tps=1.0 / decode_s, decode_step_s=decode_s, prefill_s=pre / f, ttft_s=pre / f,
        power_w=pw.total_w, tokens_per_j=(1.0 / decode_s) / pw.total_w,
        offchip_bytes_per_token=off_bytes,
        roofline_tps=peak / off_bytes if off_bytes else math.inf,
        roofline_all_offchip_tps=peak / all_bytes,
        resources=res, utilization=utilization(res, target), fits=fits(res, target),
        batch_curve=curve, stages_decode=per_dec, stages_prefill=per_pre,
        power_parts={"static_w": pw.static_w, "fabric_w": pw.fabric_w, "memory_w": pw.memory_w},
    )


@lru_cache(maxsize=256)  # the same for every design of an exploration
def _all_offchip_bytes(stages: tuple[Stage, ...], scheme: Scheme, context: int) -> int:
    return offchip_bytes_per_token(list(stages), Design(lanes={}), scheme, context)


def offchip_bytes_per_token(stages: list[Stage], design: Design, scheme: Scheme, context: int) -> int:
    """Off-chip bytes one decode token reads and writes (weights not on chip + KV cache)."""
    total = 0
    for s in stages:
        w = stage_work(s, scheme, 1, context)
        off = s.count - design.onchip.get(s.name, 0)
        total += off * w.weight_bytes
        if not design.kv_onchip:
            total += s.count * (w.kv_read_bytes + w.kv_write_bytes)
    return total
