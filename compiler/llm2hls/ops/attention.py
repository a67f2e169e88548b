"""``attention``: multi-head scaled dot-product attention, softmax included. out: ``[S, Hq*D]``.

in: q ``[S, Hq*D]``, k ``[S, Hk*D]``, v ``[S, Hk*D]`` (head-major channels: head h owns channels
``h*D .. h*D+D-1``; grouped-query attention when ``Hk < Hq``, query head h reads kv head
``h // (Hq // Hk)``).
attrs: ``heads`` (Hq), ``kv_heads`` (Hk), ``head_dim`` (D), ``scale`` (float, usually D**-0.5),
``causal`` (bool), ``kv_cache`` (reserved for decode: keys/values of earlier tokens).
params: ``mask`` ``[S, S]`` bool (optional; True = may attend), e.g. a padding mask.

Integer semantics (docs/numerics-nonlinear.md), per head and query row i, over allowed keys j::

    qk_j  = sum_d q[i,d] * k[j,d]                          # exact, frac Fq+Fk
    s_j   = convert(qk_j * q_scale, Fq+Fk+FM, score_type)  # q_scale = round(scale * 2**FM)
    m     = max_j s_j
    e_j   = exp_table(m - s_j)                             # unsigned, frac FE; e = 2**FE at the max
    sum   = sum_j e_j
    acc_d = sum_j e_j * v[j,d]                             # exact, frac FE+Fv
    rinv  = 2**PR // sum                                   # the one division per row
    out_d = convert(acc_d * rinv, PR + Fv, out_type)       # = sum_j p_j v[j,d]

Normalization is deferred to after the weighted sum (as flash attention does): D multiplies per
row instead of one per probability, and no rounding of individual probabilities. A row with no
allowed key gives 0 (in float mode too; PyTorch gives NaN there).
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import UserError
from ..ir.types import FixedType, TensorType
from ..numerics import INT, as_raw, bits_for, convert, exact_matmul
from .activation import attach_params, calib_max_abs
from .base import Cost, OpKind, param_bytes, register
from .tables import DEFAULT_TABLE_BITS, TableSpec, act_type_for, entry_types, fit_table, table_eval

EXP_FRAC = 16  # FE: fraction bits of the unnormalized exponentials e_j (1.0 = 2**16)
SCALE_BITS = 16  # q_scale is an unsigned 16-bit multiplier
EXP_KEYS = ("q_exp_base", "q_exp_slope")


def keys_per_cycle(macs: int, head_dim: int) -> int:
    """Keys an attention stage takes per cycle (``P``, its ``node.lanes``) when a design gives it
    ``macs`` MACs per cycle: each key costs ``head_dim`` MACs (one dot product), at least one."""
    return max(1, macs // head_dim)


def allowed_mask(node, s_q: int, s_k: int) -> np.ndarray:
    """Boolean ``[s_q, s_k]``: which keys each query may attend to."""
    mask = np.ones((s_q, s_k), dtype=bool)
    if node.attrs.get("causal"):
        mask &= np.tril(np.ones((s_q, s_k), dtype=bool), k=s_k - s_q)
    if "mask" in node.params:
        mask &= node.param("mask").astype(bool)
    return mask


def split_heads(x: np.ndarray, heads: int, head_dim: int) -> np.ndarray:
    """``[S, H*D]`` -> ``[H, S, D]``."""
    return x.reshape(x.shape[0], heads, head_dim).transpose(1, 0, 2)


def float_scores(node, q: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Scaled scores ``[Hq, S, S]`` in float (used by calibration of the score type)."""
    a = node.attrs
    hq, hk, d = a["heads"], a["kv_heads"], a["head_dim"]
    qh = split_heads(np.asarray(q, dtype=np.float64), hq, d)
    kh = np.repeat(split_heads(np.asarray(k, dtype=np.float64), hk, d), hq // hk, axis=0)
    return (qh @ kh.transpose(0, 2, 1)) * a["scale"]


def exp_neg(x: np.ndarray) -> np.ndarray:
    """``exp(-x)``: the softmax table function of ``x = max - s >= 0``."""
    return np.exp(-np.asarray(x, dtype=np.float64))


def attention_plan(q_t: FixedType, k_t: FixedType, v_t: FixedType, score_t: FixedType,
                   scale: float, head_dim: int, seq: int) -> dict:
    """Multipliers, shifts and widths of one attention stage, proved overflow-free from shapes.

    ``|qk| <= D * 2**(Wq-1) * 2**(Wk-1)``; ``|qk * q_scale| < 2**62``; ``sum <= S * 2**FE``;
    ``|acc| <= sum * 2**(Wv-1)`` so ``|acc * rinv| <= 2**(Wv-1+PR) = 2**61`` with ``PR = 62-Wv``.
    """
    if not scale > 0:
        raise UserError(f"attention scale must be positive (got {scale})")
    qk_bits = bits_for(head_dim * 2 ** (q_t.width - 1) * 2 ** (k_t.width - 1))
    scale_bits = min(SCALE_BITS, 62 - qk_bits)
    if scale_bits < 8:
        raise UserError(
            f"attention head_dim {head_dim} with {q_t.width}/{k_t.width}-bit q/k overflows 62 bits; "
            "use narrower activations"
        )
    scale_frac = scale_bits - 1 - math.floor(math.log2(scale))
    q_scale = int(round(scale * 2.0**scale_frac))
    recip_shift = 62 - v_t.width
    sum_bits = bits_for(seq * 2**EXP_FRAC, signed=False)
    return {
        "q_scale": q_scale,
        "scale_frac": scale_frac,
        "qk_bits": qk_bits,
        "prod_bits": bits_for((2**(qk_bits - 1)) * q_scale),
        "score_type": score_t.to_json(),
        "exp_frac": EXP_FRAC,
        "sum_bits": sum_bits,
        "acc_bits": bits_for(seq * 2**EXP_FRAC * 2 ** (v_t.width - 1)),
        "recip_shift": recip_shift,
        "rinv_bits": recip_shift - EXP_FRAC + 1,  # sum >= 2**FE (the max key gives e = 1.0)
    }


def exp_types(score_t: FixedType) -> tuple[FixedType, FixedType]:
    """Input type of the softmax exp table (``max - s``, unsigned) and its output type."""
    return (FixedType(score_t.width + 1, score_t.frac, signed=False, rounding="TRN", overflow="WRAP"),
            FixedType(EXP_FRAC + 1, EXP_FRAC, signed=False, rounding="RND", overflow="SAT"))


def attention_int(node, q: np.ndarray, k: np.ndarray, v: np.ndarray, types: dict) -> np.ndarray:
    """Exact integer attention (see the module docstring). ``types``: q, k, v, out FixedTypes."""
    a, plan = node.attrs, node.attrs["attn"]
    hq, hk, d = a["heads"], a["kv_heads"], a["head_dim"]
    score_t = _score_type(plan)
    _, e_t = exp_types(score_t)
    spec = TableSpec.from_json(a["exp_table"])
    base, slope = node.param(EXP_KEYS[0]), node.param(EXP_KEYS[1])
    s_len = q.shape[0]
    allowed = allowed_mask(node, s_len, k.shape[0])
    qh, kh, vh = split_heads(as_raw(q), hq, d), split_heads(as_raw(k), hk, d), split_heads(as_raw(v), hk, d)
    shift = plan["scale_frac"] + types["q"].frac + types["k"].frac
    out = np.zeros((hq, s_len, d), dtype=INT)
    for h in range(hq):
        kv = h // (hq // hk)
        qk = exact_matmul(qh[h], kh[kv].T)
        s = convert(qk * INT(plan["q_scale"]), shift, score_t)
        m = np.where(allowed, s, INT(score_t.raw_min)).max(axis=-1, keepdims=True)
        e = table_eval(np.where(allowed, m - s, 0), spec, base, slope, e_t)
        e = np.where(allowed, e, 0)
        total = e.sum(axis=-1, keepdims=True)
        acc = exact_matmul(e, vh[kv])
        rinv = np.where(total > 0, (INT(1) << INT(plan["recip_shift"])) // np.maximum(total, 1), 0)
        out[h] = convert(acc * rinv, plan["recip_shift"] + types["v"].frac, types["out"])
    return out.transpose(1, 0, 2).reshape(s_len, hq * d)


def streams_causally(node, seq: int) -> bool:
    """True when no query attends to a later key: row i can be emitted after token i arrives."""
    return not np.triu(allowed_mask(node, seq, seq), k=1).any()


@register
class Attention(OpKind):
    name = "attention"
    hls_template = "attention.j2"

    def run_float(self, node, inputs):
        a = node.attrs
        hq, hk, d = a["heads"], a["kv_heads"], a["head_dim"]
        q = split_heads(np.asarray(inputs[0], dtype=np.float64), hq, d)
        v = np.repeat(split_heads(np.asarray(inputs[2], dtype=np.float64), hk, d), hq // hk, axis=0)
        scores = float_scores(node, inputs[0], inputs[1])
        allowed = allowed_mask(node, q.shape[1], v.shape[1])
        scores = np.where(allowed, scores, -np.inf)
        peak = np.where(allowed.any(axis=-1, keepdims=True), scores.max(axis=-1, keepdims=True), 0.0)
        p = np.exp(scores - peak)
        p = p / np.maximum(p.sum(axis=-1, keepdims=True), 1e-300)  # a row with no key gives 0
        out = p @ v  # [H, S, D]
        return [out.transpose(1, 0, 2).reshape(q.shape[1], hq * d)]

    def quantize(self, node, graph, config):
        a = node.attrs
        if a.get("kv_cache"):
            raise UserError(f"attention {node.name}: integer mode with a KV cache is not supported yet")
        if a["heads"] % a["kv_heads"]:
            raise UserError(f"attention {node.name}: heads {a['heads']} is not a multiple of "
                            f"kv_heads {a['kv_heads']}; check the model's head counts")
        q_t, k_t, v_t = (graph.tensors[t].type.dtype for t in node.inputs)
        if not all(isinstance(t, FixedType) for t in (q_t, k_t, v_t)):
            raise UserError(f"attention {node.name}: inputs are not fixed-point; quantize them first")
        out = graph.tensors[node.outputs[0]]
        seq = out.type.shape[0]
        score_t = act_type_for(config, self._score_max_abs(node, graph, config))
        plan = attention_plan(q_t, k_t, v_t, score_t, float(a["scale"]), a["head_dim"], seq)
        x_t, e_t = exp_types(score_t)
        base, slope, spec = fit_table(exp_neg, x_t, e_t, ("zero", "zero"),
                                      getattr(config, "table_bits", DEFAULT_TABLE_BITS))
        out_t = act_type_for(config, calib_max_abs(graph, config, out.name))
        out.type = TensorType(out.type.shape, out_t)
        params = {EXP_KEYS[0]: base, EXP_KEYS[1]: slope}
        et = entry_types(base, slope)
        types = {EXP_KEYS[0]: et["base"], EXP_KEYS[1]: et["slope"]}
        if "mask" in node.params:
            params["q_mask"] = (node.param("mask") != 0).astype(INT)
            types["q_mask"] = FixedType(1, 0, False, "TRN", "WRAP")
        attach_params(node, params, {
            "attn": plan,
            "exp_table": spec.to_json(),
            "param_types": {k_: t.to_json() for k_, t in types.items()},
            "param_bits": {k_: t.width for k_, t in types.items()},
        })

    @staticmethod
    def _score_max_abs(node, graph, config) -> float:
        """Calibrated max |scaled score| over allowed pairs; a bound from q/k if no samples."""
        calib = getattr(config, "calib", {}) or {}
        qn, kn = node.inputs[0], node.inputs[1]
        if qn in calib and kn in calib:
            peak = 0.0
            for q, k in zip(calib[qn], calib[kn]):
                sc = float_scores(node, q, k)
                allowed = allowed_mask(node, sc.shape[1], sc.shape[2])
                peak = max(peak, float(np.abs(np.where(allowed, sc, 0.0)).max(initial=0.0)))
            return peak
        a = node.attrs
        return (a["head_dim"] * calib_max_abs(graph, config, qn) * calib_max_abs(graph, config, kn)
                * a["scale"])

    def run_int(self, node, inputs, graph):
        types = {n: graph.tensors[t].type.dtype for n, t in zip(("q", "k", "v"), node.inputs)}
        types["out"] = graph.tensors[node.outputs[0]].type.dtype
        return [attention_int(node, *inputs, types)]

    def cost(self, node, graph):
        a = node.attrs
        hq, hk, d = a["heads"], a["kv_heads"], a["head_dim"]
        seq = graph.tensors[node.outputs[0]].type.shape[0]
        pairs = int(allowed_mask(node, seq, seq).sum())
        div_latency = 50
        return Cost(
            macs=2 * hq * pairs * d,
            param_bytes=param_bytes(node),
            # read q/k/v, then per head: scores (II=1 per key), exp+accumulate, normalize
            cycles=seq * (hq + 2 * hk) * d + hq * (2 * pairs + seq * (d + div_latency)),
            ii=1,
            dsp=2 * d + d + 1,  # q.k dot (D), e*v (D), normalize (D, shared), scale
            bram18=2 * -(-seq * hk * d * 16 // 18432) + 2,  # K and V buffers + exp table
            lut=2000 + 40 * d,
        )

    def hls_context(self, node, graph):
        a = node.attrs
        seq = graph.tensors[node.outputs[0]].type.shape[0]
        quantized = "attn" in a
        ctx = {
            "Hq": a["heads"], "Hk": a["kv_heads"], "D": a["head_dim"],
            "group": a["heads"] // a["kv_heads"],
            "causal": bool(a.get("causal")),
            "stream_rows": streams_causally(node, seq),
            "quantized": quantized,
            "has_mask": ("q_mask" if quantized else "mask") in node.params,
            "scale": repr(float(a["scale"])),
            "T": seq,  # key capacity: the captured sequence length
            "P": node.lanes,  # keys per cycle (passes/parallelize.py)
            # decode (docs/decode.md): K/V rows are cached at absolute positions pos0 + i
            "positional": True,
            "kv_cache_row": a["kv_heads"] * a["head_dim"],
        }
        if quantized:
            score_t = _score_type(a["attn"])
            ctx.update({
                "attn": a["attn"],
                "exp_table": a["exp_table"],
                "score_ctype": score_t.c_type(),
                "score_raw_min": score_t.raw_min,
                "in_fracs": [graph.tensors[t].type.dtype.frac for t in node.inputs],
            })
        return ctx


def _score_type(plan: dict) -> FixedType:
    return FixedType(**{k: v for k, v in plan["score_type"].items() if k != "kind"})
