"""Stages with weights: embedding, linear (linear/addmm/mm/matmul with a constant), LayerNorm,
RMSNorm."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..lower import Lowerer, register_lowering
from ..values import Act, is_symbolic

aten = torch.ops.aten


def to_param(t: torch.Tensor) -> np.ndarray:
    """A float32 numpy copy of a constant tensor."""
    return t.detach().to(torch.float32).contiguous().numpy().copy()


def _const(lw: Lowerer, v: Any, what: str) -> torch.Tensor:
    if is_symbolic(v):
        raise lw.unsupported(f"the {what} depends on the model inputs; only constant {what}s are supported")
    return torch.as_tensor(v)


def channels_last(lw: Lowerer, x: Any, features: int, what: str) -> tuple[str, int | None, tuple[int, ...]]:
    """Materialize ``x`` so that its stream channels are exactly its last axis."""
    act = lw.as_act(x)
    axis = lw.token_axis(act)
    shape = act.shape
    if axis is not None and axis == len(shape) - 1:
        raise lw.unsupported(f"{what} over the token axis is not supported")
    if shape[-1] != features or int(np.prod(shape[:-1])) != lw.S:  # other axes are size 1
        raise lw.unsupported(f"{what} input of shape {list(shape)} is not [tokens, {features}]")
    name, _ = lw.materialize(act, axis)
    return name, axis, shape


def linear_stage(lw: Lowerer, x: Any, weight: torch.Tensor, bias: torch.Tensor | None) -> Act:
    """``x @ weight.T + bias`` with ``weight [N, K]`` (PyTorch layout)."""
    if weight.dim() != 2:
        raise lw.unsupported(f"linear weight of shape {list(weight.shape)} is not 2-D")
    n, k = weight.shape
    name, axis, shape = channels_last(lw, x, k, "linear")
    params = {"weight": to_param(weight)}
    if bias is not None:
        b = torch.as_tensor(bias)
        if b.numel() != n:
            b = torch.broadcast_to(b, (n,)) if b.numel() == 1 else None
            if b is None:
                raise lw.unsupported("linear bias does not match the output channels")
        params["bias"] = to_param(b.reshape(n))
    (out,) = lw.emit("linear", [name], [n], {"act": None, "residual": False}, params)
    return lw.fresh(out, shape[:-1] + (n,), axis)


@register_lowering(aten.linear)
def linear(lw: Lowerer, node: torch.fx.Node, **kw: Any) -> Act:
    weight = _const(lw, kw["weight"], "linear weight")
    bias = None if kw.get("bias") is None else _const(lw, kw["bias"], "linear bias")
    return linear_stage(lw, kw["input"], weight, bias)


@register_lowering(aten.addmm)
def addmm(lw: Lowerer, node: torch.fx.Node, **kw: Any) -> Act:
    """``beta*bias + alpha*(x @ W)`` with ``W [K, N]`` (GPT-2 Conv1D): weight = ``W.T``."""
    w = _const(lw, kw["mat2"], "matmul weight") * kw.get("alpha", 1)
    bias = _const(lw, kw["self"], "addmm bias") * kw.get("beta", 1)
    return linear_stage(lw, kw["mat1"], w.t(), bias)


@register_lowering(aten.embedding)
def embedding(lw: Lowerer, node: torch.fx.Node, **kw: Any) -> Act:
    weight = _const(lw, kw["weight"], "embedding table")
    ids = lw.as_act(kw["indices"])
    axis = lw.token_axis(ids)
    name, _ = lw.materialize(ids, axis)
    if not lw.graph.tensors[name].type.dtype.is_fixed:
        raise lw.unsupported("embedding lookups with computed indices are not supported")
    if int(np.prod(ids.shape)) != lw.S:
        raise lw.unsupported(f"embedding indices of shape {list(ids.shape)} are not one id per token")
    (out,) = lw.emit("embedding", [name], [weight.shape[1]], {}, {"weight": to_param(weight)})
    return lw.fresh(out, ids.shape + (weight.shape[1],), axis)


def _norm(lw: Lowerer, x: Any, shape: list[int], weight: Any, bias: Any, eps: float, kind: str) -> Act:
    act = lw.as_act(x)
    if len(shape) != 1 or shape[0] != act.shape[-1]:
        raise lw.unsupported(f"normalization over {list(shape)} (only the last axis is supported)")
    name, axis, ashape = channels_last(lw, act, shape[0], f"{kind} norm")
    params = {}
    if weight is not None:
        params["weight"] = to_param(_const(lw, weight, "norm weight").reshape(-1))
    if bias is not None:
        params["bias"] = to_param(_const(lw, bias, "norm bias").reshape(-1))
    (out,) = lw.emit("layernorm", [name], [shape[0]], {"kind": kind, "eps": float(eps)}, params)
    return lw.fresh(out, ashape, axis)


@register_lowering(aten.layer_norm)
def layer_norm(lw: Lowerer, node: torch.fx.Node, **kw: Any) -> Act:
    return _norm(lw, kw["input"], list(kw["normalized_shape"]), kw["weight"], kw["bias"], kw["eps"], "layer")


@register_lowering(aten.native_layer_norm)
def native_layer_norm(lw: Lowerer, node: torch.fx.Node, **kw: Any) -> tuple:
    out = _norm(lw, kw["input"], list(kw["normalized_shape"]), kw["weight"], kw["bias"], kw["eps"], "layer")
    return (out, None, None)  # mean / rstd are training-only outputs


@register_lowering(aten.rms_norm)
def rms_norm(lw: Lowerer, node: torch.fx.Node, **kw: Any) -> Act:
    eps = kw.get("eps")
    eps = float(torch.finfo(torch.float32).eps) if eps is None else float(eps)
    return _norm(lw, kw["input"], list(kw["normalized_shape"]), kw.get("weight"), None, eps, "rms")
