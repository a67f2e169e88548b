"""``linear``: ``y = act(x @ W.T + b) [+ residual]``. in: x ``[S, K]`` (+ residual ``[S, N]``);
out: ``[S, N]``.

params: ``weight`` ``[N, K]`` (PyTorch layout; GPT-2 Conv1D weights are transposed on import),
``bias`` ``[N]`` (optional).
attrs: ``act`` (None or a name in :data:`llm2hls.ops.functions.FUNCTIONS`), fused by the
``fuse_activation`` pass; ``residual`` (bool): a second input is added after the activation,
fused by ``fuse_residual``.
Fused linears (passes/fuse.py): ``segments`` (list of row counts): the weight stacks several
linears reading the same input; without ``glu`` there is one output per segment (Q/K/V), with
``glu`` two segments ``[N, N]`` (gate rows, then up rows) and one output ``act(gate) * up``.

Integer semantics (docs/numerics.md): per-output-channel symmetric weights ``q_weight``, an exact
accumulator, a per-channel unsigned multiplier ``q_scale`` (frac ``Fm``) and ``q_bias`` (frac
``Fx + Fm``); ``y = convert(acc * q_scale + q_bias, Fx + Fm, y_type)``. A fused activation and a
fused residual add then compute exactly what the unfused ``act`` and ``eltwise`` stages compute.

Schemes beyond per-channel weights (docs/quantization.md): the input may first be narrowed to
``attrs['in_type']`` (e.g. 8 bits in ``w8a8``); weights may be group-wise (``attrs['group']`` input
channels per scale, ``q_scale [N, NG]``) and asymmetric (unsigned ``q_weight`` with a zero point
``q_zero [N, NG]``): ``acc[n, g] = sum_{k in g} xq[k] * (q_weight[n, k] - q_zero[n, g])`` exact,
``y = convert(sum_g acc[n, g] * q_scale[n, g] + q_bias[n], Fxq + Fm, y_type)``.

Fused segments (docs/numerics.md, "Fusion") are each quantized exactly as their own linear; segment
``j``'s multipliers and biases are stored shifted left by ``Fm - Fm_j`` (exact), so one ``Fm`` serves
the stage, and segment ``j`` is converted into its own ``attrs['y_types'][j]``.
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import UserError
from ..ir.types import FixedType, int_type, numtype_from_json
from ..numerics import convert, exact_matmul
from .base import Cost, OpKind, param_bytes, register
from .eltwise import binary_int
from .functions import FUNCTIONS
from .qcommon import (
    add_qparam, attr_type, bram18, ceil_log2, dsp_per_mul, dtype, fixed, int_bits_for, param_type,
    port, set_type,
)

MAX_RAW_BITS = 62
"""Every intermediate of the integer reference must fit int64 with margin (numerics.py)."""


def affine_float(node, x: np.ndarray) -> np.ndarray:
    """``x @ W.T + b`` in float64: the pre-activation, shared by run_float and calibration."""
    y = np.asarray(x, dtype=np.float64) @ node.param("weight").astype(np.float64).T
    if "bias" in node.params:
        y = y + node.param("bias")
    return y


def segment_rows(node) -> list[slice]:
    """Row ranges of the segments of a (fused) linear; one range covering all rows otherwise."""
    counts = node.attrs.get("segments") or [node.param("weight").shape[0]]
    bounds = np.cumsum([0] + list(counts))
    return [slice(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:])]


def segment_affine(node, x: np.ndarray, rows: slice) -> np.ndarray:
    """``x @ W[rows].T + b[rows]`` in float64, computed as the unfused linear of those rows would
    (the rows are copied, so the matrix product sees the same operands)."""
    y = np.asarray(x, dtype=np.float64) @ node.param("weight")[rows].astype(np.float64).T
    if "bias" in node.params:
        y = y + node.param("bias")[rows]
    return y


def quantize_weight(w: np.ndarray, bits: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-output-channel symmetric quantization: ``(q [N, K] int64, scale [N] float64)``.

    ``s_n = max|W[n, :]| / (2^(bits-1) - 1)``, ``q = clip(round_half_up(W / s_n), -qmax, qmax)``;
    an all-zero row gets ``s_n = 1`` (and ``q = 0``).
    """
    qmax = (1 << (bits - 1)) - 1
    w = np.asarray(w, dtype=np.float64)
    s = np.abs(w).max(axis=1) / qmax
    s = np.where(s > 0, s, 1.0)
    q = np.clip(np.floor(w / s[:, None] + 0.5), -qmax, qmax).astype(np.int64)
    return q, s


