"""Emit a Vitis HLS project from a (quantized, forked, FIFO-sized) IR graph.

Layout (docs/architecture.md, "HLS backend conventions")::

    src/<top>.cpp  src/<top>.h  src/llm2hls_numerics.h  src/llm2hls_nonlinear.h
    weights/<node>.h            one per stage with params (raw integers)
    tb/tb_<top>.cpp  tb/<tensor>.txt   testbench, inputs and golden outputs (raw integers)
    vitis/hls_config.cfg  vitis/run_hls.tcl  README.md

Every stage is rendered from ``templates/hls/ops/<kind>.j2`` with the common variables ``node``,
``fn``, ``ins``, ``outs``, ``S``, ``quantized`` plus the kind's ``hls_context``. Every port carries
its ``beat`` (``tensor.meta['beat']``, passes/beats.py) and ``stype``, the C type of one stream
transfer: the element type for a beat of 1, else ``llm2hls::beat<T, beat>`` (:func:`stream_port`).

A decode project (``emit_project(..., decode=DecodeBench)``, docs/decode.md) renders the same
templates with ``S`` = the runtime count ``n_tokens``, adds ``pos0``/``n_tokens`` arguments, a KV
cache per attention stage, a greedy-generation testbench and ``host/`` (XRT driver, data movers).
"""

from __future__ import annotations

import importlib.resources
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
import numpy as np

from ...errors import UserError
from ...ir.graph import Graph, Node
from ...ir.types import FixedType, FloatType
from ...ops import op_kind
from ...ops.qcommon import port, storage_ctype
from .offchip import pack_port, plan_packing
from .engine import engine_context, engine_graph, engine_stage_args, plan_engine, stacked_onchip_args

HEADERS = ("llm2hls_numerics.h", "llm2hls_nonlinear.h")
"""Helper headers copied from templates/hls into src/."""

OFFCHIP_MIN_ELEMENTS = 1 << 16
"""Integer params with more elements than this go off chip (binary file + m_axi argument)."""

KV_ONCHIP_MAX_BYTES = 1 << 20
"""A decode project keeps an attention stage's K and V cache on chip up to this many bytes (both
caches together); a larger cache becomes two m_axi arguments of the top function."""

TOKENS = "n_tokens"
"""The runtime token count of a decode project (C argument of the top and of every stage)."""

DEFAULT_PART = "xcu250-figd2104-2L-e"
DEFAULT_CLOCK_NS = 4.0


@dataclass
class HlsProject:
    """What was written: the folder and the names a simulator or report needs."""

    root: Path
    top: str
    kernel_sources: list[Path] = field(default_factory=list)
    tb_source: Path | None = None
    quantized: bool = True
    kv_caches: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class DecodeBench:
    """Testbench data of a ``--decode`` project (greedy generation, docs/decode.md).

    ``prompt``: token ids of the prefill call; ``tokens``: the reference's greedy continuation
    (the testbench generates ``len(tokens)`` ids and compares them); ``logits``: the reference's
    raw logits rows ``0 .. len(prompt) + len(tokens) - 2`` (every row the accelerator produces).
    """

    prompt: list[int]
    tokens: list[int]
    logits: np.ndarray


class LoopBound:
    """A loop bound that is a C expression (``n_tokens``, ``n_tokens * 64``) with a known maximum.

    Stage templates write ``{{ S }}`` and ``{{ S * C }}``; in a decode project ``S`` is this object,
    so the same templates loop over the runtime token count (see :func:`add_tripcounts`).
    """

    def __init__(self, expr: str, max_value: int) -> None:
        self.expr, self.max_value = expr, max_value

    def __mul__(self, k: int) -> "LoopBound":
        return LoopBound(f"{self.expr} * {k}", self.max_value * k)

    __rmul__ = __mul__

    def __str__(self) -> str:
        return self.expr


def template_dir() -> Any:
    """``templates/hls`` of the installed package (a Traversable)."""
    return importlib.resources.files("llm2hls.templates") / "hls"


def template_env() -> jinja2.Environment:
    """The Jinja environment over templates/hls (strict: unknown variables are errors)."""
    root = template_dir()

    def load(name: str) -> str:
        return (root / name).read_text()

    env = jinja2.Environment(
        loader=jinja2.FunctionLoader(load),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=False,
        lstrip_blocks=False,
        autoescape=False,
    )
    env.globals.update(gcd=math.gcd, lcm=math.lcm)
    return env


def c_identifier_top(name: str) -> str:
    clean = "".join(c if c.isalnum() else "_" for c in name).strip("_") or "model"
    return clean if not clean[0].isdigit() else "m_" + clean


