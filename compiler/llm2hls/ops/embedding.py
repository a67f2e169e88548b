"""``embedding``: token-id lookup. in: ids ``[S]`` (int); out: ``[S, C]``.

params: ``weight`` ``[V, C]``.

Integer semantics: the output type covers the whole table (``max |weight|``, so no id can
saturate), ``q_weight = quantize(weight, out_type)`` and the output raw row is ``q_weight[id]``.
"""

from __future__ import annotations

import numpy as np

from ..errors import UserError
from ..numerics import quantize as quantize_values
from .base import Cost, OpKind, param_bytes, register
from .qcommon import add_qparam, bram18, dtype, set_type


@register
class Embedding(OpKind):
    name = "embedding"
    hls_template = "embedding.j2"
    latency_tokens = 0  # one id in, one row out

    def run_float(self, node, inputs):
        ids = _checked_ids(node, inputs[0])
        return [node.param("weight")[ids].astype(np.float64)]

    def quantize(self, node, graph, config):
        w = node.param("weight").astype(np.float64)
        out_t = config.act_type(float(np.abs(w).max(initial=0.0)))
        add_qparam(node, "q_weight", quantize_values(w, out_t), out_t)
        set_type(graph, node.outputs[0], out_t)

    def run_int(self, node, inputs, graph):
        return [node.param("q_weight")[_checked_ids(node, inputs[0])]]

    def cost(self, node, graph):
        vocab, ch = node.param("weight").shape
        seq = graph.tensors[node.inputs[0]].type.shape[0]
        bits = node.attrs.get("param_bits", {}).get("q_weight", 32)
        return Cost(
            param_bytes=param_bytes(node),
            cycles=seq * (ch + 1),
            ii=1,
            bram18=bram18(vocab * ch * bits),
            lut=20,
        )

    def hls_context(self, node, graph):
        vocab, ch = node.param("weight").shape
        return {"V": vocab, "C": ch, "table_key": "q_weight" if "q_weight" in node.params else "weight"}


def _checked_ids(node, ids: np.ndarray) -> np.ndarray:
    ids = np.asarray(ids).astype(np.int64)
    vocab = node.param("weight").shape[0]
    if ids.size and (ids.min() < 0 or ids.max() >= vocab):
        raise UserError(f"embedding {node.name}: token id out of range 0..{vocab - 1} "
                        f"(got {int(ids.min())}..{int(ids.max())})")
    return ids
