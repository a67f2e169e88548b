"""SmoothQuant-style outlier migration for 8-bit matrix inputs (docs/quantization.md).

A LayerNorm/RMSNorm output with a few large channels wastes most of an 8-bit per-tensor range.
For a norm whose output is read only by ``linear`` stages, channel ``j`` is divided by

    s_j = max|X_j|^alpha / max|W_j|^(1 - alpha)

(``max|X_j|`` from calibration, ``max|W_j|`` over the readers' weight columns), folded into the
norm's gain and bias (``gamma / s``, ``beta / s``), and the readers' weight columns are multiplied
by ``s``: the float function is unchanged, the activation range is flattened. Each reader keeps
``s`` as the float param ``smooth`` (never emitted) so PyTorch fake-quantization can reproduce
the same smoothed tensor boundaries (``llm2hls.eval``).
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
        (out,) = node.outputs
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
    return g, changed