def emit_project(
    graph: Graph,
    out_dir: Path,
    test_inputs: dict[str, np.ndarray],
    golden: dict[str, np.ndarray],
    top: str | None = None,
    part: str = DEFAULT_PART,
    clock_ns: float = DEFAULT_CLOCK_NS,
    tolerance: float = 0.0,
    extra: dict[str, Any] | None = None,
    offchip_min_elements: int = OFFCHIP_MIN_ELEMENTS,
    decode: DecodeBench | None = None,
    kv_onchip_max_bytes: int = KV_ONCHIP_MAX_BYTES,
    engine: bool = False,
) -> HlsProject:
    """Write the HLS project of ``graph`` into ``out_dir`` (created; must be empty or missing).

    ``test_inputs``/``golden`` are the testbench data by graph input/output name: raw integers in
    integer mode, floats in float mode (then compared with ``tolerance``, relative to the max).
    Integer params above ``offchip_min_elements`` elements are placed off chip (see :func:`mark_offchip`).
    With ``decode`` the project is a prefill/decode accelerator with KV caches (runtime ``pos0`` and
    ``n_tokens``) whose testbench runs greedy generation (docs/decode.md); ``test_inputs`` and
    ``golden`` are then unused.
    With ``engine`` the transformer layers become one block engine called once per layer
    (backends/hls/engine.py; the graph must be quantized with shared per-layer types).
    """
    check_hls_graph(graph)
    plan = None
    if engine:
        plan = plan_engine(graph)
        graph = engine_graph(graph, plan)
        kv_onchip_max_bytes = 0  # one cache per layer: [L][T][row] arrays passed as cache[layer]
    quantized = all(t.type.dtype.is_fixed for t in graph.tensors.values())
    top = c_identifier_top(top or graph.name)
    env = template_env()
    out_dir = Path(out_dir)
    subs = ("src", "weights", "tb", "vitis") + (("host",) if decode else ())
    for sub in subs:
        (out_dir / sub).mkdir(parents=True, exist_ok=True)

    offchip = mark_offchip(graph, offchip_min_elements) if quantized else []
    tokens = decode_tokens(graph) if decode else None
    contexts = {n.name: stage_context(graph, n, quantized, offchip, tokens) for n in graph.topo_nodes()}
    kv = kv_caches(graph, contexts, tokens, kv_onchip_max_bytes, plan.num_layers if plan else 1) if decode else []
    for cache in kv:
        contexts[cache["node"]]["kv"] = cache
    channels = memory_channels(graph, offchip, kv)
    stage_args = {n.name: stage_extra_args(n, contexts[n.name], offchip, kv) for n in graph.topo_nodes()}
    stages = [render_stage(env, n, contexts[n.name], stage_args[n.name], tokens) for n in graph.topo_nodes()]
    weights = [n for n in graph.topo_nodes() if emitted_params(n, quantized)]
    for node in weights:
        (out_dir / "weights" / f"{node.name}.h").write_text(render_weights(env, node, quantized))
    for weight in dict.fromkeys(a["weight"] for a in offchip):  # in the order the stage reads
        arrays = [a for a in offchip if a["weight"] == weight]
        node = graph.nodes[arrays[0]["node"]]
        for file, data in offchip_files(node, np.asarray(node.param(arrays[0]["key"])), arrays).items():
            (out_dir / "weights" / file).write_bytes(data)
    var = stream_names(graph, top)
    io = {
        "inputs": [{**_io_port(graph, t), "var": var[t]} for t in graph.inputs],
        "outputs": [{**_io_port(graph, t), "var": var[t]} for t in graph.outputs],
    }
    streams = [
        {**stream_port(graph, t), "var": var[t], "depth": graph.tensors[t].meta.get("fifo_depth", 2)}
        for n in graph.topo_nodes() for t in n.outputs if t not in graph.outputs
    ]
    outer_args = stage_args
    if plan is not None:  # engine stages take layer `layer`'s slice of every stacked array
        stacked = {a["name"] for a in offchip if a["node"] in plan.block and a["key"] in plan.stacked[a["node"]]}
        stacked |= {a["name"] for c in kv for a in c["arrays"]}
        outer_args = dict(stage_args)
        onchip = stacked_onchip_args(graph, plan)
        for name in plan.block:
            stage_args[name] = engine_stage_args(stage_args[name], stacked) + onchip.get(name, [])
        stages = [render_stage(env, n, contexts[n.name], stage_args[n.name], tokens) for n in graph.topo_nodes()]
    calls = [
        {"fn": n.name, "op": n.op, "source": n.source, "node": n.name,
         "args": [var[t] for t in n.inputs + n.outputs] + [arg for _, arg in stage_args[n.name]]}
        for n in graph.topo_nodes()
    ]
    ctx = {
        "top": top,
        "graph": graph,
        "quantized": quantized,
        "typedefs": [
            {"name": f"{name}_t", "ctype": t.type.dtype.c_type(), "doc": _type_doc(t.type)}
            for name, t in graph.tensors.items()
        ],
        "beat_typedefs": [stream_port(graph, name) for name in graph.tensors if beat(graph, name) > 1],
        "stream_width": graph.meta.get("stream_width", 1),
        "stages": stages,
        "weight_headers": [f"{n.name}.h" for n in weights],
        "streams": streams,
        "calls": calls,
        "part": part,
        "clock_ns": clock_ns,
        "tolerance": tolerance,
        "num_stages": len(graph.nodes),
        "quant_desc": _quant_desc(graph),
        "offchip": offchip,
        "top_args": top_arguments(io, offchip, kv, tokens, channels),
        "tb_call_args": [p["var"] for p in io["inputs"] + io["outputs"]] + (["pos0", "n_tokens"] if decode else [])
        + [a["tb_arg"] for a in offchip] + [a["name"] for c in kv for a in c["arrays"]],
        "decode": bool(decode),
        "T": tokens.max_value if tokens else None,
        "kv": kv,
        "kv_offchip": [c for c in kv if not c["onchip"]],
        "kv_arrays": [a for c in kv for a in c["arrays"]],
        "arg_channels": channels,
        "kv_onchip_max_bytes": kv_onchip_max_bytes,
        "engine": engine_context(top, graph, plan, streams, calls, outer_args, var, tokens) if plan else None,
        **io,
        **(extra or {}),
    }
    files = {
        f"src/{top}.h": "top.h.j2",
        f"src/{top}.cpp": "top.cpp.j2",
        f"tb/tb_{top}.cpp": "host/tb_decode.cpp.j2" if decode else "tb.cpp.j2",
        "vitis/hls_config.cfg": "hls_config.cfg.j2",
        "vitis/run_hls.tcl": "run_hls.tcl.j2",
        "README.md": "README.md.j2",
    }
    if decode:  # the board-side driver (not compiled here; docs/decode.md)
        files.update({f"host/{f}": f"host/{f}.j2" for f in ("host.cpp", "movers.cpp", "link.cfg")})
    for path, tmpl in files.items():
        (out_dir / path).write_text(env.get_template(tmpl).render(**ctx))
    for header in HEADERS:
        (out_dir / "src" / header).write_text((template_dir() / header).read_text())
    if decode:
        write_decode_bench(out_dir / "tb", graph.outputs[0], decode)
    else:
        for name in graph.inputs:
            write_data(out_dir / "tb" / f"{name}.txt", test_inputs[name], quantized)
        for name in graph.outputs:
            write_data(out_dir / "tb" / f"{name}.golden.txt", golden[name], quantized)
    return HlsProject(
        root=out_dir,
        top=top,
        kernel_sources=[out_dir / "src" / f"{top}.cpp"],
        tb_source=out_dir / "tb" / f"tb_{top}.cpp",
        quantized=quantized,
        kv_caches=kv,
    )


