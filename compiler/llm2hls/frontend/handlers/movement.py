"""Data movement and no-op ops on activations.

Movement ops (view, transpose, split, cat, slice, ...) are executed on the index tensors of an
activation view, so they cost nothing until a compute stage needs another channel order. No-ops
(eval-mode dropout, aliases, dtype casts, asserts) return their input unchanged.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

import torch

from ..lower import Lowerer, call_bound, register_lowering
from ..values import Act, Pointwise, Probs, Scores, rewrap

aten = torch.ops.aten

MOVEMENT_OPS = (
    aten.view, aten._unsafe_view, aten.reshape, aten.transpose, aten.permute, aten.t,
    aten.unsqueeze, aten.squeeze, aten.split, aten.split_with_sizes, aten.chunk, aten.unbind,
    aten.slice, aten.select, aten.narrow, aten.expand, aten.flatten, aten.unflatten, aten.movedim,
    aten.repeat, aten.repeat_interleave, aten.index, aten.cat, aten.stack, aten.contiguous,
    aten.clone, aten.alias, aten.detach, aten.lift_fresh_copy, aten.expand_as, aten.view_as,
    aten.reshape_as, aten.swapaxes, aten.index_select,
)


def _substitute(v: Any, field: int) -> Any:
    if isinstance(v, Act):
        return v.fields()[field]
    if isinstance(v, (list, tuple)):
        return type(v)(_substitute(x, field) for x in v)
    return v


def _as_acts(lw: Lowerer, v: Any) -> Any:
    if isinstance(v, (Pointwise, Scores, Probs)):
        return lw.as_act(v)
    if isinstance(v, (list, tuple)):
        return type(v)(_as_acts(lw, x) for x in v)
    return v


@register_lowering(*MOVEMENT_OPS)
def movement(lw: Lowerer, node: torch.fx.Node, **kw: Any) -> Any:
    """Apply the op itself to the (source, token, channel, sign) index tensors of the view."""
    if node.target in (aten.cat.default, aten.stack.default):
        tensors = kw["tensors"]
        if not all(isinstance(t, (Act, Pointwise)) for t in tensors):
            raise lw.unsupported("concatenating activations with constants is not streamable")
    first = next(iter(kw.values()))
    if isinstance(first, (Scores, Probs)):
        return reshape_scores(lw, node, first, kw)
    if isinstance(first, Pointwise) and node.target not in (aten.cat.default, aten.stack.default):
        moved = movement(lw, node, **{**kw, next(iter(kw)): first.base})
        if isinstance(moved, Act) and int(np.prod(moved.shape)) <= int(np.prod(first.shape)):
            # Elementwise math with scalar constants commutes with moving elements around.
            return dataclasses.replace(first, base=moved, memo={}, origins=dict(first.origins))
    kw = {k: _as_acts(lw, v) for k, v in kw.items()}
    results = [call_bound(node.target, {k: _substitute(v, f) for k, v in kw.items()}) for f in range(4)]
    return rewrap(results)


SCORE_RESHAPES = (aten.view.default, aten._unsafe_view.default, aten.reshape.default, aten.expand.default)
SCORE_COPIES = (aten.clone.default, aten.contiguous.default, aten.alias.default, aten.detach.default)


def reshape_scores(lw: Lowerer, node: torch.fx.Node, value: Any, kw: dict[str, Any]) -> Any:
    """Re-batch attention scores (``[1, H, S, S] <-> [H, S, S]`` in decomposed matmuls): the same
    reshape of their leading dims is applied to q and k^T."""
    if node.target in SCORE_COPIES:
        return value
    scores = value.scores if isinstance(value, Probs) else value
    size = kw.get("size", kw.get("shape"))
    if node.target not in SCORE_RESHAPES or size is None:
        raise lw.unsupported("attention scores are only reshaped between [1, H, S, S] and [H, S, S]")
    old_shape = scores.shape
    probe = torch.empty(old_shape, device="meta")
    resized = probe.expand(size) if node.target == aten.expand.default else probe.reshape(size)
    target_shape = tuple(resized.shape)
    if target_shape[-2:] != old_shape[-2:] or int(np.prod(target_shape)) != int(np.prod(old_shape)):
        raise lw.unsupported("attention scores are only reshaped between [1, H, S, S] and [H, S, S]")
    lead = target_shape[:-2]
    q = lw.as_act(scores.q).map_fields(lambda t: t.reshape(lead + t.shape[-2:]))
    kt = lw.as_act(scores.kt).map_fields(lambda t: t.reshape(lead + t.shape[-2:]))
    out = dataclasses.replace(scores, q=q, kt=kt)
    return Probs(out) if isinstance(value, Probs) else out


NOOP_OPS = (
    aten.dropout, aten.feature_dropout, aten.alpha_dropout, aten.to, aten._to_copy, aten.type_as,
    aten._assert_tensor_metadata, aten._assert_async, aten._assert_scalar,
    aten.sym_constrain_range_for_size, aten._functional_assert_async,
)


@register_lowering(*NOOP_OPS)
def noop(lw: Lowerer, node: torch.fx.Node, **kw: Any) -> Any:
    """Inference no-ops: eval dropout, dtype/device casts, metadata asserts."""
    if node.target in (aten.dropout.default, aten.feature_dropout.default, aten.alpha_dropout.default):
        if kw.get("train") and kw.get("p"):
            raise lw.unsupported("dropout in training mode; call model.eval() before compiling")
    dtype = kw.get("dtype")
    if isinstance(dtype, torch.dtype) and not dtype.is_floating_point:
        raise lw.unsupported(f"casting activations to {dtype} is not supported")
    first = next(iter(kw.values()))
    return first if isinstance(first, (Act, Pointwise, Scores, Probs)) else None


@register_lowering(aten.native_dropout)
def native_dropout(lw: Lowerer, node: torch.fx.Node, **kw: Any) -> Any:
    if kw.get("train"):
        raise lw.unsupported("dropout in training mode; call model.eval() before compiling")
    return (kw["input"], None)


SHAPE_ONLY_OPS = (
    aten.full_like, aten.zeros_like, aten.ones_like, aten.empty_like, aten.new_zeros, aten.new_ones,
    aten.new_full, aten.new_empty, aten.sym_size, aten.sym_numel, aten.size, aten.dim,
)


@register_lowering(*SHAPE_ONLY_OPS)
def shape_only(lw: Lowerer, node: torch.fx.Node, **kw: Any) -> Any:
    """Ops that read only the shape of an activation give constants (``empty`` reads as zeros)."""
    first_key = next(iter(kw))
    like = kw[first_key]
    kw[first_key] = torch.zeros(like.shape, dtype=torch.float32)
    with torch.no_grad():
        out = call_bound(node.target, kw)
    return torch.zeros_like(out) if node.target in (aten.empty_like.default, aten.new_empty.default) else out
