"""Piecewise-linear function tables: the one integer realization of every scalar nonlinearity.

A table approximates ``f`` on the raw inputs ``lo .. hi`` (``hi = lo + size * 2**shift - 1``) of a
fixed-point input with ``in_frac`` fraction bits. Entry ``i`` sits at raw input ``lo + i*2**shift``;
two arrays hold, per interval, the quantized value at its left end (``base``) and the difference
to the next entry (``slope``), both integers with ``frac`` fraction bits (``frac`` = output frac +
``guard`` bits). For ``lo <= x <= hi`` (raw), with ``u = x - lo``::

    i   = u >> shift                       # which interval
    low = u & (2**shift - 1)               # position inside it
    acc = base[i] * 2**shift + slope[i] * low     # exact, frac = frac + shift
    y   = convert(acc, frac + shift, out_type)    # = ap_fixed assignment

Outside the range a *tail* applies: ``zero`` (y = 0), ``identity`` (y = convert(x, in_frac,
out_type)) or ``clamp`` (x is clamped to lo/hi first). The C++ mirror is
``llm2hls::nl::table_lookup`` in ``templates/hls/llm2hls_nonlinear.h``.

Tables are built once in Python from :mod:`llm2hls.ops.functions` and emitted as constants; the
reference (:func:`table_eval`) indexes them exactly as the hardware does.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Callable

import numpy as np

from ..ir.types import FixedType, int_type
from ..numerics import INT, as_raw, bits_for, convert, quantize

TAILS = ("zero", "identity", "clamp")
DEFAULT_TABLE_BITS = 10  # 1024 entries: one or two BRAM18 per array
DEFAULT_GUARD = 4  # extra fraction bits of the entries over the output type


@dataclass(frozen=True)
class TableSpec:
    """Everything the lookup needs besides the two arrays (JSON-able; stored in node attrs)."""

    lo: int  # raw input of entry 0
    shift: int  # log2 of the raw input step between entries
    size: int  # number of entries (a power of two)
    frac: int  # fraction bits of the entries
    in_frac: int  # fraction bits of the input
    tail_lo: str  # behaviour for x < lo
    tail_hi: str  # behaviour for x > hi
    acc_bits: int  # signed width that holds base*2**shift + slope*low (proved from the entries)

    @property
    def hi(self) -> int:
        return self.lo + (self.size << self.shift) - 1

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @staticmethod
    def from_json(d: dict[str, Any]) -> "TableSpec":
        return TableSpec(**{k: d[k] for k in TableSpec.__dataclass_fields__})


def fixed_for_max(max_abs: float, bits: int, signed: bool = True) -> FixedType:
    """The ``bits``-wide RND/SAT type whose range just covers ``max_abs`` (calibration rule)."""
    max_abs = float(max_abs)
    if not math.isfinite(max_abs) or max_abs <= 0.0:
        max_abs = 1.0
    int_bits = math.ceil(math.log2(max_abs))
    return FixedType(bits, bits - int_bits - (1 if signed else 0), signed, "RND", "SAT")


def act_type_for(config: Any, max_abs: float) -> FixedType:
    """The activation type of a calibrated magnitude: ``config.act_type`` (passes.quantize), or
    the same rule (:func:`fixed_for_max`) for configs without it."""
    if hasattr(config, "act_type"):
        return config.act_type(max_abs)
    return fixed_for_max(max_abs, getattr(config, "act_bits", 16))


def build_table(
    f: Callable[[np.ndarray], np.ndarray],
    in_frac: int,
    out_type: FixedType,
    lo: int,
    span_bits: int,
    size_bits: int,
    tails: tuple[str, str],
    guard: int = DEFAULT_GUARD,
) -> tuple[np.ndarray, np.ndarray, TableSpec]:
    """Tabulate ``f`` over raw inputs ``[lo, lo + 2**span_bits)`` with ``2**size_bits`` entries.

    Returns ``(base, slope, spec)``. Entries are clipped to the output range (times ``2**guard``)
    so an interpolated value never leaves it by more than the final rounding.
    """
    if tails[0] not in TAILS or tails[1] not in TAILS:
        raise ValueError(f"unknown table tails {tails}; use {TAILS}")
    size_bits = min(size_bits, span_bits)
    shift = span_bits - size_bits
    size = 1 << size_bits
    frac = out_type.frac + guard
    xs = (lo + (np.arange(size + 1, dtype=np.float64) * float(1 << shift))) * 2.0**-in_frac
    with np.errstate(over="ignore", invalid="ignore"):
        vals = np.asarray(f(xs), dtype=np.float64) * 2.0**frac
    lim_lo, lim_hi = out_type.raw_min << guard, out_type.raw_max << guard
    ent = np.floor(np.clip(np.nan_to_num(vals, nan=0.0), lim_lo, lim_hi) + 0.5).astype(INT)
    base, slope = ent[:-1].copy(), np.diff(ent)
    peak = max(abs(lim_lo), abs(lim_hi)) << shift
    peak += int(np.abs(slope).max(initial=0)) * ((1 << shift) - 1)
    spec = TableSpec(lo, shift, size, frac, in_frac, tails[0], tails[1], bits_for(peak))
    return base, slope, spec


def table_eval(raw: np.ndarray, spec: TableSpec, base: np.ndarray, slope: np.ndarray,
               out_type: FixedType) -> np.ndarray:
    """Exact integer lookup with interpolation and tails (the golden model of the C++)."""
    x = as_raw(raw)
    xc = np.clip(x, spec.lo, spec.hi)
    u = xc - INT(spec.lo)
    i = u >> INT(spec.shift)
    low = u & INT((1 << spec.shift) - 1)
    acc = (as_raw(base)[i] << INT(spec.shift)) + as_raw(slope)[i] * low
    y = convert(acc, spec.frac + spec.shift, out_type)
    for side, sel in (("lo", x < spec.lo), ("hi", x > spec.hi)):
        tail = getattr(spec, f"tail_{side}")
        if tail == "zero":
            y = np.where(sel, INT(0), y)
        elif tail == "identity":
            y = np.where(sel, convert(x, spec.in_frac, out_type), y)
    return y


def entry_types(base: np.ndarray, slope: np.ndarray) -> dict[str, FixedType]:
    """C types (plain signed integers) of the base and slope arrays."""
    return {
        "base": int_type(bits_for(int(np.abs(base).max(initial=0)))),
        "slope": int_type(bits_for(int(np.abs(slope).max(initial=0)))),
    }


def fit_table(
    f: Callable[[np.ndarray], np.ndarray],
    in_type: FixedType,
    out_type: FixedType,
    tails: tuple[str, str],
    max_size_bits: int = DEFAULT_TABLE_BITS,
    min_size_bits: int = 5,
    guard: int = DEFAULT_GUARD,
) -> tuple[np.ndarray, np.ndarray, TableSpec]:
    """The smallest table over the narrowest power-of-two input span that is accurate.

    The span is the narrowest one (centred on 0 for signed inputs, starting at 0 for unsigned)
    outside which the tails are within one output LSB of ``f``; the entry count is the smallest
    power of two (``min_size_bits .. max_size_bits``) whose worst error over every representable
    input is at most one output LSB, else ``2**max_size_bits``.
    """
    xs = _sample_inputs(in_type)
    ideal = quantize(f(xs * in_type.lsb), out_type)
    sign = 1 if in_type.signed else 0
    span_bits = in_type.width
    for p in range(1, in_type.width + 1):
        lo = -(1 << (p - 1)) if sign else 0
        _, _, spec = build_table(f, in_type.frac, out_type, lo, p, min(p, max_size_bits), tails, guard)
        outside = (xs < spec.lo) | (xs > spec.hi)
        if not outside.any():
            span_bits = p
            break
        tail_y = _tail_only(xs[outside], spec, f, out_type)
        if np.abs(tail_y - ideal[outside]).max() <= 1:
            span_bits = p
            break
    lo = -(1 << (span_bits - 1)) if sign else 0
    best = None
    for t in range(min(min_size_bits, span_bits), min(max_size_bits, span_bits) + 1):
        best = build_table(f, in_type.frac, out_type, lo, span_bits, t, tails, guard)
        if np.abs(table_eval(xs, best[2], best[0], best[1], out_type) - ideal).max() <= 1:
            break
    assert best is not None
    return best


def _tail_only(x: np.ndarray, spec: TableSpec, f, out_type: FixedType) -> np.ndarray:
    """What the tails give for inputs outside the range (clamp: f at the nearest end)."""
    y = np.empty_like(x)
    for side, sel, edge in (("lo", x < spec.lo, spec.lo), ("hi", x > spec.hi, spec.hi)):
        tail = getattr(spec, f"tail_{side}")
        if tail == "zero":
            y[sel] = 0
        elif tail == "identity":
            y[sel] = convert(x[sel], spec.in_frac, out_type)
        else:
            y[sel] = quantize(f(np.array([edge * 2.0**-spec.in_frac])), out_type)[0]
    return y


def _sample_inputs(t: FixedType, limit_bits: int = 18) -> np.ndarray:
    """Every raw value of ``t`` if it is narrow, else a dense sample including both ends."""
    if t.width <= limit_bits:
        return np.arange(t.raw_min, t.raw_max + 1, dtype=INT)
    grid = np.linspace(t.raw_min, t.raw_max, 1 << limit_bits)
    pts = np.concatenate([grid, [t.raw_min, t.raw_max, 0, 1, -1]])
    pts = pts[(pts >= t.raw_min) & (pts <= t.raw_max)]
    return np.unique(np.round(pts).astype(INT))