def memory_channels(graph: Graph, offchip: list[dict[str, Any]], kv: list[dict[str, Any]]) -> dict[str, int]:
    """Memory channel of every m_axi argument under a saved design (``graph.meta['design']``), else
    ``{}``: the off-chip weights, then every cache's K ports, then its V ports, each given the next of
    the design's channels round-robin, so the ports of one stage (striped weights, a cache's key
    ports) sit on distinct channels (host/link.cfg.j2 writes them as ``sp=`` lines)."""
    design = graph.meta.get("design") or {}
    if "channels" not in design:  # no saved design (or one that assigns no channels)
        return {}
    arrays = [a for c in kv for a in c["arrays"]]
    names = [a["name"] for a in offchip] + [a["name"] for kind in "kv" for a in arrays if a["kind"] == kind]
    return {name: i % int(design["channels"]) for i, name in enumerate(names)}


def top_arguments(io: dict[str, list[dict[str, Any]]], offchip: list[dict[str, Any]],
                  kv: list[dict[str, Any]], tokens: LoopBound | None,
                  channels: dict[str, int] | None = None) -> list[dict[str, str]]:
    """The top function's parameters in order (``decl``, ``doc`` for the header, interface ``pragma``):
    streams, then (decode) ``pos0``/``n_tokens``, off-chip weights, off-chip KV caches.

    Each m_axi argument is its own bundle (adapter), unless ``channels`` (:func:`memory_channels`)
    maps it to a memory channel: then the arguments of one channel share one adapter ``ch<c>``, one
    m_axi master per channel as the performance model counts them. Stages of one token run one after
    another, so they take turns on the adapter (UG1399 "M_AXI Bundles")."""
    channels = channels or {}
    args = [{"decl": f"hls::stream<{p['stype']}>& {p['var']}", "doc": f"[{'x'.join(map(str, p['shape']))}], token by token"
             + (f", {p['beat']} per beat" if p["beat"] > 1 else ""),
             "pragma": f"mode=axis port={p['var']}"} for p in io["inputs"] + io["outputs"]]
    if tokens is not None:
        args += [
            {"decl": "int pos0", "doc": "absolute position of this call's first token (0 = prefill)",
             "pragma": "mode=s_axilite port=pos0"},
            {"decl": "int n_tokens", "doc": f"tokens in this call: 1 .. {tokens.max_value} - pos0",
             "pragma": "mode=s_axilite port=n_tokens"},
        ]
    memories = [(f"const {a['store']} {a['name']}{a['dims']}", f"off chip (m_axi): weights/{a['file']}", a["name"], a["numel"])
                for a in offchip]
    memories += [(f"{a['ctype']} {a['name']}{a['dims']}", f"{a['doc']} (m_axi), allocated by the host", a["name"], a["numel"])
                 for c in kv for a in c["arrays"]]
    args += [{"decl": decl, "doc": doc, "pragma": f"mode=m_axi port={name} offset=slave bundle="
              f"{f'ch{channels[name]}' if name in channels else f'gmem{i}'} depth={numel}"}
             for i, (decl, doc, name, numel) in enumerate(memories)]
    return args


