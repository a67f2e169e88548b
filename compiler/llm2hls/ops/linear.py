"""``linear``: ``y = act(x @ W.T + b) [+ residual]``. in: x ``[S, K]`` (+ residual ``[S, N]``);
out: ``[S, N]``.

params: ``weight`` ``[N, K]`` (PyTorch layout; GPT-2 Conv1D weights are transposed on import),
``bias`` ``[N]`` (optional).
attrs: ``act`` (None or a name in :data:`llm2hls.ops.functions.FUNCTIONS`), fused by the
``fuse_activation`` pass; ``residual`` (bool): a second input is added after the activation,
fused by ``fuse_residual``.
"""

from __future__ import annotations

import numpy as np

from .base import OpKind, register
from .functions import FUNCTIONS


@register
class Linear(OpKind):
    name = "linear"
    hls_template = "linear.j2"

    def run_float(self, node, inputs):
        x = np.asarray(inputs[0], dtype=np.float64)
        y = x @ node.param("weight").astype(np.float64).T
        if "bias" in node.params:
            y = y + node.param("bias")
        if node.attrs.get("act"):
            y = FUNCTIONS[node.attrs["act"]](y)
        if node.attrs.get("residual"):
            y = y + inputs[1]
        return [y]
