"""Small helpers shared by the RTL stage emitters: type codes, convert parameters, memory files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ...ir.types import FixedType, TensorType

ROUND_CODE = {"TRN": 0, "RND": 1, "RND_CONV": 2, "RND_ZERO": 3}
"""``ROUND`` parameter of ``l2h_convert`` per FixedType rounding mode."""
OVF_CODE = {"SAT": 0, "WRAP": 1, "SAT_SYM": 2}
"""``OVF`` parameter of ``l2h_convert`` per FixedType overflow mode."""

LIB_DIR = Path(__file__).resolve().parents[3].parent / "templates" / "rtl" / "lib"


def lib_dir() -> Path:
    """Folder of the Verilog operator library (``templates/rtl/lib``), installed or in the tree."""
    try:
        from importlib.resources import files

        p = Path(str(files("llm2hls.templates") / "rtl" / "lib"))
        if p.is_dir():
            return p
    except ModuleNotFoundError:
        pass
    return LIB_DIR


def fixed(t: TensorType | FixedType) -> FixedType:
    """The FixedType of a tensor type (RTL needs quantized graphs)."""
    dt = t.dtype if isinstance(t, TensorType) else t
    if not isinstance(dt, FixedType):
        raise TypeError(f"RTL needs fixed-point types, got {dt}")
    return dt


def out_params(t: FixedType, shift: int) -> dict[str, int]:
    """``l2h_convert`` parameters (as used by every operator) converting into ``t``."""
    return {
        "SHIFT": shift,
        "OW": t.width,
        "OS": int(t.signed),
        "ROUND": ROUND_CODE[t.rounding],
        "OVF": OVF_CODE[t.overflow],
    }


def hex_words(raw: np.ndarray, width: int) -> list[str]:
    """Two's-complement hex spelling of raw integers in ``width`` bits (one ``$readmemh`` word each)."""
    digits = (width + 3) // 4
    mask = (1 << width) - 1
    return [format(int(v) & mask, f"0{digits}x") for v in np.asarray(raw).reshape(-1)]


def packed_words(raw: np.ndarray, width: int) -> list[str]:
    """Rows of ``raw`` [R, L] packed into one word each, column 0 in the low bits."""
    raw = np.asarray(raw)
    mask = (1 << width) - 1
    digits = (raw.shape[1] * width + 3) // 4
    words = []
    for row in raw:
        w = 0
        for i, v in enumerate(row):
            w |= (int(v) & mask) << (i * width)
        words.append(format(w, f"0{digits}x"))
    return words


def write_mem(path: Path, words: list[str], comment: str) -> None:
    """Write a ``$readmemh`` file (a leading comment line says what it holds)."""
    path.write_text(f"// {comment}\n" + "\n".join(words) + "\n")


def vparam(v: Any) -> str:
    """A Verilog parameter value: strings quoted, 32-bit integers as-is, wider ones as sized
    64-bit literals (an unsized literal is only 32 bits wide)."""
    if isinstance(v, str):
        return f'"{v}"'
    v = int(v)
    if -(2**31) <= v < 2**31:
        return str(v)
    if not 0 <= v < 2**64:
        raise ValueError(f"parameter value {v} does not fit 64 unsigned bits")
    return f"64'd{v}"
