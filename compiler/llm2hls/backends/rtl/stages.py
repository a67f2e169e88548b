"""RTL emitters, one per IR op kind: how a quantized stage maps onto the Verilog library.

Each emitter reads the stage's integer semantics (types, ``q_`` params, attrs; see
docs/architecture.md "Integer semantics of the simple kinds") and returns a :class:`Stage`:
the module to instantiate, its parameters, its port bindings and the memory files it needs.
Emitters are looked up by op kind name in :data:`EMITTERS`; a kind without one is reported as a
:class:`~llm2hls.errors.UserError` naming the node.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ...errors import UserError
from ...ir.graph import Graph, Node
from ...ir.types import FixedType, numtype_from_json
from .hdl import fixed, hex_words, out_params, packed_words, vparam


@dataclass
class Stage:
    """One instantiated stage of the top module."""

    node: str
    module: str
    params: dict[str, int | str]
    # (port prefix of the module, tensor name, "in" | "out"), in module port order
    ports: list[tuple[str, str, str]]
    mems: dict[str, list[str]] = field(default_factory=dict)  # file name -> words
    source: str = ""  # extra Verilog (a module generated for this node), if any
    comment: str = ""
    # ports held constant (port, Verilog expression) and outputs left open, e.g. the second
    # operand of an eltwise stage whose operand is a constant table
    ties: list[tuple[str, str]] = field(default_factory=list)
    open_outputs: list[str] = field(default_factory=list)
    work: int = 0  # rough cycles per inference (bounds the simulation time)
    # off-chip read ports served by the bench's memory model: {"port", "name", "width",
    # "words" (ints in read order), "repeat" (times the words are read per inference)}
    streams: list[dict] = field(default_factory=list)


def param_type(node: Node, key: str) -> FixedType:
    """The FixedType the quantize pass recorded for ``q_`` param ``key``."""
    try:
        t = numtype_from_json(node.attrs["param_types"][key])
    except KeyError:
        raise UserError(
            f"node {node.name} ({node.op}) has no attrs['param_types'][{key!r}]; "
            "run the quantize pass before the RTL backend"
        ) from None
    if not isinstance(t, FixedType):
        raise UserError(f"node {node.name}: param {key} is not fixed-point ({t})")
    return t


def _tokens(graph: Graph, tensor: str) -> int:
    shape = graph.tensors[tensor].type.shape
    return shape[0] if len(shape) > 1 else 1


def _channels(graph: Graph, tensor: str) -> int:
    shape = graph.tensors[tensor].type.shape
    return shape[-1] if len(shape) > 1 else 1


def beat(graph: Graph, tensor: str) -> int:
    """Elements per transfer of a stream: ``meta['beat']`` (passes/beats.py), else the beat the
    graph's stream width gives its rows (tensors made after the beats pass, e.g. by unfuse)."""
    from ...passes.beats import beat_of

    t = graph.tensors[tensor]
    if "beat" in t.meta:
        return int(t.meta["beat"])
    return beat_of(int(graph.meta.get("stream_width", 1)), t.type.shape)


def beat_words(raw: np.ndarray, width: int, b: int) -> list[str]:
    """Raw values in row order as ``$readmemh`` words of ``b`` values (element 0 in the low bits)."""
    flat = np.asarray(raw, dtype=np.int64).reshape(-1)
    return hex_words(flat, width) if b == 1 else packed_words(flat.reshape(-1, b), width)


def emit_embedding(node: Node, graph: Graph) -> Stage:
    """``out raw = q_weight[id]``: a ROM row per token id."""
    ids_t = fixed(graph.tensors[node.inputs[0]].type)
    out_t = fixed(graph.tensors[node.outputs[0]].type)
    w = node.param("q_weight")
    v, c = w.shape
    mem = f"{node.name}_q_weight.mem"
    n = graph.tensors[node.inputs[0]].type.numel
    b = beat(graph, node.outputs[0])
    return Stage(
        node.name, "l2h_embedding",
        {"IDW": ids_t.width, "V": v, "C": c, "W": out_t.width, "B": b, "WFILE": mem},
        [("in", node.inputs[0], "in"), ("out", node.outputs[0], "out")],
        mems={mem: beat_words(w, out_t.width, b)},
        work=n * c,
    )


