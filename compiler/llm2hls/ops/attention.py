"""``attention``: multi-head scaled dot-product attention, softmax included. out: ``[S, Hq*D]``.

in: q ``[S, Hq*D]``, k ``[S, Hk*D]``, v ``[S, Hk*D]`` (head-major channels: head h owns channels
``h*D .. h*D+D-1``; grouped-query attention when ``Hk < Hq``, query head h reads kv head
``h // (Hq // Hk)``).
attrs: ``heads`` (Hq), ``kv_heads`` (Hk), ``head_dim`` (D), ``scale`` (float, usually D**-0.5),
``causal`` (bool), ``kv_cache`` (reserved for decode: keys/values of earlier tokens).
params: ``mask`` ``[S, S]`` bool (optional; True = may attend), e.g. a padding mask.
"""

from __future__ import annotations

import numpy as np

from .base import OpKind, register


def allowed_mask(node, s_q: int, s_k: int) -> np.ndarray:
    """Boolean ``[s_q, s_k]``: which keys each query may attend to."""
    mask = np.ones((s_q, s_k), dtype=bool)
    if node.attrs.get("causal"):
        mask &= np.tril(np.ones((s_q, s_k), dtype=bool), k=s_k - s_q)
    if "mask" in node.params:
        mask &= node.param("mask").astype(bool)
    return mask


def split_heads(x: np.ndarray, heads: int, head_dim: int) -> np.ndarray:
    """``[S, H*D]`` -> ``[H, S, D]``."""
    return x.reshape(x.shape[0], heads, head_dim).transpose(1, 0, 2)


@register
class Attention(OpKind):
    name = "attention"
    hls_template = "attention.j2"

    def run_float(self, node, inputs):
        a = node.attrs
        hq, hk, d = a["heads"], a["kv_heads"], a["head_dim"]
        q = split_heads(np.asarray(inputs[0], dtype=np.float64), hq, d)
        k = np.repeat(split_heads(np.asarray(inputs[1], dtype=np.float64), hk, d), hq // hk, axis=0)
        v = np.repeat(split_heads(np.asarray(inputs[2], dtype=np.float64), hk, d), hq // hk, axis=0)
        scores = (q @ k.transpose(0, 2, 1)) * a["scale"]
        allowed = allowed_mask(node, q.shape[1], k.shape[1])
        scores = np.where(allowed, scores, -np.inf)
        scores = scores - scores.max(axis=-1, keepdims=True)
        p = np.exp(scores)
        p = p / p.sum(axis=-1, keepdims=True)
        out = p @ v  # [H, S, D]
        return [out.transpose(1, 0, 2).reshape(q.shape[1], hq * d)]
