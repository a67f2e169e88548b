"""``eltwise``: elementwise binary arithmetic. out: ``[S, C]``.

attrs: ``fn`` in {"add", "sub", "mul"}.
Operands: the first input, and either a second input (same shape) or the param ``const``
(broadcastable to ``[S, C]``: a ``[C]`` vector, a ``[S, C]`` table such as learned position
embeddings or rotary cos/sin, or a ``[]`` scalar).
"""

from __future__ import annotations

import numpy as np

from .base import OpKind, register

BINARY = {"add": np.add, "sub": np.subtract, "mul": np.multiply}


@register
class Eltwise(OpKind):
    name = "eltwise"
    hls_template = "eltwise.j2"

    def run_float(self, node, inputs):
        a = np.asarray(inputs[0], dtype=np.float64)
        b = inputs[1] if len(inputs) > 1 else node.param("const").astype(np.float64)
        return [BINARY[node.attrs["fn"]](a, b)]
