"""``act``: an elementwise nonlinear function (a table in hardware). in/out: ``[S, C]``.

attrs: ``fn``, a name in :data:`llm2hls.ops.functions.FUNCTIONS`.
"""

from __future__ import annotations

from .base import OpKind, register
from .functions import FUNCTIONS


@register
class Activation(OpKind):
    name = "act"
    hls_template = "act.j2"

    def run_float(self, node, inputs):
        return [FUNCTIONS[node.attrs["fn"]](inputs[0])]
