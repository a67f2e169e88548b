"""``embedding``: token-id lookup. in: ids ``[S]`` (int); out: ``[S, C]``.

params: ``weight`` ``[V, C]``.
"""

from __future__ import annotations

import numpy as np

from .base import OpKind, register


@register
class Embedding(OpKind):
    name = "embedding"
    hls_template = "embedding.j2"

    def run_float(self, node, inputs):
        ids = np.asarray(inputs[0]).astype(np.int64)
        return [node.param("weight")[ids].astype(np.float64)]
