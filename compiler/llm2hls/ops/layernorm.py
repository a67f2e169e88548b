"""``layernorm``: LayerNorm or RMSNorm over channels. in/out: ``[S, C]``.

attrs: ``kind`` ("layer" or "rms"), ``eps``.
params: ``weight`` ``[C]`` (gamma, optional), ``bias`` ``[C]`` (beta, optional).
"""

from __future__ import annotations

import numpy as np

from .base import OpKind, register


@register
class LayerNorm(OpKind):
    name = "layernorm"
    hls_template = "layernorm.j2"

    def run_float(self, node, inputs):
        x = np.asarray(inputs[0], dtype=np.float64)
        eps = float(node.attrs.get("eps", 1e-5))
        if node.attrs.get("kind", "layer") == "rms":
            y = x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps)
        else:
            mu = x.mean(axis=-1, keepdims=True)
            var = ((x - mu) ** 2).mean(axis=-1, keepdims=True)
            y = (x - mu) / np.sqrt(var + eps)
        if "weight" in node.params:
            y = y * node.param("weight")
        if "bias" in node.params:
            y = y + node.param("bias")
        return [y]
