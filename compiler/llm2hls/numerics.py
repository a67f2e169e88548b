"""Bit-exact fixed-point primitives shared by the reference interpreter and mirrored by backends.

Every integer op of the reference is built from these functions, and each has an exact C++
counterpart in ``templates/hls/llm2hls_numerics.h`` (and a Verilog one in the RTL library), so a
single definition of rounding, overflow, integer square root and division holds everywhere.
All values are raw two's-complement integers held in ``numpy.int64`` arrays; intermediate values
must stay within 62 bits, which the quantizer proves from shapes when it sizes accumulators.
See ``docs/numerics.md`` for the scheme and a worked example.
"""

from __future__ import annotations

import math

import numpy as np

from .ir.types import FixedType

INT = np.int64


def as_raw(x: np.ndarray | int) -> np.ndarray:
    """View ``x`` as an int64 array of raw fixed-point values."""
    return np.asarray(x, dtype=INT)


def round_shift(raw: np.ndarray, shift: int, rounding: str = "RND") -> np.ndarray:
    """Divide by ``2**shift`` (``shift >= 0``) with the given rounding mode (see FixedType).

    ``shift <= 0`` is an exact left shift.
    """
    raw = as_raw(raw)
    if shift <= 0:
        return raw << INT(-shift)
    floor = raw >> INT(shift)  # arithmetic shift: floor division by 2**shift
    if rounding == "TRN":
        return floor
    half = INT(1) << INT(shift - 1)
    if rounding == "RND":
        return (raw + half) >> INT(shift)
    rem = raw - (floor << INT(shift))
    if rounding == "RND_CONV":
        tie_up = (rem == half) & ((floor & 1) == 1)
    elif rounding == "RND_ZERO":
        tie_up = (rem == half) & (raw < 0)
    else:
        raise ValueError(f"unknown rounding mode {rounding!r}")
    return floor + ((rem > half) | tie_up).astype(INT)


def overflow(raw: np.ndarray, t: FixedType) -> np.ndarray:
    """Bring ``raw`` into the range of ``t`` with its overflow mode (saturate or wrap)."""
    raw = as_raw(raw)
    if t.overflow == "SAT":
        return np.clip(raw, t.raw_min, t.raw_max)
    if t.overflow == "SAT_SYM":
        lo = -t.raw_max if t.signed else 0
        return np.clip(raw, lo, t.raw_max)
    mask = INT((1 << t.width) - 1) if t.width < 64 else INT(-1)
    wrapped = raw & mask
    if t.signed and t.width < 64:
        sign = INT(1) << INT(t.width - 1)
        wrapped = (wrapped ^ sign) - sign
    return wrapped


def convert(raw: np.ndarray, from_frac: int, t: FixedType) -> np.ndarray:
    """Convert raw values with ``from_frac`` fraction bits into type ``t``.

    This is exactly what assigning a wider ``ap_fixed`` to a variable of type ``t`` does in
    Vitis HLS: first quantize (rounding mode), then handle overflow.
    """
    return overflow(round_shift(raw, from_frac - t.frac, t.rounding), t)


def quantize(x: np.ndarray, t: FixedType) -> np.ndarray:
    """Quantize real values into raw values of ``t`` (rounding and overflow modes of ``t``)."""
    scaled = np.asarray(x, dtype=np.float64) * (2.0 ** t.frac)
    if t.rounding == "TRN":
        q = np.floor(scaled)
    elif t.rounding == "RND":
        q = np.floor(scaled + 0.5)
    elif t.rounding == "RND_CONV":
        q = np.round(scaled)  # numpy rounds half to even
    else:  # RND_ZERO
        q = np.where(scaled >= 0, np.ceil(scaled - 0.5), np.floor(scaled + 0.5))
    lim = float(2**62)
    q = np.clip(q, -lim, lim)
    return overflow(q.astype(INT), t)


def dequantize(raw: np.ndarray, t: FixedType) -> np.ndarray:
    """Real values (float64) of raw values of type ``t``."""
    return as_raw(raw).astype(np.float64) * t.lsb


def isqrt(x: np.ndarray) -> np.ndarray:
    """Exact ``floor(sqrt(x))`` of non-negative int64 values (C++: ``llm2hls::isqrt``)."""
    x = as_raw(x)
    if np.any(x < 0):
        raise ValueError("isqrt of a negative value")
    r = np.floor(np.sqrt(x.astype(np.float64))).astype(INT)
    # float64 sqrt can be off by one for values above 2**52: correct both ways.
    r = np.where(r * r > x, r - 1, r)
    r = np.where((r + 1) * (r + 1) <= x, r + 1, r)
    return r


def div_trunc(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """Integer division rounding toward zero, as C++ ``/`` does on signed integers."""
    num, den = as_raw(num), as_raw(den)
    q = np.abs(num) // np.abs(den)
    return np.where((num < 0) ^ (den < 0), -q, q)


def bits_for(max_abs: float | int, signed: bool = True) -> int:
    """Bits needed to hold integers of magnitude up to ``max_abs`` (plus a sign bit if signed)."""
    m = int(math.ceil(max_abs))
    return max(1, m.bit_length()) + (1 if signed else 0)


def exact_matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Integer matrix product, exact, fast: done in float64 through BLAS.

    Exact while every partial sum stays below 2**53 in magnitude, which the quantizer guarantees
    (it proves accumulator widths from shapes); asserted here on the bound, not the values.
    """
    a, b = as_raw(a), as_raw(b)
    bound = (
        float(np.abs(a).max(initial=0)) * float(np.abs(b).max(initial=0)) * max(a.shape[-1], 1)
    )
    if bound >= 2.0**53:
        return a @ b  # slow exact int64 path
    return np.rint(a.astype(np.float64) @ b.astype(np.float64)).astype(INT)
