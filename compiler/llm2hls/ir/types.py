"""Numeric and tensor types of the IR.

Every IR tensor carries a :class:`TensorType`: a shape and a numeric type, either
:class:`FloatType` (before quantization, or with ``--quant float``) or :class:`FixedType`
(an ``ap_fixed``/``ap_int``-like two's-complement integer with a binary point).

A fixed-point value is stored as its *raw* integer ``r``; it means ``r * 2**-frac``.
``frac`` may be negative or larger than ``width`` exactly as in ``ap_fixed<W, I>`` where
``I = width - frac``. The rounding and overflow modes say what happens when a wider value is
*converted into* this type (see :func:`llm2hls.numerics.convert`), exactly as the Q and O
template arguments of ``ap_fixed<W, I, Q, O>`` do.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Union

ROUNDING_MODES = ("TRN", "RND", "RND_CONV", "RND_ZERO")
"""Supported quantization modes, named as in Vitis HLS (``AP_TRN`` ...).

TRN: floor (truncate toward -inf); RND: round half toward +inf; RND_CONV: round half to even;
RND_ZERO: round half toward zero.
"""

OVERFLOW_MODES = ("SAT", "WRAP", "SAT_SYM")
"""Supported overflow modes: saturate, two's-complement wrap, symmetric saturation."""


@dataclass(frozen=True)
class FloatType:
    """IEEE floating point (32 bits by default): the type of the unquantized graph."""

    bits: int = 32

    @property
    def is_fixed(self) -> bool:
        return False

    def c_type(self) -> str:
        return "float" if self.bits == 32 else "double"

    def to_json(self) -> dict[str, Any]:
        return {"kind": "float", "bits": self.bits}

    def __str__(self) -> str:
        return f"f{self.bits}"


@dataclass(frozen=True)
class FixedType:
    """A fixed-point (or, with ``frac == 0``, integer) type: ``ap_fixed<width, width - frac>``."""

    width: int
    frac: int
    signed: bool = True
    rounding: str = "RND"
    overflow: str = "SAT"

    def __post_init__(self) -> None:
        if not 1 <= self.width <= 128:
            raise ValueError(f"fixed-point width {self.width} is outside 1..128")
        if self.rounding not in ROUNDING_MODES:
            raise ValueError(f"unknown rounding mode {self.rounding!r}; use one of {ROUNDING_MODES}")
        if self.overflow not in OVERFLOW_MODES:
            raise ValueError(f"unknown overflow mode {self.overflow!r}; use one of {OVERFLOW_MODES}")

    @property
    def is_fixed(self) -> bool:
        return True

    @property
    def int_bits(self) -> int:
        """Integer bits including the sign bit (the ``I`` of ``ap_fixed<W, I>``)."""
        return self.width - self.frac

    @property
    def raw_min(self) -> int:
        return -(1 << (self.width - 1)) if self.signed else 0

    @property
    def raw_max(self) -> int:
        return (1 << (self.width - 1)) - 1 if self.signed else (1 << self.width) - 1

    @property
    def lsb(self) -> float:
        """The value of one least significant bit."""
        return 2.0 ** -self.frac

    @property
    def max_value(self) -> float:
        return self.raw_max * self.lsb

    def c_type(self) -> str:
        """The Vitis HLS C++ spelling of this type."""
        if self.frac == 0 and self.rounding == "TRN" and self.overflow == "WRAP":
            return f"ap_{'' if self.signed else 'u'}int<{self.width}>"
        base = "ap_fixed" if self.signed else "ap_ufixed"
        return f"{base}<{self.width}, {self.int_bits}, AP_{self.rounding}, AP_{self.overflow}>"

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": "fixed",
            "width": self.width,
            "frac": self.frac,
            "signed": self.signed,
            "rounding": self.rounding,
            "overflow": self.overflow,
        }

    def __str__(self) -> str:
        sign = "s" if self.signed else "u"
        return f"{sign}fix<{self.width},{self.frac}>"


NumType = Union[FloatType, FixedType]


def int_type(width: int, signed: bool = True) -> FixedType:
    """A plain integer type (``ap_int<width>``): no fraction bits, truncating, wrapping."""
    return FixedType(width, 0, signed, rounding="TRN", overflow="WRAP")


def numtype_from_json(data: dict[str, Any]) -> NumType:
    if data["kind"] == "float":
        return FloatType(data.get("bits", 32))
    if data["kind"] == "fixed":
        return FixedType(
            data["width"], data["frac"], data["signed"], data["rounding"], data["overflow"]
        )
    raise ValueError(f"unknown numeric type kind {data['kind']!r}")


@dataclass
class TensorType:
    """Shape and numeric type of one IR tensor.

    Activation tensors are token-major: ``[tokens, channels]`` (batch 1). They travel as streams
    in row order (token by token, channel by channel within a token). Integer inputs such as token
    ids are ``[tokens]``.
    """

    shape: tuple[int, ...]
    dtype: NumType = field(default_factory=FloatType)

    @property
    def numel(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n

    def to_json(self) -> dict[str, Any]:
        return {"shape": list(self.shape), "dtype": self.dtype.to_json()}

    @staticmethod
    def from_json(data: dict[str, Any]) -> "TensorType":
        return TensorType(tuple(data["shape"]), numtype_from_json(data["dtype"]))

    def __str__(self) -> str:
        return f"{self.dtype}[{'x'.join(map(str, self.shape))}]"
