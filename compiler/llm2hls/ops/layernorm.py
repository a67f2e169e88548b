"""``layernorm``: LayerNorm or RMSNorm over channels. in/out: ``[S, C]``.

attrs: ``kind`` ("layer" or "rms"), ``eps``; ``residual`` (fused by ``fuse_residual_norm``): the
stage reads ``a, b`` and normalizes ``h = a + b`` (the unfused ``eltwise add``: exact sum, converted
to ``attrs['sum_type']``), writing ``y`` and, as a second output when it is read elsewhere, ``h``.
params: ``weight`` ``[C]`` (gamma, optional), ``bias`` ``[C]`` (beta, optional).

Integer semantics (docs/numerics-nonlinear.md has the proofs and a worked example). Per row of C
raw inputs ``x`` (width ``Wx``, frac ``Fx``), all in int64 with every value below 2**62::

    s   = sum(x)                                        # LayerNorm only
    mu  = (s * mean_mult + 2**(mean_shift-1)) >> mean_shift   # ~ mean * 2**G, G guard bits
    d   = (x << G) - mu                                 # RMSNorm: d = x (G = 0)
    e   = max(sum(d*d) + eps_raw, 1)                    # = C*(var+eps) * 2**(2(Fx+G))
    z   = (62 - bit_length(e)) // 2                     # normalize: e << 2z in [2**60, 2**62)
    r   = isqrt(e << 2z)                                # ~ sqrt(e) * 2**z, 31 bits
    inv = 2**61 // r                                    # the one division per row
    n   = round_shift(d * inv, 61 - z - NF)             # = d / sqrt(e) in [-1, 1], NF frac bits
    y   = convert(n * q_gamma[c] + q_beta[c], NF + FG, out_type)

``q_gamma = round(gamma * sqrt(C) * 2**FG)`` folds the ``sqrt(C)`` of ``d / sqrt(e/C)`` into the
gain, so no division by C is ever needed.
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import UserError
from ..ir.types import FixedType, TensorType, int_type
from ..numerics import INT, as_raw, bits_for, convert, isqrt, round_shift
from .activation import attach_params, calib_max_abs
from .base import Cost, OpKind, param_bytes, register
from .eltwise import binary_int
from .qcommon import attr_type, fixed
from .tables import act_type_for

NORM_FRAC = 24  # fraction bits of the normalized value n in [-1, 1]
GAIN_BITS = 18  # signed width of q_gamma (one DSP input port)
MAX_GUARD = 8  # guard bits of the mean (LayerNorm)
RECIP_SHIFT = 61  # inv = 2**61 // r


def bit_length(x: np.ndarray) -> np.ndarray:
    """Exact bit length of non-negative int64 values (C++: ``llm2hls::nl::bit_length``)."""
    x = as_raw(x)
    bl = np.zeros_like(x)
    pos = x > 0
    guess = np.floor(np.log2(np.where(pos, x, 1).astype(np.float64))).astype(INT) + 1
    guess = np.where((INT(1) << (guess - 1)) > x, guess - 1, guess)
    guess = np.where((guess < 63) & ((INT(1) << np.minimum(guess, 62)) <= x), guess + 1, guess)
    return np.where(pos, guess, bl)


def layernorm_plan(kind: str, in_type: FixedType, channels: int, eps: float) -> dict:
    """Shifts and constants of one layernorm stage, proved overflow-free from its shape.

    Bounds (``C = channels``, ``W = in width``): ``|s| <= C*2**(W-1)``, ``|s*mean_mult| < 2**60``;
    ``|d| <= 2**(W+G)``, ``sum(d*d) <= C*(2**(W+G)+1)**2 < 2**60``; ``eps_raw < 2**61`` so
    ``e < 2**62``; ``|d*inv| <= 2**(W+G) * 2**31 < 2**62``; ``|n| <= 2**NF + 1``.
    """
    w, c = in_type.width, channels
    clog_c = max(0, math.ceil(math.log2(c)))
    if kind == "layer":
        guard = min(MAX_GUARD, (59 - 2 * w - clog_c) // 2)
    else:
        guard = 0
    if guard < 0 or clog_c + 2 * (w + guard) > 59 or w + guard > 30:
        raise UserError(
            f"layernorm over {c} channels of {w}-bit inputs would overflow 62-bit arithmetic; "
            "use narrower activations (act_bits) or fewer channels"
        )
    mean_shift = 60 - (w - 1) - guard - 1
    eps_raw = int(round(c * float(eps) * 2.0 ** (2 * (in_type.frac + guard))))
    if eps_raw >= 2**61:
        raise UserError(
            f"layernorm eps={eps} is too large for input type {in_type} (eps*C*2^(2F) >= 2^61); "
            "use a wider input range"
        )
    return {
        "guard": guard,
        "mean_shift": mean_shift,
        "mean_mult": int(round(2.0 ** (mean_shift + guard) / c)),
        "eps_raw": eps_raw,
        "norm_frac": NORM_FRAC,
        "d_bits": w + guard + 2,
    }


def layernorm_int(x: np.ndarray, plan: dict, q_gamma: np.ndarray, q_beta: np.ndarray | None,
                  gain_frac: int, out_type: FixedType, kind: str) -> np.ndarray:
    """Exact integer LayerNorm/RMSNorm of raw rows ``x`` ``[S, C]`` (see the module docstring)."""
    x = as_raw(x)
    g = plan["guard"]
    if kind == "layer":
        s = x.sum(axis=-1, keepdims=True)
        mu = round_shift(s * INT(plan["mean_mult"]), plan["mean_shift"], "RND")
        d = (x << INT(g)) - mu
    else:
        d = x
    e = np.maximum((d * d).sum(axis=-1, keepdims=True) + INT(plan["eps_raw"]), 1)
    z = (62 - bit_length(e)) >> 1
    r = isqrt(e << (2 * z))
    inv = (INT(1) << INT(RECIP_SHIFT)) // r
    prod = d * inv
    sh = RECIP_SHIFT - z - plan["norm_frac"]  # >= 7 per row (z <= 30)
    n = (prod + (INT(1) << (sh - 1))) >> sh
    acc = n * as_raw(q_gamma)
    if q_beta is not None:
        acc = acc + as_raw(q_beta)
    return convert(acc, plan["norm_frac"] + gain_frac, out_type)


@register
class LayerNorm(OpKind):
    name = "layernorm"
    hls_template = "layernorm.j2"

    def run_float(self, node, inputs):
        x = np.asarray(inputs[0], dtype=np.float64)
        if node.attrs.get("residual"):  # h = a + b, as the unfused eltwise add
            x = np.add(x, inputs[1])
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
        return [y, x] if len(node.outputs) > 1 else [y]

    def quantize(self, node, graph, config):
        in_type = graph.tensors[node.inputs[0]].type.dtype
        if node.attrs.get("residual"):
            in_type = _quantize_sum(node, graph, config)
        if not isinstance(in_type, FixedType):
            raise UserError(f"layernorm {node.name}: input is not fixed-point; quantize it first")
        out = graph.tensors[node.outputs[0]]
        c = out.type.shape[-1]
        kind = node.attrs.get("kind", "layer")
        plan = layernorm_plan(kind, in_type, c, float(node.attrs.get("eps", 1e-5)))
        out_type = act_type_for(config, calib_max_abs(graph, config, out.name))
        gamma = node.param("weight").astype(np.float64) if "weight" in node.params else np.ones(c)
        gain = gamma * math.sqrt(c)
        peak = float(np.abs(gain).max(initial=0.0)) or 1.0
        gain_frac = GAIN_BITS - 1 - math.ceil(math.log2(peak))
        params = {}
        if "bias" in node.params:
            beta = node.param("bias").astype(np.float64)
            beta_peak = float(np.abs(beta).max(initial=0.0))
            if beta_peak > 0:  # keep q_beta below 2**60
                gain_frac = min(gain_frac, 59 - NORM_FRAC - math.ceil(math.log2(beta_peak)))
            params["q_beta"] = np.floor(beta * 2.0 ** (NORM_FRAC + gain_frac) + 0.5).astype(INT)
        params["q_gamma"] = np.floor(gain * 2.0**gain_frac + 0.5).astype(INT)
        types = {k: int_type(bits_for(int(np.abs(v).max(initial=0)))) for k, v in params.items()}
        plan["gain_frac"] = gain_frac
        plan["acc_bits"] = bits_for(
            (2**NORM_FRAC + 1) * int(np.abs(params["q_gamma"]).max(initial=0))
            + int(np.abs(params.get("q_beta", np.zeros(1, INT))).max(initial=0))
        )
        out.type = TensorType(out.type.shape, out_type)
        attach_params(node, params, {
            "ln": plan,
            "param_types": {k: t.to_json() for k, t in types.items()},
            "param_bits": {k: t.width for k, t in types.items()},
        })

    def run_int(self, node, inputs, graph):
        plan = node.attrs["ln"]
        out_type = graph.tensors[node.outputs[0]].type.dtype
        beta = node.param("q_beta") if "q_beta" in node.params else None
        kind = node.attrs.get("kind", "layer")
        x = inputs[0]
        if node.attrs.get("residual"):
            x = binary_int("add", x, fixed(graph, node.inputs[0]), inputs[1], fixed(graph, node.inputs[1]),
                           attr_type(node, "sum_type"))
        y = layernorm_int(x, plan, node.param("q_gamma"), beta, plan["gain_frac"], out_type, kind)
        return [y, x] if len(node.outputs) > 1 else [y]

    def cost(self, node, graph):
        s, c = graph.tensors[node.outputs[0]].type.shape[-2:]
        div_latency = 64 + 32  # one 62/31-bit division + a 31-step isqrt per row
        passes = 3 if node.attrs.get("kind", "layer") == "layer" else 2
        residual = bool(node.attrs.get("residual"))  # the add, and a row buffer of h to write with y
        return Cost(
            macs=2 * s * c,
            param_bytes=param_bytes(node),
            cycles=s * (passes * c + div_latency),
            ii=1,
            dsp=6,  # d*d, d*inv (2 DSPs), n*gamma, mean multiply
            bram18=(3 if residual else 2) * -(-c * 32 // 18432),  # row buffers of x and d (and h)
            lut=800 + (40 if residual else 0),
        )

    def hls_context(self, node, graph):
        c = graph.tensors[node.outputs[0]].type.shape[-1]
        quantized = "ln" in node.attrs
        ctx = {
            "C": c,
            "kind": node.attrs.get("kind", "layer"),
            "quantized": quantized,
            "has_gamma": "weight" in node.params,
            "has_beta": ("q_beta" if quantized else "bias") in node.params,
            "eps": repr(float(node.attrs.get("eps", 1e-5))),
        }
        if quantized:
            ctx["ln"] = node.attrs["ln"]
            ctx["in_bits"] = graph.tensors[node.inputs[0]].type.dtype.width
        ctx["residual"] = bool(node.attrs.get("residual"))
        ctx["write_sum"] = len(node.outputs) > 1
        if ctx["residual"]:
            ctx["sum_ctype"] = attr_type(node, "sum_type").c_type() if quantized else "float"
            if quantized:
                ctx["in_bits"] = attr_type(node, "sum_type").width
        return ctx


def _quantize_sum(node, graph, config) -> FixedType:
    """The type of the fused residual sum ``h``: what the unfused ``eltwise add`` chose, from the
    calibrated ``max|a + b|`` (its output tensor's statistics when ``h`` is still a stream)."""
    if len(node.outputs) > 1 and "max_abs" in graph.tensors[node.outputs[1]].meta:
        peak = float(graph.tensors[node.outputs[1]].meta["max_abs"])
    else:
        sums = [np.add(a, b) for a, b in zip(config.calib_values(node.inputs[0]),
                                             config.calib_values(node.inputs[1]))]
        peak = max(float(np.abs(v).max(initial=0.0)) for v in sums)
    h_t = config.act_type(peak)
    node.attrs["sum_type"] = h_t.to_json()
    if len(node.outputs) > 1:
        out = graph.tensors[node.outputs[1]]
        out.type = TensorType(out.type.shape, h_t)
    return h_t