def quantize_weight_groups(
    w: np.ndarray, bits: int, group: int, sym: bool = True
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Group-wise quantization: ``(q [N, K], scale [N, NG], zero [N, NG] or None)``.

    Group ``g`` holds input channels ``g*group .. min((g+1)*group, K) - 1``. Symmetric:
    ``s = max|W_g| / (2^(bits-1) - 1)``, ``q = clip(round_half_up(W / s), -qmax, qmax)``.
    Asymmetric: the range ``[min(W_g, 0), max(W_g, 0)]`` maps onto ``0 .. 2^bits - 1``:
    ``s = (hi - lo) / (2^bits - 1)``, ``z = clip(round_half_up(-lo / s), 0, 2^bits - 1)``,
    ``q = clip(round_half_up(W / s) + z, 0, 2^bits - 1)``; ``W ~ s * (q - z)``. An all-zero group
    gets ``s = 1`` (``q = z = 0``).
    """
    w = np.asarray(w, dtype=np.float64)
    n_out, k_in = w.shape
    ng = -(-k_in // group)
    pad = np.full((n_out, ng * group - k_in), np.nan)
    wg = np.concatenate([w, pad], axis=1).reshape(n_out, ng, group)
    if sym:
        qmax = (1 << (bits - 1)) - 1
        s = np.nanmax(np.abs(wg), axis=2) / qmax
        s = np.where(s > 0, s, 1.0)
        q = np.clip(np.floor(wg / s[:, :, None] + 0.5), -qmax, qmax)
        zero = None
    else:
        qmax = (1 << bits) - 1
        lo = np.minimum(np.nanmin(wg, axis=2), 0.0)
        hi = np.maximum(np.nanmax(wg, axis=2), 0.0)
        s = (hi - lo) / qmax
        s = np.where(s > 0, s, 1.0)
        zero = np.clip(np.floor(-lo / s + 0.5), 0, qmax)
        q = np.clip(np.floor(wg / s[:, :, None] + 0.5) + zero[:, :, None], 0, qmax)
        zero = zero.astype(np.int64)
    q = np.nan_to_num(q).reshape(n_out, ng * group)[:, :k_in].astype(np.int64)
    return q, s, zero


def dequantized_weight(node, config) -> np.ndarray:
    """``W`` quantize-dequantized exactly as :meth:`Linear.quantize` quantizes it, with the float
    scales (what PyTorch fake-quantization of the same scheme uses; llm2hls.eval)."""
    w = node.param("weight")
    group = weight_group(w.shape[1], config)
    if group is None:
        q, s = quantize_weight(w, config.weight_bits)
        return q * s[:, None]
    q, s, z = quantize_weight_groups(w, config.weight_bits, group, config.weight_sym)
    k_in = w.shape[1]
    if z is not None:
        q = q - np.repeat(z, group, axis=1)[:, :k_in]
    return q * np.repeat(s, group, axis=1)[:, :k_in]


def weight_group(k_in: int, config) -> int | None:
    """The group size for ``k_in`` input channels, or None for per-channel scales (one group would
    span the whole row anyway, and symmetric per-channel keeps the original w8a16 semantics)."""
    g = config.group_size
    if config.weight_sym and (not g or g >= k_in):
        return None
    return min(g or k_in, k_in)


def scale_frac(max_scale: float, bits: int) -> int:
    """Largest ``Fm`` with ``max_scale * 2^Fm <= 2^bits - 1`` (so every multiplier fits ``bits``)."""
    return math.floor(math.log2(((1 << bits) - 1) / max_scale))


@register
class Linear(OpKind):
    name = "linear"
    hls_template = "linear.j2"
    parallel = True  # the parallelize pass gives this kind lanes (output channels per cycle)
    latency_tokens = 1  # reads a whole input row before writing (fifo pass)

    def run_float(self, node, inputs):
        if "segments" in node.attrs:
            zs = [segment_affine(node, inputs[0], rows) for rows in segment_rows(node)]
            if node.attrs.get("glu"):
                return [FUNCTIONS[node.attrs["act"]](zs[0]) * zs[1]]
            return zs
        y = affine_float(node, inputs[0])
        if node.attrs.get("act"):
            y = FUNCTIONS[node.attrs["act"]](y)
        if node.attrs.get("residual"):
            y = y + inputs[1]
        return [y]

    # ---- quantization ----------------------------------------------------------------------
    def quantize(self, node, graph, config):
        from .activation import attach_params, quantize_act

        x_t = fixed(graph, node.inputs[0])
        if config.linear_in_bits < x_t.width:  # e.g. w8a8: the matrix input is narrowed first
            x_t = config.act_type(graph.tensors[node.inputs[0]].meta["max_abs"], config.linear_in_bits)
            node.attrs["in_type"] = x_t.to_json()
        w = node.param("weight")
        n_out, k_in = w.shape
        group = weight_group(k_in, config)
        if group is None:
            q_w, s = quantize_weight(w, config.weight_bits)
            w_t = int_type(config.weight_bits)
            w_mag_bits = config.weight_bits - 1  # |q| <= 2^(wb-1) - 1
            terms, n_groups = k_in, 1
        else:
            q_w, s, zero = quantize_weight_groups(w, config.weight_bits, group, config.weight_sym)
            w_t = int_type(config.weight_bits) if config.weight_sym else FixedType(
                config.weight_bits, 0, signed=False, rounding="TRN", overflow="WRAP")
            w_mag_bits = config.weight_bits - (1 if config.weight_sym else 0)  # |q - z| <= 2^wb - 1
            if zero is not None:
                add_qparam(node, "q_zero", zero, w_t)
            terms, n_groups = group, s.shape[1]
            node.attrs["group"] = group
        rows = segment_rows(node)
        fms = [scale_frac(float(s[r].max()), config.scale_bits) for r in rows]
        fm = max(fms)  # segment j is stored shifted left by fm - fms[j] (exact)
        shifts = np.concatenate([np.full(r.stop - r.start, fm - f, dtype=np.int64) for r, f in zip(rows, fms)])
        shifts = shifts.reshape((-1,) + (1,) * (s.ndim - 1))
        q_scale = np.floor(s * 2.0 ** (fm - shifts) + 0.5).astype(np.int64) << shifts
        scale_t = FixedType(config.scale_bits + fm - min(fms), fm, signed=False, rounding="TRN",
                            overflow="WRAP")
        add_qparam(node, "q_weight", q_w, w_t)
        add_qparam(node, "q_scale", q_scale, scale_t)

        # Exact accumulator (per group): |x| <= 2^(A-1), |w| < 2^w_mag_bits, `terms` products.
        acc_bits = x_t.width + w_mag_bits + ceil_log2(terms)
        prod_frac = x_t.frac + fm
        prod_bits = acc_bits + scale_t.width + 1 + ceil_log2(n_groups)  # signed acc x unsigned scale
        sum_bits = prod_bits
        if "bias" in node.params:
            bias_shift = shifts.reshape(-1)
            q_bias = np.floor(node.param("bias").astype(np.float64) * 2.0 ** (prod_frac - bias_shift) + 0.5)
            q_bias = q_bias.astype(np.int64) << bias_shift
            bias_t = FixedType(int_bits_for(int(np.abs(q_bias).max(initial=0))), prod_frac,
                               rounding="TRN", overflow="WRAP")
            add_qparam(node, "q_bias", q_bias, bias_t)
            sum_bits = max(prod_bits, bias_t.width) + 1
        if sum_bits > MAX_RAW_BITS:
            raise UserError(
                f"linear {node.name}: requantization needs {sum_bits} bits (> {MAX_RAW_BITS}); "
                "lower --weight-bits or the scale bits"
                + (", or keep its linears apart (--fuse without siblings,glu)" if len(rows) > 1 else "")
            )
        node.attrs["acc_type"] = FixedType(acc_bits, x_t.frac, True, "TRN", "WRAP").to_json()
        if group is not None:
            node.attrs["sum_type"] = FixedType(sum_bits, prod_frac, True, "TRN", "WRAP").to_json()
        node.attrs["sum_bits"] = sum_bits

        if "segments" in node.attrs:
            _quantize_segments(node, graph, config, rows)
            return
        # The requantized affine output: the type the unfused linear's output would get.
        z = [affine_float(node, x) for x in config.calib_values(node.inputs[0])]
        y_t = config.act_type(_max_abs(z))
        node.attrs["y_type"] = y_t.to_json()
        out_t = y_t
        if node.attrs.get("act"):
            fn = node.attrs["act"]
            a = [FUNCTIONS[fn](v) for v in z]
            out_t, params, attrs = quantize_act(fn, y_t, _max_abs(a), config)
            attach_params(node, params, attrs)
            node.attrs["act_type"] = out_t.to_json()
            z = a
        if node.attrs.get("residual"):
            r = config.calib_values(node.inputs[1])
            out_t = config.act_type(_max_abs([v + rv for v, rv in zip(z, r)]))
        set_type(graph, node.outputs[0], out_t)

    def run_int(self, node, inputs, graph):
        from .activation import act_int

        x_t = fixed(graph, node.inputs[0])
        x = inputs[0]
        if "in_type" in node.attrs:
            x = convert(x, x_t.frac, attr_type(node, "in_type"))
            x_t = attr_type(node, "in_type")
        scale_t = param_type(node, "q_scale")
        if "group" in node.attrs:
            y = _group_sum(x, node)
        else:
            acc = exact_matmul(x, node.param("q_weight").T)
            y = acc * node.param("q_scale")
        if "q_bias" in node.params:
            y = y + node.param("q_bias")
        frac = x_t.frac + scale_t.frac
        if "segments" in node.attrs:
            return _segments_int(node, graph, y, frac)
        y_t = attr_type(node, "y_type")
        out = convert(y, frac, y_t)
        cur_t = y_t
        if node.attrs.get("act"):
            cur_t = attr_type(node, "act_type")
            out = act_int(node.attrs["act"], out, y_t, cur_t, node.params, node.attrs)
        if node.attrs.get("residual"):
            out = binary_int("add", out, cur_t, inputs[1], fixed(graph, node.inputs[1]),
                             fixed(graph, node.outputs[0]))
        return [out]

    # ---- cost ------------------------------------------------------------------------------
    def lane_channels(self, node, graph) -> int:
        """Output channels the lanes split (parallelize pass): every row of a Q/K/V stage, the
        channel pairs of a GLU stage (each lane computes a gate row and an up row), else the
        output channels."""
        rows = node.param("weight").shape[0]
        if "segments" in node.attrs:
            return rows // 2 if node.attrs.get("glu") else rows
        return graph.tensors[node.outputs[0]].type.shape[-1]

    def cost(self, node, graph):
        n_out, k_in = node.param("weight").shape
        seq = graph.tensors[node.inputs[0]].type.shape[0]
        lanes = max(1, node.lanes)
        per_lane = 2 if node.attrs.get("glu") else 1  # a GLU lane computes a gate and an up row
        groups = -(-n_out // (lanes * per_lane))
        wb = node.attrs.get("param_bits", {}).get("q_weight", 32)
        ab = getattr(dtype(graph, node.inputs[0]), "width", 32)
        if "in_type" in node.attrs:
            ab = attr_type(node, "in_type").width
        requant = dsp_per_mul(node.attrs.get("sum_bits", 32) - 16, 16) if "q_scale" in node.params else 0
        if "group" in node.attrs:  # one scale multiply per lane at every group end
            requant = lanes * dsp_per_mul(attr_type(node, "acc_type").width, 16)
        requant *= per_lane
        if node.attrs.get("glu") and "act_type" in node.attrs:  # the product act(g) * u
            requant += dsp_per_mul(attr_type(node, "act_type").width, 16)
        return Cost(
            macs=seq * n_out * k_in,
            param_bytes=param_bytes(node),
            # per token: read the row (K), then per lane group a K-cycle dot product and L writes
            cycles=seq * (k_in + groups * (k_in + lanes)),
            ii=1,
            dsp=lanes * per_lane * dsp_per_mul(ab, wb) + requant,
            bram18=bram18(groups * k_in * wb, lanes * per_lane) + bram18(k_in * ab),
            lut=lanes * per_lane * 40,
        )

    # ---- HLS -------------------------------------------------------------------------------
    def hls_context(self, node, graph):
        n_out, k_in = node.param("weight").shape
        quantized = "q_weight" in node.params
        ctx = {
            "N": n_out,
            "K": k_in,
            "lanes": max(1, node.lanes),
            "quantized": quantized,
            "has_bias": "bias" in node.params,
            "act": node.attrs.get("act"),
            "residual": bool(node.attrs.get("residual")),
        }
        ctx["group"] = node.attrs.get("group")
        ctx["asym"] = "q_zero" in node.params
        ctx["in_ctype"] = attr_type(node, "in_type").c_type() if "in_type" in node.attrs else None
        ctx["sum_ctype"] = attr_type(node, "sum_type").c_type() if "sum_type" in node.attrs else None
        if ctx["asym"]:
            ctx["wdiff_ctype"] = f"ap_int<{node.attrs['param_bits']['q_weight'] + 1}>"
        if quantized:
            ctx["acc_ctype"] = attr_type(node, "acc_type").c_type()
            ctx["y_ctype"] = attr_type(node, "y_type").c_type() if "y_type" in node.attrs else None
            if node.attrs.get("act"):
                ctx["act_ctype"] = attr_type(node, "act_type").c_type()
                ctx["act_table"] = node.attrs["act_table"]
        else:
            ctx["acc_ctype"] = ctx["y_ctype"] = ctx["act_ctype"] = "float"
        if ctx["residual"]:
            ctx["res"] = port(graph, node.inputs[1])
        ctx.update(_segments_context(node, graph, ctx))
        return ctx


def _group_sum(x: np.ndarray, node) -> np.ndarray:
    """``sum_g acc[:, n, g] * q_scale[n, g]`` with ``acc`` the exact per-group dot products of
    ``x`` with ``q_weight - q_zero`` (every term exact in int64; see docs/quantization.md)."""
    q = node.param("q_weight")
    scale = node.param("q_scale")
    group = node.attrs["group"]
    k_in = q.shape[1]
    total = np.zeros((x.shape[0], q.shape[0]), dtype=np.int64)
    for g in range(scale.shape[1]):
        cols = slice(g * group, min((g + 1) * group, k_in))
        wg = q[:, cols]
        if "q_zero" in node.params:
            wg = wg - node.param("q_zero")[:, g:g + 1]
        acc = exact_matmul(x[:, cols], wg.T)
        total += acc * scale[:, g]
    return total


def _quantize_segments(node, graph, config, rows: list[slice]) -> None:
    """Output types of a fused linear: each segment's requantized type from its own calibrated
    ``max|x W_j^T + b_j|`` (what its unfused linear chose); a GLU adds the gate's activation table
    and the product's type (what the unfused ``act`` and ``eltwise mul`` chose)."""
    from .activation import attach_params, calib_max_abs, quantize_act

    calib = config.calib_values(node.inputs[0])
    zs = [[segment_affine(node, x, r) for x in calib] for r in rows]
    y_types = [config.act_type(_max_abs(z)) for z in zs]
    node.attrs["y_types"] = [t.to_json() for t in y_types]
    if not node.attrs.get("glu"):
        for out, t in zip(node.outputs, y_types):
            set_type(graph, out, t)
        return
    fn = node.attrs["act"]
    act_t, params, attrs = quantize_act(fn, y_types[0], _max_abs([FUNCTIONS[fn](v) for v in zs[0]]), config)
    attach_params(node, params, attrs)
    node.attrs["act_type"] = act_t.to_json()
    set_type(graph, node.outputs[0], config.act_type(calib_max_abs(graph, config, node.outputs[0])))


def _segments_int(node, graph, y: np.ndarray, frac: int) -> list[np.ndarray]:
    """Integer outputs of a fused linear from the exact sums ``y`` (fraction ``frac``): each
    segment converted into its own type; a GLU then ``mul(act(gate), up)`` as the unfused stages."""
    from .activation import act_int

    y_types = [_ftype(t) for t in node.attrs["y_types"]]
    parts = [convert(y[:, r], frac, t) for r, t in zip(segment_rows(node), y_types)]
    if not node.attrs.get("glu"):
        return parts
    act_t = attr_type(node, "act_type")
    a = act_int(node.attrs["act"], parts[0], y_types[0], act_t, node.params, node.attrs)
    return [binary_int("mul", a, act_t, parts[1], y_types[1], fixed(graph, node.outputs[0]))]


def _segments_context(node, graph, ctx: dict) -> dict:
    """Template variables of a fused linear: the output segments (Q/K/V) or the GLU halves."""
    if "segments" not in node.attrs:
        return {"glu": False, "segments": None}
    quantized = ctx["quantized"]
    out = {"glu": bool(node.attrs.get("glu")), "segments": None}
    if quantized and "sum_type" not in node.attrs:  # the exact requantization sum of one row
        frac = attr_type(node, "acc_type").frac + param_type(node, "q_scale").frac
        out["sum_ctype"] = FixedType(node.attrs["sum_bits"], frac, True, "TRN", "WRAP").c_type()
    elif not quantized:
        out["sum_ctype"] = "float"
    y_ctypes = [_ftype(t).c_type() for t in node.attrs["y_types"]] if quantized else None
    if out["glu"]:
        n = node.attrs["segments"][0]
        out.update({"N": n, "up_row": n, "y_ctype": y_ctypes[0] if quantized else "float",
                    "yu_ctype": y_ctypes[1] if quantized else "float"})
        return out
    sources = node.source.split(", ")
    names = node.attrs.get("fused") or [f"segment {j}" for j in range(len(node.outputs))]
    out["segments"] = [
        {"lo": r.start, "hi": r.stop, "out": j,
         "what": sources[j] if len(sources) == len(node.outputs) else names[j]}
        for j, r in enumerate(segment_rows(node))
    ]
    return out


def _ftype(d: dict) -> FixedType:
    t = numtype_from_json(d)
    assert isinstance(t, FixedType)
    return t


def _max_abs(values: list[np.ndarray]) -> float:
    return max(float(np.abs(v).max(initial=0.0)) for v in values)
