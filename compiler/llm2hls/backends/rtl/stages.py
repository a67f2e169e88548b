"""RTL emitters, one per IR op kind: how a quantized stage maps onto the Verilog library.

Each emitter reads the stage's integer semantics (types, ``q_`` params, attrs; see
docs/architecture.md "Integer semantics of the simple kinds") and returns a :class:`Stage`:
the module to instantiate, its parameters, its port bindings and the memory files it needs.
Emitters are looked up by op kind name in :data:`EMITTERS`; a kind without one is reported as a
:class:`~llm2hls.errors.UserError` naming the node.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ...errors import UserError
from ...ir.graph import Graph, Node
from ...ir.types import FixedType, numtype_from_json
from .hdl import fixed, hex_words, out_params, packed_words


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


def emit_embedding(node: Node, graph: Graph) -> Stage:
    """``out raw = q_weight[id]``: a ROM row per token id."""
    ids_t = fixed(graph.tensors[node.inputs[0]].type)
    out_t = fixed(graph.tensors[node.outputs[0]].type)
    w = node.param("q_weight")
    v, c = w.shape
    mem = f"{node.name}_q_weight.mem"
    n = graph.tensors[node.inputs[0]].type.numel
    return Stage(
        node.name, "l2h_embedding",
        {"IDW": ids_t.width, "V": v, "C": c, "W": out_t.width, "WFILE": mem},
        [("in", node.inputs[0], "in"), ("out", node.outputs[0], "out")],
        mems={mem: hex_words(w, out_t.width)},
        work=n * c,
    )


def emit_linear(node: Node, graph: Graph) -> Stage:
    """``y = convert(sum_k x*q_weight * q_scale + q_bias, Fx+Fm, y_type)`` with ``lanes`` MACs."""
    if node.attrs.get("act") or node.attrs.get("residual"):
        raise UserError(
            f"node {node.name} (linear) has a fused act/residual, which the RTL backend does not "
            "support yet; compile without fusion for RTL"
        )
    x_t = fixed(graph.tensors[node.inputs[0]].type)
    y_t = fixed(graph.tensors[node.outputs[0]].type)
    if "y_type" in node.attrs and numtype_from_json(node.attrs["y_type"]) != y_t:
        raise UserError(f"node {node.name} (linear): attrs['y_type'] differs from its output type "
                        "without a fused act/residual; re-run the quantize pass")
    w = np.asarray(node.param("q_weight"), dtype=np.int64)
    n, k = w.shape
    lanes = max(1, min(int(node.lanes), n))
    wb = param_type(node, "q_weight").width
    s_t = param_type(node, "q_scale")
    fm = s_t.frac
    groups = -(-n // lanes)
    padded = np.zeros((groups * lanes, k), dtype=np.int64)
    padded[:n] = w
    # word (g, k) holds W[g*L + l, k] for l = 0..L-1 (lane 0 in the low bits)
    words = packed_words(padded.reshape(groups, lanes, k).transpose(0, 2, 1).reshape(-1, lanes), wb)
    mems = {
        f"{node.name}_q_weight.mem": words,
        f"{node.name}_q_scale.mem": hex_words(node.param("q_scale"), s_t.width),
    }
    params: dict[str, int | str] = {
        "K": k, "N": n, "L": lanes, "XW": x_t.width, "XS": int(x_t.signed), "WB": wb,
        "MB": s_t.width, "HAS_BIAS": int("q_bias" in node.params),
        "WFILE": f"{node.name}_q_weight.mem", "SFILE": f"{node.name}_q_scale.mem",
    }
    if "q_bias" in node.params:
        b_t = param_type(node, "q_bias")
        params["BB"] = b_t.width
        params["BFILE"] = f"{node.name}_q_bias.mem"
        mems[params["BFILE"]] = hex_words(node.param("q_bias"), b_t.width)
    params.update(out_params(y_t, x_t.frac + fm - y_t.frac))
    s = _tokens(graph, node.inputs[0])
    return Stage(
        node.name, "l2h_linear", params,
        [("in", node.inputs[0], "in"), ("out", node.outputs[0], "out")],
        mems=mems, work=s * (k + groups * (k + 4) + n),
    )


def emit_eltwise(node: Node, graph: Graph) -> Stage:
    """add/sub: align to the larger frac, add, convert; mul: raw product, convert."""
    fn = node.attrs["fn"]
    a_t = fixed(graph.tensors[node.inputs[0]].type)
    y_t = fixed(graph.tensors[node.outputs[0]].type)
    s, c = _tokens(graph, node.outputs[0]), _channels(graph, node.outputs[0])
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
        mems[bfile] = hex_words(np.broadcast_to(const, const.shape), b_t.width)
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
    if bfile:
        params["BFILE"] = bfile
    params.update(out_params(y_t, frac - y_t.frac))
    ports = [("a", node.inputs[0], "in")]
    if bmode == 0:
        ports.append(("b", node.inputs[1], "in"))
    ports.append(("out", node.outputs[0], "out"))
    stage = Stage(node.name, "l2h_eltwise", params, ports, mems=mems, work=s * c)
    if bmode != 0:
        stage.ties = [("b_data", f"{b_t.width}'d0"), ("b_valid", "1'b0")]
        stage.open_outputs = ["b_ready"]
    return stage


def emit_route(node: Node, graph: Graph) -> Stage:
    """A module generated for this node from its channel map (see ``templates/rtl/route.v.j2``)."""
    from .render import render_route  # late import: render imports this module

    module = f"route_{node.name}"
    ins = [(t, fixed(graph.tensors[t].type), _channels(graph, t)) for t in node.inputs]
    outs = [(t, fixed(graph.tensors[t].type), _channels(graph, t)) for t in node.outputs]
    source = render_route(module, node, ins, outs)
    ports = [(f"i{i}", t, "in") for i, t in enumerate(node.inputs)]
    ports += [(f"o{i}", t, "out") for i, t in enumerate(node.outputs)]
    s = _tokens(graph, node.inputs[0])
    work = s * (sum(c for _, _, c in ins) + max(c for _, _, c in outs) + 2)
    return Stage(node.name, module, {}, ports, source=source, work=work)


EMITTERS: dict[str, Callable[[Node, Graph], Stage]] = {
    "embedding": emit_embedding,
    "linear": emit_linear,
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