def decode_tokens(graph: Graph) -> LoopBound:
    """The token loop bound of a decode project: ``n_tokens`` at run time, at most the captured length."""
    return LoopBound(TOKENS, graph.tensors[graph.inputs[0]].type.shape[0])


def kv_caches(graph: Graph, contexts: dict[str, dict[str, Any]], tokens: LoopBound,
              onchip_max_bytes: int, layers: int = 1) -> list[dict[str, Any]]:
    """One K/V cache pair per stage whose kind asks for one (``kv_cache_row`` in its context).

    A cache holds ``T`` rows of ``kv_cache_row`` elements in the type of the stage's k and v
    inputs (inputs 1 and 2, the attention convention). Up to ``onchip_max_bytes`` (K and V together) it is a static array inside the stage;
    above, both caches are m_axi arguments of the top function, allocated by the host. A block
    engine (``layers > 1``) serves every layer with one stage, so its caches get a leading layer
    dimension (``lead``) and are always arguments. An off-chip cache of a stage taking ``P`` keys
    per cycle is striped over ``ports`` m_axi arguments per cache (:func:`kv_ports`); ``arrays``
    lists them (:func:`kv_arrays`, each with its ``index`` among all caches' arguments).
    """
    out = []
    for node in graph.topo_nodes():
        row = contexts[node.name].get("kv_cache_row")
        if row is None:
            continue
        k, v = node.inputs[1], node.inputs[2]
        k_bytes, v_bytes = (layers * tokens.max_value * row * _element_bytes(graph, t) for t in (k, v))
        size = k_bytes + v_bytes
        cache = {
            "node": node.name, "k": f"{node.name}_kcache", "v": f"{node.name}_vcache",
            "k_ctype": f"{k}_t", "v_ctype": f"{v}_t", "rows": tokens.max_value, "row": row,
            "k_bytes": k_bytes, "v_bytes": v_bytes,
            "numel": layers * tokens.max_value * row, "bytes": size, "onchip": size <= onchip_max_bytes,
            "lead": f"[{layers}]" if layers > 1 else "",
        }
        cache["ports"] = kv_ports(node.lanes, cache["onchip"])
        cache["arrays"] = kv_arrays(cache)
        out.append(cache)
    for i, a in enumerate(a for c in out for a in c["arrays"]):  # their order among the top's arguments
        a["index"] = i
    return out


