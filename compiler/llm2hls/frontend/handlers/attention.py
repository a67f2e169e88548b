"""Attention: ``scaled_dot_product_attention`` and the explicit
``softmax(q @ k^T * scale + mask) @ v`` chain both become one ``attention`` stage.

``matmul`` of two activations yields symbolic :class:`Scores`; scaling, additive masks,
``masked_fill`` and ``where`` with constant masks update it; ``softmax`` turns it into
:class:`Probs`; ``matmul`` with ``v`` emits the stage. A constant mask is classified: all-true
means none, the lower triangle means ``causal=True``, anything else becomes the ``mask`` param.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import torch

from ..lower import Lowerer, register_lowering
from ..values import Act, Pointwise, Probs, Scores, is_symbolic, scalar_of
from .nn import linear_stage

aten = torch.ops.aten

# Additive mask values at or below this are "may not attend" (HF uses finfo.min, older code -1e4).
MASKED_BELOW = -1e4


# ---- matmul ---------------------------------------------------------------------------------
@register_lowering(aten.matmul, aten.bmm, aten.mm)
def matmul(lw: Lowerer, node: torch.fx.Node, **kw: Any) -> Any:
    a, b = kw["self"], kw.get("other", kw.get("mat2"))
    if isinstance(a, Probs) and isinstance(b, (Act, Pointwise)):
        return attend(lw, a.scores, b)
    if isinstance(a, (Act, Pointwise)) and isinstance(b, (Act, Pointwise)):
        (q, fq), (kt, fk) = _peel_scale(a), _peel_scale(b)
        return Scores(q=q, kt=kt, scale=fq * fk)
    if isinstance(a, (Act, Pointwise)) and not is_symbolic(b):
        w = torch.as_tensor(b)
        if w.dim() != 2:
            raise lw.unsupported(f"matmul with a constant of shape {list(w.shape)} (only 2-D weights)")
        return linear_stage(lw, a, w.t(), None)
    raise lw.unsupported("matmul of a constant with an activation (weights must be the right operand)")


def _peel_scale(v: Any) -> tuple[Any, float]:
    """``c * x`` -> ``(x, c)``: a constant factor on q or k becomes part of the scores' scale
    (decomposed SDPA scales both q and k by ``scale ** 0.5``)."""
    if isinstance(v, Pointwise) and v.expr[0] in ("mul", "div") and len(v.expr) == 3:
        _, left, right = v.expr
        if left == ("x",) and right[0] == "c":
            return v.base, (right[1] if v.expr[0] == "mul" else 1.0 / right[1])
        if right == ("x",) and left[0] == "c" and v.expr[0] == "mul":
            return v.base, left[1]
    return v, 1.0


# ---- masks ----------------------------------------------------------------------------------
def _allowed_from(lw: Lowerer, scores: Scores, mask: torch.Tensor, additive: bool) -> torch.Tensor:
    """A bool ``[Sq, Sk]`` (True = may attend) from a constant mask broadcast over the scores."""
    m = torch.broadcast_to(torch.as_tensor(mask), scores.shape)
    if additive:
        m = m.to(torch.float64)
        ok, blocked = m == 0, m <= MASKED_BELOW
        if not bool((ok | blocked).all()):
            raise lw.unsupported("additive attention biases other than 0 / -inf masks (e.g. ALiBi)")
        m = ok
    m = m.to(torch.bool).reshape(-1, *scores.shape[-2:])
    if not bool((m == m[:1]).all()):
        raise lw.unsupported("attention masks that differ between heads are not supported")
    return m[0]


def _combine(scores: Scores, allowed: torch.Tensor) -> Scores:
    both = allowed if scores.allowed is None else scores.allowed & allowed
    return dataclasses.replace(scores, allowed=both)


def scores_binary(lw: Lowerer, node: torch.fx.Node, fn: str, a: Any, b: Any) -> Scores:
    """``scores * c``, ``scores / c`` and ``scores + mask``."""
    scores, other = (a, b) if isinstance(a, Scores) else (b, a)
    if is_symbolic(other):
        raise lw.unsupported("attention scores combined with another activation")
    c = scalar_of(other)
    if fn in ("mul", "div") and c is not None:
        if fn == "div" and scores is not a:
            raise lw.unsupported("dividing by attention scores")
        factor = c if fn == "mul" else 1.0 / c
        return dataclasses.replace(scores, scale=scores.scale * factor)
    if fn == "add" or (fn == "sub" and scores is a):
        mask = torch.as_tensor(other)
        return _combine(scores, _allowed_from(lw, scores, -mask if fn == "sub" else mask, additive=True))
    raise lw.unsupported(f"'{fn}' on attention scores is not supported")


def _fill_value_blocks(lw: Lowerer, value: Any) -> None:
    v = scalar_of(value)
    if v is None or v > MASKED_BELOW:
        raise lw.unsupported("masking attention scores with a value other than -inf / a huge negative")


@register_lowering(aten.masked_fill)
def masked_fill(lw: Lowerer, node: torch.fx.Node, **kw: Any) -> Any:
    scores, mask, value = kw["self"], kw["mask"], kw["value"]
    if not isinstance(scores, Scores) or is_symbolic(mask):
        raise lw.unsupported("masked_fill is only supported on attention scores with a constant mask")
    _fill_value_blocks(lw, value)
    return _combine(scores, ~_allowed_from(lw, scores, torch.as_tensor(mask).to(torch.bool), additive=False))


@register_lowering(aten.where)
def where(lw: Lowerer, node: torch.fx.Node, **kw: Any) -> Any:
    cond, x, y = kw["condition"], kw["self"], kw["other"]
    if is_symbolic(cond):
        raise lw.unsupported("where with a condition computed from activations")
    cond = torch.as_tensor(cond).to(torch.bool)
    if isinstance(y, Probs) and not is_symbolic(x) and not bool(cond.any()):
        return y  # decomposed "safe softmax": zero rows that are fully masked; there are none
    if isinstance(x, Scores) and not is_symbolic(y):
        _fill_value_blocks(lw, y)
        return _combine(x, _allowed_from(lw, x, cond, additive=False))
    if isinstance(y, Scores) and not is_symbolic(x):
        _fill_value_blocks(lw, x)
        return _combine(y, ~_allowed_from(lw, y, cond, additive=False))
    raise lw.unsupported("where on activations is only supported to mask attention scores")


@register_lowering(aten.eq)
def eq(lw: Lowerer, node: torch.fx.Node, **kw: Any) -> torch.Tensor:
    """``scores == -inf`` (decomposed safe softmax) is known: exactly the masked positions."""
    scores, other = kw["self"], kw["other"]
    if not isinstance(scores, Scores) or scalar_of(other) != float("-inf"):
        raise lw.unsupported("comparisons of activations are not supported")
    allowed = scores.allowed if scores.allowed is not None else torch.ones(scores.shape[-2:], dtype=torch.bool)
    if scores.causal_from_sdpa:
        allowed = allowed & torch.tril(torch.ones_like(allowed))
    if not bool(allowed.any(dim=-1).all()):
        raise lw.unsupported("attention rows in which every key is masked")
    return torch.broadcast_to(~allowed, scores.shape).clone()


@register_lowering(aten.softmax, aten._softmax, aten._safe_softmax)
def softmax(lw: Lowerer, node: torch.fx.Node, **kw: Any) -> Probs:
    x, dim = kw["self"], kw["dim"]
    if not isinstance(x, Scores):
        raise lw.unsupported("softmax is only supported over attention scores (q @ k^T)")
    if dim not in (-1, len(x.shape) - 1):
        raise lw.unsupported(f"softmax over dim {dim} (only over the keys, dim=-1)")
    return Probs(x)


# ---- the stage ------------------------------------------------------------------------------
@register_lowering(aten.scaled_dot_product_attention)
def sdpa(lw: Lowerer, node: torch.fx.Node, **kw: Any) -> Act:
    q, k, v = kw["query"], kw["key"], kw["value"]
    if not all(isinstance(t, (Act, Pointwise)) for t in (q, k, v)):
        raise lw.unsupported("scaled_dot_product_attention needs activation q, k and v")
    if kw.get("dropout_p"):
        raise lw.unsupported("attention dropout in training mode; call model.eval()")
    scale = kw.get("scale")
    scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else float(scale)
    scores = Scores(q=q, kt=k, scale=scale, causal_from_sdpa=bool(kw.get("is_causal")), k_transposed=False)
    mask = kw.get("attn_mask")
    if mask is not None:
        if is_symbolic(mask):
            raise lw.unsupported("attention masks computed from activations")
        mask = torch.as_tensor(mask)
        scores = _combine(scores, _allowed_from(lw, scores, mask, additive=mask.dtype != torch.bool))
    return attend(lw, scores, v)


def attend(lw: Lowerer, scores: Scores, v: Any) -> Act:
    """Emit one ``attention`` stage for ``softmax(scores) @ v``."""
    q, k, v = lw.as_act(scores.q), lw.as_act(scores.kt), lw.as_act(v)
    if len(q.shape) < 2 or len(k.shape) != len(q.shape) or len(v.shape) != len(q.shape):
        raise lw.unsupported("attention operands must be [..., heads, tokens, head_dim]")
    d = q.shape[-1]
    k_transposed = scores.k_transposed
    tok_axis = None if lw.S == 1 else len(q.shape) - 2
    k_tok_axis = None if lw.S == 1 else len(k.shape) - (1 if k_transposed else 2)
    k_dim = k.shape[-2] if k_transposed else k.shape[-1]
    if k_dim != d or v.shape[-1] != d:
        raise lw.unsupported("attention with different q/k/v head sizes is not supported")
    if q.shape[-2] != lw.S or v.shape[-2] != lw.S:
        raise lw.unsupported("attention over a different number of keys than tokens (KV cache)")
    hq = int(np.prod(q.shape[:-2]))
    for t, ax in ((q, tok_axis), (k, k_tok_axis), (v, tok_axis)):
        if ax is not None and lw.token_axis(t) != ax:
            raise lw.unsupported("attention operand has its tokens on an unexpected axis")
    if k_transposed:  # [.., H, D, S] -> the same head-major channel order as [.., H, S, D]
        k = k.map_fields(lambda t: t.transpose(-1, -2))
    k, v, hk = _dedupe_kv_heads(k, v, hq)
    k_axis = None if lw.S == 1 else len(k.shape) - 2
    q_name, _ = lw.materialize(q, tok_axis)
    k_name, _ = lw.materialize(k, k_axis)
    v_name, _ = lw.materialize(v, k_axis)
    if hq % hk:
        raise lw.unsupported(f"{hq} query heads cannot share {hk} key/value heads evenly")
    allowed = scores.allowed
    causal = scores.causal_from_sdpa
    attrs: dict[str, Any] = {"heads": hq, "kv_heads": hk, "head_dim": d, "scale": float(scores.scale)}
    params: dict[str, np.ndarray] = {}
    if allowed is not None:
        tril = torch.tril(torch.ones_like(allowed))
        if causal:
            allowed = allowed & tril
        if bool(allowed.all()):
            pass
        elif bool((allowed == tril).all()):
            causal = True
        else:
            params["mask"] = allowed.numpy().copy()
    attrs["causal"] = bool(causal)
    (out,) = lw.emit("attention", [q_name, k_name, v_name], [hq * d], attrs, params)
    return lw.fresh(out, q.shape, tok_axis)


def _dedupe_kv_heads(k: Act, v: Act, hq: int) -> tuple[Act, Act, int]:
    """Grouped-query attention: if k/v heads are repeats (``repeat_kv``), keep one per group."""
    heads = int(np.prod(k.shape[:-2]))
    if heads != hq:
        return k, v, heads
    kh = [f.reshape(heads, -1) for f in k.fields()]
    vh = [f.reshape(heads, -1) for f in v.fields()]
    for groups in range(1, heads):
        if heads % groups:
            continue
        rep = heads // groups
        same = all(
            bool((f.reshape(groups, rep, -1) == f.reshape(groups, rep, -1)[:, :1]).all()) for f in kh + vh
        )
        if same:
            pick = lambda a: a.map_fields(  # noqa: E731
                lambda t: t.reshape(heads, *t.shape[-2:])[::rep].contiguous()
            )
            return pick(k), pick(v), groups
    return k, v, heads
