"""``eltwise``: elementwise binary arithmetic. out: ``[S, C]``.

attrs: ``fn`` in {"add", "sub", "mul"}.
Operands: the first input, and either a second input (same shape) or the param ``const``
(broadcastable to ``[S, C]``: a ``[C]`` vector, a ``[S, C]`` table such as learned position
embeddings or rotary cos/sin, or a ``[]`` scalar).

Integer semantics (docs/numerics.md): add/sub align both operands to the larger fraction (an exact
shift), add, and ``convert`` to the output type; mul converts the exact product (fraction
``Fa + Fb``). A const operand is stored as ``q_const`` with its own activation-width type.
"""

from __future__ import annotations

import numpy as np

from ..ir.types import FixedType
from ..numerics import convert, quantize as quantize_values
from .base import Cost, OpKind, param_bytes, register
from .qcommon import add_qparam, bram18, dsp_per_mul, dtype, fixed, param_type, set_type

BINARY = {"add": np.add, "sub": np.subtract, "mul": np.multiply}


def binary_int(fn: str, a: np.ndarray, ta: FixedType, b: np.ndarray, tb: FixedType,
               out_t: FixedType) -> np.ndarray:
    """Exact ``a <fn> b`` of raw values, converted to ``out_t`` (what ap_fixed arithmetic does)."""
    a, b = np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64)
    if fn == "mul":
        return convert(a * b, ta.frac + tb.frac, out_t)
    f = max(ta.frac, tb.frac)
    a = a << np.int64(f - ta.frac)
    b = b << np.int64(f - tb.frac)
    return convert(a + b if fn == "add" else a - b, f, out_t)


def const_index(shape: tuple[int, ...]) -> str:
    """C index expression of the const operand at token ``s``, channel ``c`` (broadcast)."""
    return {0: "[0]", 1: "[c]", 2: "[s][c]"}[len(shape)]


@register
class Eltwise(OpKind):
    name = "eltwise"
    hls_template = "eltwise.j2"
    latency_tokens = 0  # element in, element out

    def run_float(self, node, inputs):
        a = np.asarray(inputs[0], dtype=np.float64)
        b = inputs[1] if len(inputs) > 1 else node.param("const").astype(np.float64)
        return [BINARY[node.attrs["fn"]](a, b)]

    def quantize(self, node, graph, config):
        if "const" in node.params:
            c = node.param("const").astype(np.float64)
            c_t = config.act_type(float(np.abs(c).max(initial=0.0)))
            # scalars are stored as a 1-element array so every param is an array in C
            add_qparam(node, "q_const", quantize_values(c.reshape(c.shape or (1,)), c_t), c_t)
        out = graph.tensors[node.outputs[0]]
        set_type(graph, out.name, config.act_type(out.meta["max_abs"]))

    def _operand_b(self, node, inputs, graph) -> tuple[np.ndarray, FixedType]:
        if len(inputs) > 1:
            return inputs[1], fixed(graph, node.inputs[1])
        q = node.param("q_const")
        return (q.reshape(()) if node.param("const").ndim == 0 else q), param_type(node, "q_const")

    def run_int(self, node, inputs, graph):
        b, tb = self._operand_b(node, inputs, graph)
        out_t = fixed(graph, node.outputs[0])
        return [binary_int(node.attrs["fn"], inputs[0], fixed(graph, node.inputs[0]), b, tb, out_t)]

    def cost(self, node, graph):
        numel = graph.tensors[node.outputs[0]].type.numel
        is_mul = node.attrs["fn"] == "mul"
        a_bits = getattr(dtype(graph, node.inputs[0]), "width", 32)
        const_bits = 0
        if "q_const" in node.params:
            const_bits = node.param("q_const").size * node.attrs["param_bits"]["q_const"]
        return Cost(
            macs=numel if is_mul else 0,
            param_bytes=param_bytes(node),
            cycles=numel + 2,
            ii=1,
            dsp=dsp_per_mul(a_bits, a_bits) if is_mul else 0,
            bram18=bram18(const_bits),
            lut=30 if is_mul else a_bits + 10,
        )

    def hls_context(self, node, graph):
        has_const = "const" in node.params
        ctx = {
            "op": {"add": "+", "sub": "-", "mul": "*"}[node.attrs["fn"]],
            "fn_name": node.attrs["fn"],
            "C": graph.tensors[node.outputs[0]].type.shape[-1],
            "has_const": has_const,
        }
        if has_const:
            key = "q_const" if "q_const" in node.params else "const"
            ctx["const_key"] = key
            ctx["const_index"] = const_index(node.param("const").shape)
            # a [T, C] const (position embedding, rotary cos/sin) is indexed by absolute position
            ctx["positional"] = node.param("const").ndim == 2
        return ctx
