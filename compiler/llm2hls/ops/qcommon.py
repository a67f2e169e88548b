"""Small helpers shared by the op kinds' ``quantize``, ``cost`` and ``hls_context`` methods."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from ..ir.types import FixedType, NumType, TensorType, numtype_from_json

if TYPE_CHECKING:
    from ..ir.graph import Graph, Node

BRAM18_BITS = 18 * 1024
"""Bits of one BRAM18 block."""

LUTRAM_MAX_BITS = 1024
"""Memories up to this size are assumed to map to LUTRAM/registers, not BRAM (report estimate)."""


def dtype(graph: "Graph", tensor: str) -> NumType:
    return graph.tensors[tensor].type.dtype


def fixed(graph: "Graph", tensor: str) -> FixedType:
    """The FixedType of a quantized tensor (raises if it is still float)."""
    t = graph.tensors[tensor].type.dtype
    if not isinstance(t, FixedType):
        raise RuntimeError(f"tensor {tensor!r} is not quantized yet")
    return t


def set_type(graph: "Graph", tensor: str, t: NumType) -> None:
    """Give ``tensor`` the numeric type ``t`` (same shape)."""
    tt = graph.tensors[tensor]
    tt.type = TensorType(tt.type.shape, t)


def add_qparam(node: "Node", key: str, raw: np.ndarray, t: FixedType) -> None:
    """Store an integer param ``q_...`` with its C type and bit width (see docs/architecture.md)."""
    from ..ir.graph import Param

    raw = np.asarray(raw, dtype=np.int64)
    if raw.size and (raw.min() < t.raw_min or raw.max() > t.raw_max):
        raise RuntimeError(f"{node.name}.{key}: raw values do not fit {t}")
    node.params[key] = Param(raw, node.params[key].placement if key in node.params else "onchip")
    node.attrs.setdefault("param_types", {})[key] = t.to_json()
    node.attrs.setdefault("param_bits", {})[key] = t.width


def param_type(node: "Node", key: str) -> FixedType:
    t = numtype_from_json(node.attrs["param_types"][key])
    assert isinstance(t, FixedType)
    return t


def attr_type(node: "Node", key: str) -> FixedType:
    """A FixedType stored in ``node.attrs[key]`` as JSON."""
    t = numtype_from_json(node.attrs[key])
    assert isinstance(t, FixedType)
    return t


def int_bits_for(max_abs: int) -> int:
    """Width of a signed integer type holding every value of magnitude <= ``max_abs``."""
    return max(int(max_abs).bit_length(), 1) + 1


def ceil_log2(n: int) -> int:
    return max(int(n) - 1, 0).bit_length()


def dsp_per_mul(a_bits: int, b_bits: int) -> int:
    """DSP48E2 slices for one ``a x b`` multiplier (27x18 signed tiles; tiny products use LUTs)."""
    if min(a_bits, b_bits) <= 4:
        return 0
    a, b = max(a_bits, b_bits), min(a_bits, b_bits)
    return math.ceil(a / 26) * math.ceil(b / 17)


def bram18(bits_per_bank: int, banks: int = 1) -> int:
    """BRAM18 blocks for ``banks`` memories of ``bits_per_bank`` bits (small ones go to LUTRAM)."""
    if bits_per_bank <= LUTRAM_MAX_BITS:
        return 0
    return banks * math.ceil(bits_per_bank / BRAM18_BITS)


def storage_ctype(t: FixedType) -> str:
    """The smallest plain C integer type holding raw values of ``t`` (weights are stored raw)."""
    for bits in (8, 16, 32, 64):
        if t.width <= bits:
            return f"{'' if t.signed else 'u'}int{bits}_t"
    raise ValueError(f"{t} is wider than 64 bits")


def port(graph: "Graph", tensor: str) -> dict[str, Any]:
    """Template description of one stream port."""
    tt = graph.tensors[tensor].type
    return {"name": tensor, "ctype": f"{tensor}_t", "shape": list(tt.shape), "numel": tt.numel}
