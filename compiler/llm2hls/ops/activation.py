"""``act``: an elementwise nonlinear function (a table in hardware). in/out: ``[S, C]``.

attrs: ``fn``, a name in :data:`llm2hls.ops.functions.FUNCTIONS`.

Integer semantics (docs/numerics-nonlinear.md): a piecewise-linear table (:mod:`.tables`) over the
input's raw values with per-function tails. The quantizer adds params ``q_act_base`` and
``q_act_slope`` and the attr ``act_table`` (a :class:`~.tables.TableSpec`). The same three
functions serve the standalone ``act`` stage and an activation fused into ``linear``:
:func:`quantize_act`, :func:`act_int` and the ``act_fn`` Jinja macro (templates/hls/ops/act_fn.j2).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import UserError
from ..ir.types import FixedType, TensorType
from .base import Cost, OpKind, param_bytes, register
from .functions import FUNCTIONS
from .tables import DEFAULT_TABLE_BITS, TableSpec, act_type_for, entry_types, fit_table, table_eval

# What the hardware returns outside the tabulated input range, per function (low side, high side).
ACT_TAILS: dict[str, tuple[str, str]] = {
    "gelu_erf": ("zero", "identity"),
    "gelu_tanh": ("zero", "identity"),
    "silu": ("zero", "identity"),
    "relu": ("zero", "identity"),
    "sigmoid": ("zero", "clamp"),
    "tanh": ("clamp", "clamp"),
    "exp": ("zero", "clamp"),
}

BASE_KEY, SLOPE_KEY, SPEC_KEY = "q_act_base", "q_act_slope", "act_table"


def quantize_act(
    fn: str, in_type: FixedType, out_max_abs: float, config: Any
) -> tuple[FixedType, dict[str, np.ndarray], dict[str, Any]]:
    """Choose the output type and build the table of activation ``fn`` for inputs of ``in_type``.

    Returns ``(out_type, params, attrs)``: params ``q_act_base``/``q_act_slope`` (int64 arrays)
    and attrs ``act_table`` (the lookup spec, with ``fn``) plus ``param_types``/``param_bits``
    entries for the two params. Merge the attrs into the node's (``param_types``/``param_bits``
    are dicts to update, not replace): :func:`attach_params` does that.
    """
    if fn not in ACT_TAILS:
        raise UserError(f"activation {fn!r} has no integer table; supported: {sorted(ACT_TAILS)}")
    if not isinstance(in_type, FixedType):
        raise UserError(f"activation {fn!r}: input is not fixed-point ({in_type}); quantize it first")
    out_type = act_type_for(config, out_max_abs)
    max_bits = getattr(config, "table_bits", DEFAULT_TABLE_BITS)
    base, slope, spec = fit_table(FUNCTIONS[fn], in_type, out_type, ACT_TAILS[fn], max_bits)
    types = entry_types(base, slope)
    attrs = {
        SPEC_KEY: {"fn": fn, **spec.to_json()},
        "param_types": {BASE_KEY: types["base"].to_json(), SLOPE_KEY: types["slope"].to_json()},
        "param_bits": {BASE_KEY: types["base"].width, SLOPE_KEY: types["slope"].width},
    }
    return out_type, {BASE_KEY: base, SLOPE_KEY: slope}, attrs


def act_int(
    fn: str,
    raw: np.ndarray,
    in_type: FixedType,
    out_type: FixedType,
    params: dict[str, np.ndarray],
    attrs: dict[str, Any],
) -> np.ndarray:
    """Exact integer activation: raw values of ``in_type`` -> raw values of ``out_type``.

    ``params``/``attrs`` are what :func:`quantize_act` returned (or the node's, which contain them;
    params may be :class:`~llm2hls.ir.graph.Param` objects or arrays).
    """
    spec = TableSpec.from_json(attrs[SPEC_KEY])
    if attrs[SPEC_KEY].get("fn", fn) != fn or spec.in_frac != in_type.frac:
        raise ValueError(f"act table was built for {attrs[SPEC_KEY].get('fn')}, frac {spec.in_frac}")
    base, slope = (getattr(params[k], "data", params[k]) for k in (BASE_KEY, SLOPE_KEY))
    return table_eval(raw, spec, base, slope, out_type)


def attach_params(node, params: dict[str, np.ndarray], attrs: dict[str, Any]) -> None:
    """Add ``q_`` params and attrs to ``node``, merging ``param_types``/``param_bits``."""
    from ..ir.graph import Param

    for key, data in params.items():
        node.params[key] = Param(np.asarray(data))
    for key, val in attrs.items():
        if key in ("param_types", "param_bits"):
            node.attrs.setdefault(key, {}).update(val)
        else:
            node.attrs[key] = val


def calib_max_abs(graph, config: Any, tensor: str) -> float:
    """Calibrated max |value| of ``tensor``: its ``meta['max_abs']`` or ``config.calib``."""
    meta = graph.tensors[tensor].meta
    if "max_abs" in meta:
        return float(meta["max_abs"])
    calib = getattr(config, "calib", {}) or {}
    if tensor not in calib:
        raise UserError(f"tensor {tensor!r} has no calibration data; run calibration first")
    return max(float(np.max(np.abs(np.asarray(a, dtype=np.float64)), initial=0.0)) for a in calib[tensor])


@register
class Activation(OpKind):
    name = "act"
    hls_template = "act.j2"

    def run_float(self, node, inputs):
        return [FUNCTIONS[node.attrs["fn"]](inputs[0])]

    def quantize(self, node, graph, config):
        in_type = graph.tensors[node.inputs[0]].type.dtype
        out = graph.tensors[node.outputs[0]]
        out_type, params, attrs = quantize_act(
            node.attrs["fn"], in_type, calib_max_abs(graph, config, out.name), config
        )
        out.type = TensorType(out.type.shape, out_type)
        attach_params(node, params, attrs)

    def run_int(self, node, inputs, graph):
        in_type = graph.tensors[node.inputs[0]].type.dtype
        out_type = graph.tensors[node.outputs[0]].type.dtype
        return [act_int(node.attrs["fn"], inputs[0], in_type, out_type, node.params, node.attrs)]

    def cost(self, node, graph):
        shape = graph.tensors[node.outputs[0]].type.shape
        n = int(np.prod(shape))
        lanes = max(1, node.lanes)
        return Cost(
            macs=0,
            param_bytes=param_bytes(node),
            cycles=-(-n // lanes) + 4,  # II=1 per lane, ~4 cycles of lookup latency
            ii=1,
            dsp=lanes,  # one interpolation multiply per lane
            bram18=lanes * _table_bram18(node),
            lut=lanes * 60,
        )

    def hls_context(self, node, graph):
        spec = node.attrs.get(SPEC_KEY)  # None in float mode (unquantized graph)
        return {"table": spec, "quantized": spec is not None,
                "C": graph.tensors[node.outputs[0]].type.shape[-1]}


def _table_bram18(node) -> int:
    """BRAM18 blocks of the two arrays (small tables go to LUTRAM: counted as 0)."""
    spec = node.attrs.get(SPEC_KEY)
    if not spec or spec["size"] <= 64:
        return 0
    bits = node.attrs["param_bits"]
    total = 0
    for key in (BASE_KEY, SLOPE_KEY):
        total += -(-spec["size"] * bits[key] // 18432)
    return total