def kv_ports(keys_per_cycle: int, onchip: bool) -> int:
    """m_axi ports each off-chip cache of an attention stage taking ``keys_per_cycle`` keys per
    cycle is striped over: one per key, so every cycle reads one cache row from each port (a port
    moves one word per cycle; a key's head slice fits one word up to 512 bits, e.g. 64 x 8 bits).
    An on-chip cache has no port: its key dimension is partitioned instead (1)."""
    return 1 if onchip else max(1, keys_per_cycle)


def kv_arrays(cache: dict[str, Any]) -> list[dict[str, Any]]:
    """The m_axi arguments of one off-chip cache (none on chip): its K ports, then its V ports.

    With ``ports`` = 1 the cache is one array ``<stage>_kcache[rows][row]``; with ``N`` ports
    position ``j`` is row ``j / N`` of port ``j % N``, argument ``<stage>_kcache_p<j % N>``
    (``ceil(rows / N)`` rows each). A block engine's arrays have the leading layer dimension."""
    if cache["onchip"]:
        return []
    n = cache["ports"]
    rows = -(-cache["rows"] // n)
    numel = (cache["numel"] // cache["rows"]) * rows
    out = []
    for t, what in (("k", "key"), ("v", "value")):
        for i in range(n):
            out.append({
                "name": cache[t] + (f"_p{i}" if n > 1 else ""), "ctype": cache[f"{t}_ctype"],
                "dims": f"{cache['lead']}[{rows}][{cache['row']}]", "numel": numel,
                "bytes": cache[f"{t}_bytes"] * rows // cache["rows"], "kind": t, "port": i,
                "doc": f"{what} cache of {cache['node']}" + (f", positions j with j % {n} == {i}" if n > 1 else ""),
            })
    return out


def _element_bytes(graph: Graph, tensor: str) -> int:
    """Bytes of one element of ``tensor`` in memory (its fixed-point width rounded up; float: 4)."""
    dtype = graph.tensors[tensor].type.dtype
    return -(-dtype.width // 8) if isinstance(dtype, FixedType) else 4


def stage_context(graph: Graph, node: Node, quantized: bool, offchip: list[dict[str, Any]],
                  tokens: LoopBound | None) -> dict[str, Any]:
    """The template variables of one stage (common ones plus the kind's ``hls_context``)."""
    kind = op_kind(node.op)
    if not kind.hls_template:
        raise UserError(f"op kind {node.op!r} (node {node.name}) has no HLS template")
    out_shape = graph.tensors[node.outputs[0]].type.shape
    ctx = {
        "node": node,
        "fn": node.name,
        "ins": [stream_port(graph, t) for t in node.inputs],
        "outs": [stream_port(graph, t) for t in node.outputs],
        "S": tokens if tokens is not None else out_shape[0],
        "T": out_shape[0],
        "decode": tokens is not None,
        "quantized": quantized,
        "offchip": [a["weight"] for a in offchip if a["node"] == node.name],
        "w_tiled": any(a["tiled"] for a in offchip if a["node"] == node.name and a["key"] == "q_weight"),
        "w_packed": next((a["packed"] for a in offchip if a["node"] == node.name and a["key"] == "q_weight"), None),
        "w_ports": [a["name"] for a in offchip if a["node"] == node.name and a["key"] == "q_weight"],
    }
    ctx.update(kind.hls_context(node, graph))
    ctx["template"] = kind.hls_template
    return ctx


def stage_extra_args(node: Node, ctx: dict[str, Any], offchip: list[dict[str, Any]],
                     kv: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """``(declaration, argument)`` of every non-stream parameter of a stage function, in order:
    ``n_tokens`` and ``pos0`` (decode), off-chip weights, off-chip K/V caches."""
    out = []
    if ctx["decode"]:
        out.append(("int n_tokens", "n_tokens"))
        if ctx.get("positional"):
            out.append(("int pos0", "pos0"))
    out += [(f"const {a['store']} {a['name']}{a['dims']}", a["name"]) for a in offchip if a["node"] == node.name]
    for c in kv:
        if c["node"] == node.name:
            out += [(f"{a['ctype']} {a['name']}{a['dims']}", a["name"]) for a in c["arrays"]]
    return out


def render_stage(env: jinja2.Environment, node: Node, ctx: dict[str, Any],
                 extra_args: list[tuple[str, str]], tokens: LoopBound | None = None) -> str:
    """The C++ function of one stage; ``extra_args`` (see :func:`stage_extra_args`) are appended to
    its parameter list (an off-chip array argument shadows the absent global of the same name)."""
    text = env.get_template(f"ops/{ctx['template']}").render(**ctx).strip() + "\n"
    if extra_args:
        start = text.index(f"void {node.name}(")
        close = text.index(") {", start)  # end of the parameter list: append the arguments last
        text = text[:close] + ", " + ", ".join(d for d, _ in extra_args) + text[close:]
    return add_tripcounts(text, tokens) if tokens is not None else text


_TOKEN_LOOP = re.compile(r"^( *)for \(int (\w+) = 0; \2 < (n_tokens((?: \* \d+)*)); \+\+\2\) \{\n", re.M)


def add_tripcounts(text: str, tokens: LoopBound) -> str:
    """Give every loop over the runtime token count a ``LOOP_TRIPCOUNT`` (its bound at ``n_tokens = T``),
    so Vitis HLS reports latencies for the longest call."""

    def pragma(m: re.Match) -> str:
        factor = int(np.prod([int(f) for f in re.findall(r"\d+", m.group(4))] or [1]))
        return f"{m.group(0)}#pragma HLS LOOP_TRIPCOUNT max={tokens.max_value * factor}\n"

    return _TOKEN_LOOP.sub(pragma, text)


def write_decode_bench(tb: Path, logits_name: str, bench: DecodeBench) -> None:
    """The data of the greedy-generation testbench: prompt, reference tokens and logits rows."""
    (tb / "prompt.txt").write_text(" ".join(str(int(t)) for t in bench.prompt) + "\n")
    (tb / "tokens.golden.txt").write_text(" ".join(str(int(t)) for t in bench.tokens) + "\n")
    write_data(tb / f"{logits_name}.golden.txt", bench.logits, True)


def beat(graph: Graph, tensor: str) -> int:
    """Elements per stream transfer of ``tensor`` (``meta['beat']``, passes/beats.py; 1 if unset)."""
    return int(graph.tensors[tensor].meta.get("beat", 1))


def stream_port(graph: Graph, tensor: str) -> dict[str, Any]:
    """A stream port for the templates: :func:`port` plus ``beat`` (elements per transfer) and
    ``stype``, the C type of one transfer: the element type ``<t>_t`` for one element per beat,
    else ``<t>_beat_t`` = ``llm2hls::beat<<t>_t, beat>`` (typedef in ``src/<top>.h``)."""
    b = beat(graph, tensor)
    return {**port(graph, tensor), "beat": b, "stype": f"{tensor}_beat_t" if b > 1 else f"{tensor}_t"}


def stream_names(graph: Graph, top: str) -> dict[str, str]:
    """C variable name of every stream: the tensor's name, unless a stage function or type has it."""
    taken = set(graph.nodes) | {top} | {f"{t}_t" for t in graph.tensors} | {f"{t}_beat_t" for t in graph.tensors}
    names = {}
    for t in graph.tensors:
        name = t
        while name in taken:
            name += "_s"
        taken.add(name)
        names[t] = name
    return names


def check_hls_graph(graph: Graph) -> None:
    """The structural rules of a DATAFLOW region: one producer and one consumer per stream."""
    graph.validate()
    for name in graph.tensors:
        reads = sum(t == name for n in graph.nodes.values() for t in n.inputs)
        reads += name in graph.outputs
        if reads > 1:
            raise RuntimeError(f"stream {name!r} has {reads} readers: run insert_forks first")
        if reads == 0 and (graph.producer(name) is not None or name in graph.inputs):
            raise UserError(f"stream {name!r} is never read; the graph keeps a dead output")


def mark_offchip(graph: Graph, min_elements: int) -> list[dict[str, Any]]:
    """Put every weight matrix (``q_weight``) larger than ``min_elements`` off chip (``Param.placement``).

    Such an array is not a source literal: it is written to ``weights/<node>_<key>.bin`` (raw
    integers in its storage type, little endian), becomes an m_axi argument of the top function
    and of its stage function (same name, so the stage body indexes it unchanged), and the
    testbench loads the file. A saved design (``graph.meta['design']``, dse/design_file.py) decides
    the placement instead of the size (``weight_placement``) and gives each weight up to
    ``weight_ports[node]`` ports: a lane-tiled weight is then packed at its bit width and striped
    over ``P`` arguments ``<node>_<key>_p<i>`` with files ``weights/<node>_<key>_p<i>.bin``
    (backends/hls/offchip.py; a 4-bit weight is packed even on one port).

    Returns one description per m_axi array (per port): ``name``, ``store`` (its C element type),
    ``dims``, ``numel``, ``bytes``, ``file``, ``tb_arg``, ``packed`` (a PackedWeight or None),
    ``port`` / ``ports`` and ``weight`` (the param's array name).
    """
    out = []
    design = graph.meta.get("design", {})
    decided = design.get("weight_placement", {})
    for node in graph.topo_nodes():
        for key in emitted_params(node, True):
            p = node.params[key]
            big = decided[node.name] == "offchip" if node.name in decided else p.data.size > min_elements
            if key != "q_weight" or not big:  # tables etc. stay on chip
                continue
            p.placement = "offchip"
            t = FixedType(**{k: v for k, v in node.attrs["param_types"][key].items() if k != "kind"})
            tiled = lane_tiled(node, p.data)
            tile = packing_tile(node, p.data)
            ports = int(design.get("weight_ports", {}).get(node.name, 1))
            packed = plan_packing(tile[0] * tile[1], t.width, ports) if tile else None
            base = {"node": node.name, "key": key, "weight": f"{node.name}_{key}", "tiled": tiled, "packed": packed}
            if packed is None:
                shape = offchip_layout(node, p.data).shape or (1,)
                store = storage_ctype(t)
                out.append(_offchip_array(base, f"{node.name}_{key}", store, shape, 0, 1,
                                          int(p.data.size) * np.dtype(store.removesuffix("_t")).itemsize))
                continue
            *lead, rows, k = p.data.shape
            shape = (*lead, rows // tile[0], k // tile[1]) + ((packed.words,) if packed.words > 1 else ())
            numel = int(np.prod(shape))
            for i in range(packed.ports):
                name = f"{node.name}_{key}" + (f"_p{i}" if packed.ports > 1 else "")
                out.append(_offchip_array(base, name, packed.word_ctype, shape, i, packed.ports,
                                          numel * packed.word_bits // 8))
    return out


def _offchip_array(base: dict[str, Any], name: str, store: str, shape: tuple[int, ...], port: int,
                   ports: int, nbytes: int) -> dict[str, Any]:
    """One m_axi array of :func:`mark_offchip` (the testbench passes ``tb_arg``)."""
    a = {**base, "name": name, "store": store, "port": port, "ports": ports, "file": f"{name}.bin",
         "dims": "".join(f"[{d}]" for d in shape), "tail_dims": "".join(f"[{d}]" for d in shape[1:]),
         "numel": int(np.prod(shape)), "bytes": nbytes}
    mem = f"{name}_mem.data()"
    a["tb_arg"] = f"reinterpret_cast<const {store} (*){a['tail_dims']}>({mem})" if len(shape) > 1 else mem
    return a


def offchip_files(node: Node, data: np.ndarray, arrays: list[dict[str, Any]]) -> dict[str, bytes]:
    """The ``weights/*.bin`` contents of one off-chip param (``arrays``: its :func:`mark_offchip`
    entries): raw integers in the storage type, or the packed words of each port."""
    packed = arrays[0]["packed"]
    if packed is None:
        dtype = np.dtype(arrays[0]["store"].removesuffix("_t")).newbyteorder("<")
        return {arrays[0]["file"]: offchip_layout(node, data).astype(dtype).tobytes()}
    tiles = packed_tiles(data, *packing_tile(node, data))
    return {a["file"]: pack_port(tiles, packed, a["port"]).tobytes() for a in arrays}


def packing_tile(node: Node, data: np.ndarray) -> tuple[int, int] | None:
    """``(rows, inputs)`` a linear stage reads per cycle from its weight -- ``min(lanes, N)`` rows
    and ``lanes / rows`` inputs of each (templates/hls/ops/linear.j2 ``lanes``, ``KI``) -- or None
    if they do not tile the matrix (then it cannot be packed)."""
    if node.op != "linear" or node.lanes <= 1 or data.ndim < 2:
        return None
    *_, rows, k = data.shape
    n = rows // 2 if node.attrs.get("glu") else rows
    lo = min(node.lanes, n)
    ki = node.lanes // lo
    return (lo, ki) if rows % lo == 0 and k % ki == 0 else None


def packed_tiles(data: np.ndarray, lo: int, ki: int) -> np.ndarray:
    """``[..., rows, K]`` as the tile rows a packed stage reads: ``[..., rows / lo, K / ki, lo * ki]``,
    field ``l * ki + j`` = weight of row ``n0 + l`` at input ``kb * ki + j`` (``lo``, ``ki``:
    :func:`packing_tile`; for ``ki = 1`` this is :func:`offchip_layout`'s lane tiles)."""
    *lead, rows, k = data.shape
    t = data.reshape(*lead, rows // lo, lo, k // ki, ki)
    return np.moveaxis(t, -3, -2).reshape(*lead, rows // lo, k // ki, lo * ki)


def lane_tiled(node: Node, data: np.ndarray) -> bool:
    """Whether an off-chip weight of ``node`` is stored as lane tiles (see :func:`offchip_layout`)."""
    return node.op == "linear" and node.lanes > 1 and data.ndim >= 2 and data.shape[-2] % node.lanes == 0


def offchip_layout(node: Node, data: np.ndarray) -> np.ndarray:
    """An off-chip weight in the order its stage reads it, so every m_axi read is sequential.

    A linear with ``L`` lanes reads rows ``n0 .. n0+L-1`` at input ``k``, then at ``k + 1``: its
    ``[rows, K]`` matrix (``[layers, rows, K]`` for a block engine) is stored as lane tiles
    ``[rows / L, K, L]`` and indexed ``w[n0 / L][k][l]`` (templates/hls/ops/linear.j2). Other
    arrays (e.g. an embedding table, read row by row) keep their row order.
    """
    if not lane_tiled(node, data):
        return data
    *lead, rows, k = data.shape
    return data.reshape(*lead, rows // node.lanes, node.lanes, k).swapaxes(-1, -2)


def emitted_params(node: Node, quantized: bool) -> list[str]:
    """Param keys emitted for ``node``: the ``q_`` ones, or in float mode all of them."""
    return [k for k in node.params if k.startswith("q_") == quantized]


def render_weights(env: jinja2.Environment, node: Node, quantized: bool) -> str:
    """``weights/<node>.h``: one typedef and one raw-integer (or float) array per param."""
    arrays = []
    for key in emitted_params(node, quantized):
        data = np.asarray(node.param(key))
        data = data.reshape(data.shape or (1,))
        offchip = node.params[key].placement == "offchip"
        if quantized:
            t = FixedType(**{k: v for k, v in node.attrs["param_types"][key].items() if k != "kind"})
            ctype, store = t.c_type(), storage_ctype(t)
            doc = f"{t} raw values (value = raw * 2^{-t.frac})" if t.frac else f"{t} integers"
            body = "" if offchip else _c_array(data.astype(np.int64), lambda v: str(int(v)))
        else:
            ctype, store, doc = "float", "float", "float values"
            body = _c_array(data.astype(np.float32), lambda v: repr(float(v)) + "f")
        arrays.append({
            "key": key, "name": f"{node.name}_{key}", "ctype": ctype, "store": store,
            "dims": "".join(f"[{d}]" for d in data.shape), "doc": doc, "body": body, "offchip": offchip,
        })
    return env.get_template("weights.h.j2").render(node=node, arrays=arrays)


def _c_array(data: np.ndarray, fmt, per_line: int = 16) -> str:
    """A C initializer (nested braces for >1 dims), ``per_line`` values per line."""
    if data.ndim == 1:
        items = [fmt(v) for v in data]
        lines = [", ".join(items[i:i + per_line]) for i in range(0, len(items), per_line)]
        return "{" + ",\n ".join(lines) + "}"
    return "{\n" + ",\n".join(_c_array(row, fmt, per_line) for row in data) + "}"


def _io_port(graph: Graph, name: str) -> dict[str, Any]:
    t = graph.tensors[name].type
    p = stream_port(graph, name)
    dtype = t.dtype
    if isinstance(dtype, FixedType):
        p["raw_ctype"] = f"ap_{'' if dtype.signed else 'u'}int<{dtype.width}>"
        p["store"] = storage_ctype(dtype)
    p["is_float"] = isinstance(dtype, FloatType)
    return p


def _quant_desc(graph: Graph) -> str:
    q = graph.meta.get("quant")
    if not q:
        return "fixed point"
    return (f"{q['scheme']}: {q['weight_bits']}-bit weights with per-channel scales, "
            f"{q['act_bits']}-bit fixed-point activations")


def _type_doc(tt) -> str:
    shape = "x".join(map(str, tt.shape))
    return f"[{shape}] {tt.dtype}"


def write_data(path: Path, values: np.ndarray, quantized: bool) -> None:
    """Testbench data: one token (row) per line, raw integers or floats (repr round-trips)."""
    v = np.asarray(values)
    v = v.reshape(v.shape[0], -1) if v.ndim else v.reshape(1, 1)
    if quantized or np.issubdtype(v.dtype, np.integer):
        rows = [" ".join(str(int(x)) for x in row) for row in v]
    else:
        rows = [" ".join(repr(float(x)) for x in row) for row in v]
    path.write_text("\n".join(rows) + "\n")