def lane_split(node: Node, graph: Graph) -> tuple[int, int]:
    """``(L, LI)`` of a linear's MAC array: ``L`` output lanes, each taking ``LI`` inputs of the
    buffered row per cycle, the split the performance model describes
    (``perf.model.linear_lanes_split``: lanes beyond the output channels take inputs, a power of
    two of at most one input beat)."""
    from ...perf.model import linear_lanes_split
    from ...perf.workload import Stage as PerfStage

    n, k = (int(d) for d in node.param("q_weight").shape)
    return linear_lanes_split(PerfStage(node.name, "linear", n=n, k=k), max(1, int(node.lanes)),
                              beat(graph, node.inputs[0]))


def weight_words(node: Node, graph: Graph) -> list[str]:
    """A linear's weights as ``ceil(N/L) * K/LI`` hex words of ``L x LI`` packed weights, in read
    order: word ``(g, j)`` holds ``W[g*L + l, j*LI + i]`` at position ``l*LI + i`` (lane 0, input 0
    in the low bits; :func:`lane_split`)."""
    w = np.asarray(node.param("q_weight"), dtype=np.int64)
    n, k = w.shape
    lanes, li = lane_split(node, graph)
    groups = -(-n // lanes)
    padded = np.zeros((groups * lanes, k), dtype=np.int64)
    padded[:n] = w
    # [g, l, j, i] -> [g, j, l, i]: one word per (g, j)
    words = padded.reshape(groups, lanes, k // li, li).transpose(0, 2, 1, 3).reshape(-1, lanes * li)
    return packed_words(words, param_type(node, "q_weight").width)


def _weights_offchip(node: Node) -> bool:
    return node.params["q_weight"].placement == "offchip"


def weight_stream(node: Node, graph: Graph) -> dict:
    """The read port of an off-chip linear: its weight words, read once per token."""
    return {"port": "w", "name": f"mem_{node.name}",
            "width": math.prod(lane_split(node, graph)) * param_type(node, "q_weight").width,
            "words": [int(h, 16) for h in weight_words(node, graph)],
            "repeat": _tokens(graph, node.inputs[0])}


def _linear_core(node: Node, graph: Graph, y_t: FixedType) -> tuple[dict[str, int | str], dict[str, list[str]]]:
    """``l2h_linear`` parameters and memory files: ``convert(acc*q_scale + q_bias, Fx+Fm, y_t)``.

    Off-chip weights (``q_weight`` placed ``offchip``) get ``WSTREAM = 1`` and no weight ROM: the
    same packed words come through the ``w`` port (see :func:`weight_stream`)."""
    x_t = fixed(graph.tensors[node.inputs[0]].type)
    n, k = node.param("q_weight").shape
    lanes, li = lane_split(node, graph)
    wb = param_type(node, "q_weight").width
    s_t = param_type(node, "q_scale")
    words = weight_words(node, graph)
    offchip = _weights_offchip(node)
    bi, bo = beat(graph, node.inputs[0]), beat(graph, node.outputs[0])
    mems = {f"{node.name}_q_scale.mem": beat_words(node.param("q_scale"), s_t.width, bo)}
    params: dict[str, int | str] = {
        "K": k, "N": n, "L": lanes, "XW": x_t.width, "XS": int(x_t.signed), "WB": wb,
        "MB": s_t.width, "HAS_BIAS": int("q_bias" in node.params), "SFILE": f"{node.name}_q_scale.mem",
    }
    if li > 1:
        params["LI"] = li
    if (bi, bo) != (1, 1):
        params.update(BI=bi, BO=bo)
    if offchip:
        params["WSTREAM"] = 1
    else:
        params["WFILE"] = f"{node.name}_q_weight.mem"
        mems[str(params["WFILE"])] = words
    if "q_bias" in node.params:
        b_t = param_type(node, "q_bias")
        params["BB"] = b_t.width
        params["BFILE"] = f"{node.name}_q_bias.mem"
        mems[str(params["BFILE"])] = beat_words(node.param("q_bias"), b_t.width, bo)
    params.update(out_params(y_t, x_t.frac + s_t.frac - y_t.frac))
    return params, mems


def table_params(spec: dict, in_t: FixedType, out_t: FixedType, node: Node, base_key: str,
                 slope_key: str, prefix: str = "") -> tuple[dict[str, int | str], dict[str, list[str]]]:
    """``l2h_table`` parameters (names prefixed with ``prefix``) and ROM files of a TableSpec."""
    b_t, s_t = param_type(node, base_key), param_type(node, slope_key)
    bfile, sfile = f"{node.name}_{base_key}.mem", f"{node.name}_{slope_key}.mem"
    tails = {"zero": 0, "identity": 1, "clamp": 2}
    p = {
        "LO": int(spec["lo"]), "SHIFT": int(spec["shift"]), "SIZE": int(spec["size"]),
        "BW": b_t.width, "SW": s_t.width,
        "TAIL_LO": tails[spec["tail_lo"]], "TAIL_HI": tails[spec["tail_hi"]],
        "CSHIFT": int(spec["frac"]) + int(spec["shift"]) - out_t.frac,
        "ISHIFT": int(spec["in_frac"]) - out_t.frac,
    }
    if int(spec["in_frac"]) != in_t.frac:
        raise UserError(f"node {node.name}: table built for input frac {spec['in_frac']}, "
                        f"input has {in_t.frac}; re-run the quantize pass")
    params: dict[str, int | str] = {prefix + k: v for k, v in p.items()}
    params[prefix + "BFILE"], params[prefix + "SFILE"] = bfile, sfile
    mems = {bfile: hex_words(node.param(base_key), b_t.width),
            sfile: hex_words(node.param(slope_key), s_t.width)}
    return params, mems


def _act_params(node: Node, in_t: FixedType, out_t: FixedType,
                b: int = 1) -> tuple[dict[str, int | str], dict[str, list[str]]]:
    """``l2h_act`` parameters: the node's activation table from ``in_t`` to ``out_t``, ``b``
    elements per beat."""
    from ...ops.activation import BASE_KEY, SLOPE_KEY, SPEC_KEY

    params, mems = table_params(node.attrs[SPEC_KEY], in_t, out_t, node, BASE_KEY, SLOPE_KEY)
    conv = out_params(out_t, 0)
    del conv["SHIFT"]  # the table's own shifts (CSHIFT, ISHIFT) say how to convert
    beat_param = {"B": b} if b > 1 else {}
    return {"IW": in_t.width, "IS": int(in_t.signed), **params, **conv, **beat_param}, mems


def _require_per_channel_onchip(node: Node) -> None:
    """Refuse linear variants ``l2h_linear`` does not implement, rather than emit wrong hardware:
    requantized inputs (``w8a8``), group-wise or asymmetric weights (``w4*``), off-chip scales or
    biases (off-chip weights stream through the ``w`` port)."""
    variants = [k for k in ("in_type", "group", "sum_type") if k in node.attrs]
    variants += [k for k in ("q_zero",) if k in node.params]
    variants += [f"{k} off chip" for k, p in node.params.items()
                 if p.placement == "offchip" and k not in ("q_weight", "weight")]
    if variants:
        raise UserError(
            f"node {node.name} (linear) uses {', '.join(variants)}, which the RTL backend does not "
            "implement yet (it does per-channel weights, e.g. --quant w8a16 or wXa16); "
            "this design is proven by C simulation only"
        )


def emit_linear(node: Node, graph: Graph) -> Stage:
    """``y = convert(sum_k x*q_weight * q_scale + q_bias, Fx+Fm, y_type)`` with ``lanes`` MACs,
    then the fused activation table and the fused residual add, if any (a generated module
    chaining ``l2h_linear``, ``l2h_act`` and ``l2h_eltwise`` exactly as the unfused stages)."""
    _require_per_channel_onchip(node)
    out_t = fixed(graph.tensors[node.outputs[0]].type)
    act, residual = node.attrs.get("act"), bool(node.attrs.get("residual"))
    y_t = numtype_from_json(node.attrs["y_type"]) if "y_type" in node.attrs else out_t
    if not isinstance(y_t, FixedType):
        raise UserError(f"node {node.name} (linear): y_type is not fixed-point; run the quantize pass")
    if not act and not residual and y_t != out_t:
        raise UserError(f"node {node.name} (linear): attrs['y_type'] differs from its output type "
                        "without a fused act/residual; re-run the quantize pass")
    params, mems = _linear_core(node, graph, y_t)
    x_t = fixed(graph.tensors[node.inputs[0]].type)
    n, k = node.param("q_weight").shape
    s = _tokens(graph, node.inputs[0])
    groups = -(-n // int(params["L"]))
    work = s * (k + groups * (k + 4) + n)
    ports = [("in", node.inputs[0], "in")]
    offchip = _weights_offchip(node)
    streams = [weight_stream(node, graph)] if offchip else []
    wbits = int(params["L"]) * int(params.get("LI", 1)) * int(params["WB"])
    bo = beat(graph, node.outputs[0])
    # on chip the weight port is idle: tied off here (plain linear) or inside the chain module
    ties = [] if offchip else [("w_data", f"{wbits}'d0"), ("w_valid", "1'b0")]
    if not act and not residual:
        ports.append(("out", node.outputs[0], "out"))
        return Stage(node.name, "l2h_linear", params, ports, mems=mems, work=work, streams=streams,
                     ties=ties, open_outputs=[] if offchip else ["w_ready"])

    from .render import render

    module = f"linear_{node.name}"
    wires, parts = [{"name": "y", "w": bo * y_t.width}], []
    parts.append({"name": "u_linear", "module": "l2h_linear", "params": params,
                  "comment": f"x W^T + b -> {y_t}" + (" (weights from the w port)" if offchip else ""),
                  "ports": [("in", "in")] + ([("w", "w")] if offchip else []) + [("out", "y")],
                  "ties": ties, "open_outputs": [] if offchip else ["w_ready"]})
    cur, cur_t = "y", y_t
    if act:
        a_t = numtype_from_json(node.attrs["act_type"]) if "act_type" in node.attrs else out_t
        ap, am = _act_params(node, y_t, a_t, bo)  # type: ignore[arg-type]
        mems.update(am)
        wires.append({"name": "a", "w": bo * a_t.width})
        parts.append({"name": "u_act", "module": "l2h_act", "params": ap,
                      "comment": f"fused {act} table -> {a_t}", "ports": [("in", cur), ("out", "a")]})
        cur, cur_t = "a", a_t
    if residual:
        r_t = fixed(graph.tensors[node.inputs[1]].type)
        frac = max(cur_t.frac, r_t.frac)
        ep: dict[str, int | str] = {
            "OP": 0, "AW": cur_t.width, "AS": int(cur_t.signed), "ASH": frac - cur_t.frac,
            "BW": r_t.width, "BS": int(r_t.signed), "BSH": frac - r_t.frac, "BMODE": 0,
            "C": n, "S": s, **out_params(out_t, frac - out_t.frac),
        }
        if bo > 1:
            ep["B"] = bo
        parts.append({"name": "u_residual", "module": "l2h_eltwise", "params": ep,
                      "comment": f"fused residual add -> {out_t}",
                      "ports": [("a", cur), ("b", "res"), ("out", "out")]})
        ports.append(("res", node.inputs[1], "in"))
    else:
        parts[-1]["ports"][-1] = ("out", "out")
        wires.pop()
    ports.append(("out", node.outputs[0], "out"))
    for part in parts:
        part["params"] = [(k_, vparam(v)) for k_, v in part["params"].items()]
    port_ctx = [{"name": p, "w": beat(graph, t) * fixed(graph.tensors[t].type).width, "dir": d}
                for p, t, d in ports]
    if offchip:
        port_ctx.insert(1, {"name": "w", "w": wbits, "dir": "in"})
    source = render("chain.v.j2", module=module, comment=f"{node.name}: linear from {node.source or '?'}",
                    what=f"linear{' + ' + act if act else ''}{' + residual' if residual else ''} "
                         f"(x {x_t}, out {out_t}), fused: the same arithmetic as the unfused stages.",
                    ports=port_ctx, wires=wires, parts=parts)
    return Stage(node.name, module, {}, ports, mems=mems, source=source, work=work + 2 * s * n,
                 streams=streams)


def emit_act(node: Node, graph: Graph) -> Stage:
    """Table nonlinearity, one element per cycle (``l2h_act``)."""
    in_t = fixed(graph.tensors[node.inputs[0]].type)
    out_t = fixed(graph.tensors[node.outputs[0]].type)
    params, mems = _act_params(node, in_t, out_t, beat(graph, node.outputs[0]))
    n = graph.tensors[node.outputs[0]].type.numel
    return Stage(node.name, "l2h_act", params,
                 [("in", node.inputs[0], "in"), ("out", node.outputs[0], "out")], mems=mems, work=n + 4)


def emit_layernorm(node: Node, graph: Graph) -> Stage:
    """LayerNorm / RMSNorm per row (``l2h_layernorm``), plan from ``attrs['ln']``."""
    from ...ops.layernorm import RECIP_SHIFT

    in_t = fixed(graph.tensors[node.inputs[0]].type)
    out_t = fixed(graph.tensors[node.outputs[0]].type)
    plan = node.attrs.get("ln")
    if plan is None:
        raise UserError(f"node {node.name} (layernorm) has no attrs['ln']; run the quantize pass")
    if RECIP_SHIFT != 61:
        raise UserError("l2h_layernorm implements inv = 2**61 // r; ops.layernorm changed RECIP_SHIFT")
    s, c = _tokens(graph, node.outputs[0]), _channels(graph, node.outputs[0])
    kind = node.attrs.get("kind", "layer")
    g_t = param_type(node, "q_gamma")
    b = beat(graph, node.outputs[0])
    mems = {f"{node.name}_q_gamma.mem": beat_words(node.param("q_gamma"), g_t.width, b)}
    params: dict[str, int | str] = {
        "C": c, "XW": in_t.width, "KIND": 0 if kind == "layer" else 1, "G": int(plan["guard"]),
        "MEAN_SHIFT": int(plan["mean_shift"]), "MEAN_MULT": int(plan["mean_mult"]),
        "EPS_RAW": int(plan["eps_raw"]), "NF": int(plan["norm_frac"]), "GB": g_t.width,
        "HAS_BETA": int("q_beta" in node.params), "GFILE": f"{node.name}_q_gamma.mem",
    }
    if "q_beta" in node.params:
        b_t = param_type(node, "q_beta")
        params["BB"] = b_t.width
        params["BFILE"] = f"{node.name}_q_beta.mem"
        mems[str(params["BFILE"])] = beat_words(node.param("q_beta"), b_t.width, b)
    conv = out_params(out_t, int(plan["norm_frac"]) + int(plan["gain_frac"]) - out_t.frac)
    params["CSHIFT"] = conv.pop("SHIFT")
    params.update(conv)
    if b > 1:
        params["B"] = b
    return Stage(node.name, "l2h_layernorm", params,
                 [("in", node.inputs[0], "in"), ("out", node.outputs[0], "out")],
                 mems=mems, work=s * (3 * c + 110))


def emit_attention(node: Node, graph: Graph) -> Stage:
    """Multi-head attention with K/V buffers, causal mask / explicit mask, GQA (``l2h_attention``),
    ``P = node.lanes`` keys per cycle (K/V banked by key index mod ``P``)."""
    from ...ops.attention import EXP_KEYS, _score_type, allowed_mask, exp_types, streams_causally

    a, plan = node.attrs, node.attrs.get("attn")
    if plan is None:
        raise UserError(f"node {node.name} (attention) has no attrs['attn']; run the quantize pass")
    q_t, k_t, v_t = (fixed(graph.tensors[t].type) for t in node.inputs)
    out_t = fixed(graph.tensors[node.outputs[0]].type)
    s = _tokens(graph, node.outputs[0])
    pos0 = int(a["kv_cache"]["length"]) if a.get("kv_cache") else 0  # decode: cached tokens
    if _tokens(graph, node.inputs[1]) != s:
        raise UserError(f"node {node.name} (attention): keys and queries differ in length; "
                        "the RTL operator needs self-attention")
    score_t = _score_type(plan)
    x_t, e_t = exp_types(score_t)
    tparams, mems = table_params(a["exp_table"], x_t, e_t, node, EXP_KEYS[0], EXP_KEYS[1], "E_")
    params: dict[str, int | str] = {
        "S": pos0 + s, "HQ": a["heads"], "HK": a["kv_heads"], "D": a["head_dim"],
        "QW": q_t.width, "KW": k_t.width, "VW": v_t.width,
        "CAUSAL": int(bool(a.get("causal"))), "STREAM": int(pos0 > 0 or streams_causally(node, s)),
        "HAS_MASK": int("q_mask" in node.params),
        "QSB": max(1, int(plan["q_scale"]).bit_length()), "Q_SCALE": int(plan["q_scale"]),
        "SC_SHIFT": int(plan["scale_frac"]) + q_t.frac + k_t.frac - score_t.frac,
        "SCW": score_t.width, "SC_ROUND": out_params(score_t, 0)["ROUND"],
        "SC_OVF": out_params(score_t, 0)["OVF"],
        **tparams, "EW": e_t.width, "E_ROUND": out_params(e_t, 0)["ROUND"],
        "E_OVF": out_params(e_t, 0)["OVF"],
        "SUMW": int(plan["sum_bits"]), "ACW": int(plan["acc_bits"]),
        "PR": int(plan["recip_shift"]), "RB": int(plan["rinv_bits"]),
        "OSHIFT": int(plan["recip_shift"]) + v_t.frac - out_t.frac,
        "OW": out_t.width, "OS": int(out_t.signed),
        "OROUND": out_params(out_t, 0)["ROUND"], "OOVF": out_params(out_t, 0)["OVF"],
    }
    beats = [beat(graph, t) for t in (*node.inputs, node.outputs[0])]
    if a["head_dim"] % beats[3] and beats[3] % a["head_dim"]:
        raise UserError(f"node {node.name} (attention): an output beat of {beats[3]} elements straddles "
                        f"heads of {a['head_dim']} channels; use a --stream-width that divides the head "
                        "size or is a multiple of it")
    if beats != [1, 1, 1, 1]:
        params.update(BQ=beats[0], BK=beats[1], BV=beats[2], BO=beats[3])
    keys = max(1, int(node.lanes))
    if keys > 1:
        params["P"] = keys
    if "q_mask" in node.params:
        params["MFILE"] = f"{node.name}_q_mask.mem"
        mems[str(params["MFILE"])] = mask_words(np.asarray(node.param("q_mask")), keys)
    if pos0:
        params.update(_kv_cache_params(node, pos0, s, k_t.width, v_t.width, keys, mems))
    hq, hk, d = a["heads"], a["kv_heads"], a["head_dim"]
    pairs = (pos0 * s + s * (s + 1) // 2 if pos0 else
             int(allowed_mask(node, s, s).sum()) if params["STREAM"] else s * s)
    groups = -(-pairs // keys) + s  # key groups of all rows: at most one partial group per row
    work = s * (hq + 2 * hk) * d + hq * (2 * groups + s * (d + int(plan["recip_shift"]) + 8))
    return Stage(node.name, "l2h_attention", params,
                 [("q", node.inputs[0], "in"), ("k", node.inputs[1], "in"),
                  ("v", node.inputs[2], "in"), ("out", node.outputs[0], "out")],
                 mems=mems, work=work)


def mask_words(mask: np.ndarray, keys: int) -> list[str]:
    """The attention mask ROM ``[S, S]`` as ``$readmemh`` words of ``keys`` bits: word
    ``i * G + g`` (``G = ceil(S / keys)`` key groups) holds keys ``g*keys .. g*keys+keys-1`` of
    query ``i``, key ``g*keys + p`` in bit ``p`` (keys beyond ``S`` are 0)."""
    s_q, s_k = mask.shape
    groups = -(-s_k // keys)
    padded = np.zeros((s_q, groups * keys), dtype=np.int64)
    padded[:, :s_k] = mask != 0
    return packed_words(padded.reshape(s_q * groups, keys), 1)


def bank_rows(rows: np.ndarray, keys: int) -> list[np.ndarray]:
    """Per-token rows ``[T, ...]`` split into ``keys`` banks: bank ``b`` holds tokens
    ``b, b + keys, ...`` as its rows ``0, 1, ...``, zero-padded to ``ceil(T / keys)`` rows."""
    groups = -(-rows.shape[0] // keys)
    padded = np.zeros((groups * keys, *rows.shape[1:]), dtype=rows.dtype)
    padded[:rows.shape[0]] = rows
    return [padded[b::keys] for b in range(keys)]


def _kv_cache_params(node: Node, pos0: int, s: int, kw: int, vw: int, keys: int,
                     mems: dict[str, list[str]]) -> dict[str, int | str]:
    """``POS0``/``KFILE``/``VFILE`` of a decode step's attention: the cached K/V rows (params
    ``q_k_cache``/``q_v_cache`` from ``passes.decode_step.load_kv_cache``) as the words of the
    ``keys`` K/V banks, file ``<KFILE><b>.mem`` for bank ``b`` (:func:`bank_rows`; one element per
    word in row order: bank row, kv head, channel; the step's rows zero)."""
    a = node.attrs
    if not a.get("causal") or "q_mask" in node.params:
        raise UserError(f"node {node.name} (attention): a KV cache needs causal attention without a mask")
    hk, d = a["kv_heads"], a["head_dim"]
    out: dict[str, int | str] = {"POS0": pos0}
    for key, width, par in (("q_k_cache", kw, "KFILE"), ("q_v_cache", vw, "VFILE")):
        if key not in node.params:
            raise UserError(f"node {node.name} (attention): decode step without {key}; fill the "
                            "cache with passes.decode_step.load_kv_cache")
        rows = np.zeros((pos0 + s, hk * d), dtype=np.int64)
        rows[:pos0] = np.asarray(node.param(key), dtype=np.int64).reshape(pos0, hk * d)
        out[par] = f"{node.name}_{key}_bank"
        for b, bank in enumerate(bank_rows(rows, keys)):
            mems[f"{out[par]}{b}.mem"] = hex_words(bank, width)
    return out


def emit_eltwise(node: Node, graph: Graph) -> Stage:
    """add/sub: align to the larger frac, add, convert; mul: raw product, convert."""
    fn = node.attrs["fn"]
    a_t = fixed(graph.tensors[node.inputs[0]].type)
    y_t = fixed(graph.tensors[node.outputs[0]].type)
    s, c = _tokens(graph, node.outputs[0]), _channels(graph, node.outputs[0])
    b = beat(graph, node.outputs[0])
    mems: dict[str, list[str]] = {}
    if len(node.inputs) > 1:
        b_t = fixed(graph.tensors[node.inputs[1]].type)
        bmode, bfile = 0, ""
    else:
        b_t = param_type(node, "q_const")
        const = np.asarray(node.param("q_const"), dtype=np.int64)
        size = const.size
        bmode = 1 if size == 1 else 2 if size == c else 3 if size == s * c else -1
        if bmode < 0:
            raise UserError(f"node {node.name}: q_const of shape {const.shape} does not broadcast to [{s}, {c}]")
        bfile = f"{node.name}_q_const.mem"
        # one beat per word; a scalar fills every lane of its one word
        mems[bfile] = beat_words(np.broadcast_to(const.reshape(-1)[:1], (b,)) if bmode == 1 else const,
                                 b_t.width, b)
    if fn == "mul":
        frac, ash, bsh = a_t.frac + b_t.frac, 0, 0
    elif fn in ("add", "sub"):
        frac = max(a_t.frac, b_t.frac)
        ash, bsh = frac - a_t.frac, frac - b_t.frac
    else:
        raise UserError(f"node {node.name}: eltwise fn {fn!r} has no RTL operator (add, sub, mul)")
    params: dict[str, int | str] = {
        "OP": {"add": 0, "sub": 1, "mul": 2}[fn],
        "AW": a_t.width, "AS": int(a_t.signed), "ASH": ash,
        "BW": b_t.width, "BS": int(b_t.signed), "BSH": bsh,
        "BMODE": bmode, "C": c, "S": s,
    }
    if b > 1:
        params["B"] = b
    if bfile:
        params["BFILE"] = bfile
    params.update(out_params(y_t, frac - y_t.frac))
    ports = [("a", node.inputs[0], "in")]
    if bmode == 0:
        ports.append(("b", node.inputs[1], "in"))
    ports.append(("out", node.outputs[0], "out"))
    stage = Stage(node.name, "l2h_eltwise", params, ports, mems=mems, work=s * c)
    if bmode != 0:
        stage.ties = [("b_data", f"{b * b_t.width}'d0"), ("b_valid", "1'b0")]
        stage.open_outputs = ["b_ready"]
    return stage


def emit_route(node: Node, graph: Graph) -> Stage:
    """A module generated for this node from its channel map (see ``templates/rtl/route.v.j2``)."""
    from .render import render_route  # late import: render imports this module

    if _is_fork(node, graph):
        from .render import render

        w = beat(graph, node.inputs[0]) * fixed(graph.tensors[node.inputs[0]].type).width
        module = f"fork_{node.name}"
        source = render("fork.v.j2", module=module, w=w, n=len(node.outputs),
                        comment=f"{node.name}: fork" + (f" from {node.source}" if node.source else ""))
        ports = [("i0", node.inputs[0], "in")] + [(f"o{i}", t, "out") for i, t in enumerate(node.outputs)]
        return Stage(node.name, module, {}, ports, source=source,
                     work=graph.tensors[node.inputs[0]].type.numel + 2)
    module = f"route_{node.name}"
    ins = [(t, fixed(graph.tensors[t].type), _channels(graph, t), beat(graph, t)) for t in node.inputs]
    outs = [(t, fixed(graph.tensors[t].type), _channels(graph, t), beat(graph, t)) for t in node.outputs]
    source = render_route(module, node, ins, outs)
    ports = [(f"i{i}", t, "in") for i, t in enumerate(node.inputs)]
    ports += [(f"o{i}", t, "out") for i, t in enumerate(node.outputs)]
    s = _tokens(graph, node.inputs[0])
    work = s * (sum(c for _, _, c, _ in ins) + max(c for _, _, c, _ in outs) + 2)
    return Stage(node.name, module, {}, ports, source=source, work=work)


def _is_fork(node: Node, graph: Graph) -> bool:
    """A route whose every output is an unchanged copy of its single input (same type)."""
    if len(node.inputs) != 1 or len(node.outputs) < 2:
        return False
    t = graph.tensors[node.inputs[0]].type
    ident = [[0, c, 1] for c in range(_channels(graph, node.inputs[0]))]
    return all(graph.tensors[o].type.dtype == t.dtype for o in node.outputs) and all(
        [list(map(int, e)) for e in m] == ident for m in node.attrs["map"])


EMITTERS: dict[str, Callable[[Node, Graph], Stage]] = {
    "embedding": emit_embedding,
    "linear": emit_linear,
    "act": emit_act,
    "layernorm": emit_layernorm,
    "attention": emit_attention,
    "eltwise": emit_eltwise,
    "route": emit_route,
}
"""RTL emitter per op kind."""


def emit(node: Node, graph: Graph) -> Stage:
    """The RTL stage of ``node``, or a UserError naming what is not supported."""
    try:
        fn = EMITTERS[node.op]
    except KeyError:
        raise UserError(
            f"op kind {node.op!r} (node {node.name}, from {node.source or 'unknown module'}) has no "
            f"RTL operator yet; supported: {', '.join(sorted(EMITTERS))}"
        ) from None
    stage = fn(node, graph)
    stage.comment = f"{node.name}: {node.op}" + (f" from {node.source}" if node.source else "")
    return stage
