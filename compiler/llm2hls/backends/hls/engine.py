"""One block engine reused across layers (``llm2hls compile --engine``).

A transformer's layers are identical blocks that differ only in parameter data. With
``--share-layers`` (passes/share_types.py) they also share every C type, so one set of stage
functions -- the *engine* -- can run every layer: the top function runs the prologue (embeddings),
then calls the engine once per layer with that layer's parameters, then runs the epilogue (final
norm, LM head). Parameters that differ between layers are stacked into ``[L, ...]`` arrays (on chip,
or one off-chip buffer per weight with per-layer offsets); the engine's stage functions receive
``array[layer]`` as an argument of the same name, so the op templates are unchanged.

:func:`plan_engine` splits a compiled graph into prologue / layers / epilogue and proves the layers
identical; :func:`engine_graph` builds the graph that is emitted: the prologue, layer 0's stages
carrying the stacked parameters, and the epilogue re-wired to layer 0's exit. Numerics are the full
graph's (the golden outputs come from the reference interpreter on the unmodified graph).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np

from ...errors import UserError
from ...ir.graph import Graph, Param
from ...ir.types import FixedType
from ...ops.qcommon import storage_ctype
from ...passes.canonicalize import clone
from ...passes.share_types import type_signature


@dataclass
class EnginePlan:
    """A compiled graph as prologue, ``L`` identical layers and epilogue (node names, topo order)."""

    prologue: list[str]
    layers: list[list[str]]
    epilogue: list[str]
    entry: list[str]
    """The tensor entering each layer (the residual stream from the previous one)."""
    exit: list[str]
    """The tensor leaving each layer."""
    stacked: dict[str, list[str]] = field(default_factory=dict)
    """Per layer-0 node: the param keys whose data differ between layers (stacked ``[L, ...]``)."""

    @property
    def num_layers(self) -> int:
        return len(self.layers)

    @property
    def block(self) -> list[str]:
        """The engine's stages: layer 0's nodes."""
        return self.layers[0]


def node_layers(graph: Graph) -> dict[str, int | None]:
    """The layer of every node; a fork belongs to the layer that reads its copies.

    ``insert_forks`` gives a fork its producer's layer, so the fork of the residual stream entering
    layer ``l`` would sit in layer ``l - 1`` (or the prologue) -- and the last layer would lack one.
    Moving each fork to its readers' layer makes every layer the same sequence of stages.
    """
    layers = {n.name: n.layer for n in graph.nodes.values()}
    for n in graph.nodes.values():
        if n.op == "route" and n.attrs.get("fork"):
            readers = {layers[r.name] for t in n.outputs for r in graph.consumers(t)}
            if len(readers) == 1:
                layers[n.name] = readers.pop()
    return layers


def plan_engine(graph: Graph) -> EnginePlan:
    """Split ``graph`` into prologue, identical layers and epilogue; UserError when it cannot be."""
    layer_of = node_layers(graph)
    order = [n.name for n in graph.topo_nodes()]
    indices = sorted({layer_of[n] for n in order if layer_of[n] is not None})
    if len(indices) < 2:
        raise UserError(f"--engine: {graph.name} has {len(indices)} transformer layer(s); "
                        "a reused block engine needs at least 2 (drop --engine)")
    layers = [[n for n in order if layer_of[n] == i] for i in indices]
    first = order.index(layers[0][0])
    last = order.index(layers[-1][-1])
    outside = [n for n in order if layer_of[n] is None]
    prologue = [n for n in outside if order.index(n) < first]
    epilogue = [n for n in outside if order.index(n) > last]
    stray = [n for n in outside if first < order.index(n) < last]
    if stray:
        raise UserError(f"--engine: stage {stray[0]} sits between transformer layers but belongs to none; "
                        "the layers are not one repeated block (drop --engine)")
    entry = [_boundary(graph, names, "entry") for names in layers]
    exit_ = [_boundary(graph, names, "exit") for names in layers]
    for i in range(1, len(layers)):
        if entry[i] != exit_[i - 1]:
            raise UserError(f"--engine: layer {indices[i]} does not read layer {indices[i - 1]}'s output "
                            f"({entry[i]} != {exit_[i - 1]}); the layers are not a chain (drop --engine)")
    _check_identical(graph, layers, entry)
    plan = EnginePlan(prologue, layers, epilogue, entry, exit_)
    plan.stacked = {name: _differing_params(graph, [layer[i] for layer in layers])
                    for i, name in enumerate(layers[0])}
    return plan


def _boundary(graph: Graph, names: list[str], side: str) -> str:
    """The one tensor entering (``side="entry"``) or leaving (``"exit"``) a set of nodes."""
    inside = set(names)
    produced = {t for n in names for t in graph.nodes[n].outputs}
    if side == "entry":
        found = {t for n in names for t in graph.nodes[n].inputs if t not in produced}
    else:
        found = {t for t in produced
                 if t in graph.outputs or any(c.name not in inside for c in graph.consumers(t))}
    if len(found) != 1:
        layer = graph.nodes[names[0]].layer
        raise UserError(f"--engine: layer {layer} has {len(found)} {side} streams ({', '.join(sorted(found)) or 'none'}); "
                        "a block engine needs exactly one (drop --engine)")
    return found.pop()


def _check_identical(graph: Graph, layers: list[list[str]], entry: list[str]) -> None:
    """Same stages, wiring and C types in every layer (the engine's stage functions serve all)."""

    def wiring(names: list[str], entry_tensor: str) -> list[tuple]:
        pos = {entry_tensor: ("entry",)}
        for i, n in enumerate(names):
            for j, t in enumerate(graph.nodes[n].outputs):
                pos[t] = (i, j)
        return [(graph.nodes[n].op, tuple(pos.get(t, ("?",)) for t in graph.nodes[n].inputs)) for n in names]

    ref = wiring(layers[0], entry[0])
    for names, e in zip(layers[1:], entry[1:]):
        if len(names) != len(layers[0]) or wiring(names, e) != ref:
            raise UserError(f"--engine: layer {graph.nodes[names[0]].layer} is wired differently from layer "
                            f"{graph.nodes[layers[0][0]].layer} (e.g. a fusion crossing a layer boundary); "
                            "try --fuse act,glu,residual,siblings or drop --engine")
    for i, n0 in enumerate(layers[0]):
        sig0 = json.dumps(type_signature(graph.nodes[n0], graph), sort_keys=True)
        for names in layers[1:]:
            if json.dumps(type_signature(graph.nodes[names[i]], graph), sort_keys=True) != sig0:
                raise UserError(f"--engine: {names[i]} and {n0} have different C types; "
                                "compile with --share-layers so one engine can serve every layer")


def _differing_params(graph: Graph, names: list[str]) -> list[str]:
    """Param keys (emitted ``q_`` arrays) whose data are not the same in every layer."""
    nodes = [graph.nodes[n] for n in names]
    keys = [k for k in nodes[0].params if k.startswith("q_")]
    return [k for k in keys
            if any(not np.array_equal(nodes[0].param(k), n.param(k)) for n in nodes[1:])]


def engine_graph(graph: Graph, plan: EnginePlan) -> Graph:
    """The graph to emit: prologue, layer 0 with stacked params, epilogue reading layer 0's exit.

    Evaluating it is *not* the model (it has one layer); it only carries the stage functions, their
    types and the parameter data. Layer 0's nodes keep their names; a stacked param holds
    ``[L, ...]`` data and keeps its placement.
    """
    g = clone(graph)
    for i, name in enumerate(plan.block):
        node = g.nodes[name]
        for key in plan.stacked[name]:
            data = np.stack([graph.nodes[layer[i]].param(key) for layer in plan.layers])
            node.params[key] = Param(data, node.params[key].placement)
    for names in plan.layers[1:]:
        for n in names:
            g.remove_node(n)
    for n in plan.epilogue:
        node = g.nodes[n]
        node.inputs = [plan.exit[0] if t == plan.exit[-1] else t for t in node.inputs]
    g.outputs = [plan.exit[0] if t == plan.exit[-1] else t for t in g.outputs]
    used = {t for n in g.nodes.values() for t in n.inputs + n.outputs} | set(g.inputs) | set(g.outputs)
    for t in [t for t in g.tensors if t not in used]:
        del g.tensors[t]
    g.sort()
    return g


# ---- emission ----------------------------------------------------------------------------------
Arg = tuple[str, str]
"""``(declaration, argument expression)`` of one non-stream parameter."""


def _array_dims(decl: str) -> tuple[str, str]:
    """Split ``"const int8_t w[3][4][5]"`` into ``("const int8_t w", "[3][4][5]")``."""
    i = decl.index("[")
    return decl[:i], decl[i:]


def _drop_leading_dim(decl: str) -> str:
    head, dims = _array_dims(decl)
    return head + dims[dims.index("]") + 1:]


def engine_stage_args(args: list[Arg], stacked_arrays: set[str]) -> list[Arg]:
    """One engine stage's non-stream parameters as the block function calls it: a stacked array
    argument ``w[L]...`` is declared per layer and passed as ``w[layer]``. (The block function
    itself takes the arguments unchanged: whole stacked off-chip arrays, runtime scalars.)"""
    return [(_drop_leading_dim(decl), f"{arg}[layer]") if arg in stacked_arrays else (decl, arg)
            for decl, arg in args]


def stacked_onchip_args(graph: Graph, plan: EnginePlan) -> dict[str, list[Arg]]:
    """Per engine stage: its on-chip stacked params as ``(per-layer declaration, "name[layer]")``;
    the arrays themselves are the globals of ``weights/<node>.h``."""
    out: dict[str, list[Arg]] = {}
    for name in plan.block:
        node = graph.nodes[name]
        for key in plan.stacked[name]:
            p = node.params[key]
            if p.placement == "offchip":
                continue
            array = f"{name}_{key}"
            store = storage_ctype(FixedType(**{k: v for k, v in node.attrs["param_types"][key].items() if k != "kind"}))
            dims = "".join(f"[{d}]" for d in p.data.shape[1:]) or "[1]"
            out.setdefault(name, []).append((f"const {store} {array}{dims}", f"{array}[layer]"))
    return out


@dataclass
class Region:
    """One DATAFLOW function of an engine project (prologue, block or epilogue)."""

    fn: str
    params: list[str]
    """Its parameter declarations after the streams (and buffers)."""
    args: list[str]
    """The expressions the top passes for ``params``."""
    streams: list[dict]
    calls: list[dict]


def _dedup(args: list[Arg]) -> list[Arg]:
    seen, out = set(), []
    for a in args:
        if a[1] not in seen:
            seen.add(a[1])
            out.append(a)
    return out


def engine_regions(top: str, graph: Graph, plan: EnginePlan, streams: list[dict], calls: list[dict],
                   outer_args: dict[str, list[Arg]]) -> dict[str, Region]:
    """Split the emitted streams and stage calls into the three DATAFLOW functions."""
    members = {"prologue": plan.prologue, "block": plan.block, "epilogue": plan.epilogue}
    out = {}
    for region, names in members.items():
        inside = set(names)
        produced = {t for n in names for t in graph.nodes[n].outputs}
        region_streams = [s for s in streams if s["name"] in produced]
        region_calls = [c for c in calls if c["node"] in inside]
        params = _dedup([a for n in names for a in outer_args.get(n, [])])
        out[region] = Region(f"{top}_{region}", [d for d, _ in params], [a for _, a in params],
                             region_streams, region_calls)
    return out


def engine_context(top: str, graph: Graph, plan: EnginePlan, streams: list[dict], calls: list[dict],
                   outer_args: dict[str, list[Arg]], var: dict[str, str], tokens) -> dict:
    """Template variables of an engine project's top level (``top.cpp.j2``, ``engine`` branch).

    ``tokens`` is the decode loop bound (``n_tokens``) or None (a fixed-length forward).
    """
    entry, exit_ = plan.entry[0], plan.exit[0]
    t_entry, t_exit = graph.tensors[entry].type, graph.tensors[exit_].type
    if t_entry != t_exit:
        raise UserError(f"--engine: the block's input {entry} ({t_entry}) and output {exit_} ({t_exit}) "
                        "differ in type; compile with --share-layers")
    rows, channels = t_entry.shape
    beat = int(graph.tensors[entry].meta.get("beat", 1))  # the buffers hold one beat per word
    words = channels // beat
    count = f"{tokens.expr} * {words}" if tokens is not None else str(rows * words)
    stype = lambda t: f"{t}_beat_t" if beat > 1 else f"{t}_t"  # noqa: E731 (emit.stream_port's rule)
    return {
        "layers": plan.num_layers,
        "ctype": f"{entry}_t",
        "stype": stype(entry),
        "beat": beat,
        "buffer": rows * words,
        "count": count,
        "count_max": rows * words,
        "entry": {"var": var[entry], "name": entry},
        "exit": {"var": var[exit_], "name": exit_, "stype": stype(exit_)},
        "regions": engine_regions(top, graph, plan, streams, calls, outer_args),
        "first_layer": graph.nodes[plan.block[0]].layer,
    }
