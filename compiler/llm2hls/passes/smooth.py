"""SmoothQuant-style outlier migration for 8-bit matrix inputs (docs/quantization.md).

A LayerNorm/RMSNorm output with a few large channels wastes most of an 8-bit per-tensor range.
For a norm whose output is read only by ``linear`` stages, channel ``j`` is divided by

    s_j = max|X_j|^alpha / max|W_j|^(1 - alpha)

(``max|X_j|`` from calibration, ``max|W_j|`` over the readers' weight columns), folded into the
norm's gain and bias (``gamma / s``, ``beta / s``), and the readers' weight columns are multiplied
by ``s``: the float function is unchanged, the activation range is flattened. Each reader keeps
``s`` as the float param ``smooth`` (never emitted) so PyTorch fake-quantization can reproduce
the same smoothed tensor boundaries (``llm2hls.eval``).

Attention outputs are smoothed the same way through the value projection: attention is linear in
``V`` per channel (``softmax(QK^T) (V / s) = (softmax(QK^T) V) / s``), so the factors of the
attention output's channels fold into the rows and bias of the ``linear`` producing ``V`` (one
factor per ``V`` channel, shared by the query heads of a GQA group), and the readers' weight
columns are multiplied by them.
"""

from __future__ import annotations

import numpy as np

from ..ir.graph import Graph, Param
from .canonicalize import clone

S_MIN, S_MAX = 1e-3, 1e3
"""Clamp of the per-channel factors (no channel is scaled into oblivion)."""


def smoothing_factors(x_absmax: np.ndarray, w_absmax: np.ndarray, alpha: float) -> np.ndarray:
    """``s_j = x_j^alpha / w_j^(1-alpha)``, 1 where either is 0, clamped to [S_MIN, S_MAX]."""
    x = np.asarray(x_absmax, dtype=np.float64)
    w = np.asarray(w_absmax, dtype=np.float64)
    ok = (x > 0) & (w > 0)
    s = np.ones_like(x)
    s[ok] = x[ok] ** alpha / w[ok] ** (1.0 - alpha)
    return np.clip(s, S_MIN, S_MAX)


def smooth_graph(graph: Graph, alpha: float, wants=lambda node: True) -> tuple[Graph, bool]:
    """Migrate activation outliers of every norm read only by linears into their weights.

    Needs calibration statistics (``absmax_per_channel`` in the norm output's meta). ``wants(node)``
    says whether a reading linear needs it (e.g. its input becomes 8 bits); a norm is smoothed when
    any reader wants it. Returns a new graph (weights copied) and whether anything changed.
    """
    g = clone(graph)
    changed = False
    for node in list(g.nodes.values()):
        if node.op != "layernorm":
            continue
        out = node.outputs[0]  # a fused residual norm also writes h: its gain does not touch h
        readers = [n for n in g.nodes.values() if out in n.inputs]
        if (not readers or out in g.outputs or any(r.op != "linear" or r.inputs[0] != out for r in readers)
                or not any(wants(r) for r in readers)):
            continue
        stats = g.tensors[out].meta.get("absmax_per_channel")
        if stats is None:
            raise RuntimeError(f"smoothing {node.name}: calibrate the graph first")
        w_absmax = np.max([np.abs(r.param("weight")).max(axis=0) for r in readers], axis=0)
        s = smoothing_factors(np.asarray(stats), w_absmax, alpha)
        c = s.shape[0]
        gamma = node.param("weight").astype(np.float64) if "weight" in node.params else np.ones(c)
        node.params["weight"] = Param(gamma / s, node.params["weight"].placement if "weight" in node.params else "onchip")
        if "bias" in node.params:
            node.params["bias"] = Param(node.param("bias").astype(np.float64) / s, node.params["bias"].placement)
        for r in readers:
            r.params["weight"] = Param(r.param("weight").astype(np.float64) * s[None, :], r.params["weight"].placement)
            r.params["smooth"] = Param(s.copy())
        changed = True
    for node in list(g.nodes.values()):
        if node.op == "attention":
            changed |= _smooth_attention_output(g, node, alpha, wants)
    return g, changed


def _smooth_attention_output(g: Graph, node, alpha: float, wants) -> bool:
    """Fold smoothing factors of ``node``'s output into its value projection (see the module doc).

    Applies when the output is read only by linears (as their matrix input) that want it, and ``V``
    comes straight from a linear without activation or residual that nothing else reads.
    """
    (out,) = node.outputs
    readers = g.consumers(out)
    vprod = g.producer(node.inputs[2])
    if (not readers or out in g.outputs or any(r.op != "linear" or r.inputs[0] != out for r in readers)
            or not any(wants(r) for r in readers) or vprod is None or vprod.op != "linear"
            or vprod.attrs.get("act") or vprod.attrs.get("residual") or len(g.consumers(node.inputs[2])) != 1
            or node.inputs[2] in g.outputs):
        return False
    stats = g.tensors[out].meta.get("absmax_per_channel")
    if stats is None:
        raise RuntimeError(f"smoothing {node.name}: calibrate the graph first")
    a = node.attrs
    hq, hk, d = a["heads"], a["kv_heads"], a["head_dim"]
    # output channel h*d + i reads V channel (h // (hq // hk))*d + i
    v_of_out = (np.arange(hq)[:, None] // (hq // hk) * d + np.arange(d)[None, :]).ravel()
    w_absmax = np.max([np.abs(r.param("weight")).max(axis=0) for r in readers], axis=0)
    x_v, w_v = np.zeros(hk * d), np.zeros(hk * d)
    np.maximum.at(x_v, v_of_out, np.asarray(stats))
    np.maximum.at(w_v, v_of_out, w_absmax)
    s_v = smoothing_factors(x_v, w_v, alpha)
    rows = slice(None)
    if "segments" in vprod.attrs:  # a fused Q/K/V stage (passes/fuse.py): only V's rows
        from ..ops.linear import segment_rows

        rows = segment_rows(vprod)[vprod.outputs.index(node.inputs[2])]
    for key, scale in (("weight", s_v[:, None]), ("bias", s_v)):
        if key in vprod.params:
            data = vprod.param(key).astype(np.float64)  # a copy
            data[rows] = data[rows] / scale
            vprod.params[key] = Param(data, vprod.params[key].placement)
    s_out = s_v[v_of_out]
    for r in readers:  # no ``smooth`` param: the value projection itself carries 1/s (eval/fakequant.py)
        r.params["weight"] = Param(r.param("weight").astype(np.float64) * s_out[None, :], r.params["weight"].placement)
    return True
