"""RMSNorm written out as ``x * rsqrt(mean(x**2, -1, keepdim=True) + eps)`` (Llama, Gemma ...)
becomes one ``layernorm`` stage with ``kind="rms"``; the gain that follows is folded into it by
canonicalization. (The fused ``aten.rms_norm`` op is handled in :mod:`.nn`.)"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch

from ..lower import Lowerer, register_lowering
from ..values import Act, Pointwise, RowStat, scalar_of
from .nn import channels_last

aten = torch.ops.aten

SQUARES = {("pow", ("x",), ("c", 2.0)), ("mul", ("x",), ("x",))}


@register_lowering(aten.mean)
def mean(lw: Lowerer, node: torch.fx.Node, **kw: Any) -> RowStat:
    x, dims = kw["self"], kw.get("dim")
    last = len(x.shape) - 1
    if not (isinstance(x, Pointwise) and x.expr in SQUARES and kw.get("keepdim")
            and dims is not None and [d % len(x.shape) for d in dims] == [last]):
        raise lw.unsupported("mean over activations is only supported as mean(x**2, -1, keepdim=True) of RMSNorm")
    return RowStat(x.base)


def rowstat_binary(lw: Lowerer, node: torch.fx.Node, fn: str, a: Any, b: Any) -> Any:
    """``stat + eps`` and ``x * rsqrt(stat + eps)``."""
    stat, other = (a, b) if isinstance(a, RowStat) else (b, a)
    eps = scalar_of(other)
    if fn == "add" and not stat.inverse and eps is not None:
        return dataclasses.replace(stat, eps=stat.eps + eps)
    if fn == "mul" and stat.inverse and isinstance(other, (Act, Pointwise)):
        from .pointwise import _relation

        x = lw.as_act(other)
        if _relation(x, stat.base) == "same":
            name, axis, shape = channels_last(lw, x, x.shape[-1], "rms norm")
            (out,) = lw.emit("layernorm", [name], [x.shape[-1]], {"kind": "rms", "eps": float(stat.eps)})
            return lw.fresh(out, shape, axis)
    raise lw.unsupported("the mean of squares is only supported inside x * rsqrt(mean(x**2) + eps)")


def rowstat_unary(lw: Lowerer, fn: str, stat: RowStat) -> RowStat:
    if fn == "rsqrt" and not stat.inverse:
        return dataclasses.replace(stat, inverse=True)
    raise lw.unsupported("the mean of squares is only supported inside x * rsqrt(mean(x**2) + eps)")
