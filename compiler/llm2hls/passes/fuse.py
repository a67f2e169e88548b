"""Fusion passes: merge stages into one cheaper stage that computes exactly what they computed.

Every pass is ``Graph -> (Graph, changed)``, never mutates its input, and is numerically
transparent: the fused stage reproduces, bit for bit, the unfused chain's integer semantics (and
its float semantics), so every oracle of the unfused graph still holds (docs/numerics.md, "Fusion").

* :func:`fuse_activation` — ``linear -> act`` (the act being the linear output's only reader)
  becomes one ``linear`` with ``attrs['act']``;
* :func:`fuse_glu` — the gated MLP ``act(gate(x)) * up(x)`` (SwiGLU, GeGLU) becomes one ``linear``
  with ``attrs['glu']``: both matrices in one stage, the product written directly;
* :func:`fuse_residual` — ``linear (-> act) -> eltwise add`` whose other operand is a stream
  becomes one ``linear`` with ``attrs['residual']`` and that stream as its second input;
* :func:`fuse_siblings` — plain linears reading the same tensor (Q/K/V projections) become one
  ``linear`` with ``attrs['segments']``: ``x`` is read once, each output keeps its own stream and type;
* :func:`fuse_residual_norm` — ``h = a + b; y = norm(h)`` becomes one ``layernorm`` with
  ``attrs['residual']`` writing ``y`` and, when anything else reads it, ``h``.

:func:`fuse` applies the selected ones in that order; :func:`unfuse` expands a (quantized) graph
back into the unfused stages, bit-identical, for backends that map only unfused stages (RTL).
"""

from __future__ import annotations

import os
from collections.abc import Iterable

import numpy as np

from ..errors import UserError
from ..ir.graph import Graph, Node, Param, Tensor
from ..ir.types import TensorType, numtype_from_json
from .canonicalize import clone

FUSIONS = ("act", "glu", "residual", "siblings", "norm")
"""Names of the fusions, in the order :func:`fuse` applies them (``--fuse`` / ``--no-fuse``)."""


def parse_fusions(spec: str | Iterable[str] | None) -> tuple[str, ...]:
    """The fusions selected by ``spec``: None or ``"all"`` -> all, ``""``/``"none"`` -> none, else a
    comma list of :data:`FUSIONS` names (a UserError names an unknown one)."""
    if spec is None:
        return FUSIONS
    names = [s.strip() for s in (spec.split(",") if isinstance(spec, str) else spec) if s.strip()]
    if names == ["all"]:
        return FUSIONS
    if names in ([], ["none"]):
        return ()
    unknown = [n for n in names if n not in FUSIONS]
    if unknown:
        raise UserError(f"--fuse: unknown fusion {unknown[0]!r}; use a comma list of {', '.join(FUSIONS)}, "
                        "all, or none")
    return tuple(f for f in FUSIONS if f in names)


def _readers(graph: Graph, tensor: str) -> list[Node]:
    """Nodes reading ``tensor``, once per read."""
    return [n for n in graph.nodes.values() for t in n.inputs if t == tensor]


def _sole_reader(graph: Graph, tensor: str) -> Node | None:
    """The node reading ``tensor``, if exactly one node reads it once and it is not an output."""
    if tensor in graph.outputs:
        return None
    readers = _readers(graph, tensor)
    return readers[0] if len(readers) == 1 else None


def _absorb(graph: Graph, node: Node, absorbed: Node) -> None:
    """``node`` takes over ``absorbed``'s outputs; the stream between them disappears."""
    (mid,) = node.outputs
    node.outputs = list(absorbed.outputs)
    del graph.nodes[absorbed.name]
    del graph.tensors[mid]


def _is_plain_linear(node: Node) -> bool:
    """A linear with nothing fused into it yet."""
    a = node.attrs
    return (node.op == "linear" and not a.get("act") and not a.get("residual") and not a.get("glu")
            and "segments" not in a)


def _merged_name(graph: Graph, names: list[str]) -> str:
    """``a_q_proj_linear``, ``a_k_proj_linear`` -> ``a_q_k_proj_linear``: the common prefix and
    suffix around the joined differing middles (a fresh name)."""
    prefix = os.path.commonprefix(names)
    suffix = os.path.commonprefix([n[len(prefix):][::-1] for n in names])[::-1]
    middles = [n[len(prefix):len(n) - len(suffix)] for n in names]
    return graph.unique_name(prefix + "_".join(m for m in middles if m) + suffix)


def _merged_params(nodes: list[Node]) -> dict[str, Param]:
    """Weights stacked row-wise; a bias where any node has one (zeros for the others: an exact
    ``+ 0`` in float and in the integer sum)."""
    params = {"weight": Param(np.concatenate([n.param("weight") for n in nodes], axis=0),
                              nodes[0].params["weight"].placement)}
    if any("bias" in n.params for n in nodes):
        params["bias"] = Param(np.concatenate([
            n.param("bias") if "bias" in n.params else np.zeros(n.param("weight").shape[0]) for n in nodes]))
    if all("smooth" in n.params for n in nodes):  # SmoothQuant factors of the shared input
        params["smooth"] = nodes[0].params["smooth"]
    return params


def _same_config(nodes: list[Node], overrides: dict | None) -> bool:
    """Whether per-node quantization overrides (``QuantConfig.overrides``) treat ``nodes`` alike:
    one fused stage has one configuration, so differently quantized linears stay apart."""
    return len({repr(sorted((overrides or {}).get(n.name, {}).items())) for n in nodes}) == 1


def fused_overrides(graph: Graph, overrides: dict) -> dict:
    """Overrides for the fused stages of ``graph``: the (common) override of the stages each replaced."""
    out = {}
    for node in graph.nodes.values():
        members = [m for m in node.attrs.get("fused", []) if m in overrides]
        if members and node.name not in overrides:
            out[node.name] = dict(overrides[members[0]])
    return out


def _merge_linears(graph: Graph, nodes: list[Node], outputs: list[str], attrs: dict) -> Node:
    """Replace ``nodes`` (linears reading the same input) by one stage writing ``outputs``."""
    first = nodes[0]
    merged = Node(
        _merged_name(graph, [n.name for n in nodes]), "linear", [first.inputs[0]], outputs,
        attrs={**attrs, "segments": [int(n.param("weight").shape[0]) for n in nodes],
               "fused": [n.name for n in nodes]},
        params=_merged_params(nodes),
        source=", ".join(n.source or n.name for n in nodes),
        lanes=first.lanes, layer=first.layer, block=first.block,
    )
    for n in nodes:
        del graph.nodes[n.name]
    graph.nodes[merged.name] = merged
    return merged


def fuse_activation(graph: Graph) -> tuple[Graph, bool]:
    """Fuse every ``act`` into the ``linear`` that alone feeds it."""
    g = clone(graph)
    changed = False
    for node in list(g.nodes.values()):
        if not _is_plain_linear(node):
            continue
        reader = _sole_reader(g, node.outputs[0])
        if reader is None or reader.op != "act":
            continue
        node.attrs["act"] = reader.attrs["fn"]
        _absorb(g, node, reader)
        changed = True
    return g, changed


def fuse_glu(graph: Graph, overrides: dict | None = None) -> tuple[Graph, bool]:
    """Fuse ``mul(act(x W_g^T + b_g), x W_u^T + b_u)`` (gate linear with a fused act, up linear,
    both read only by the product) into one ``linear`` with ``attrs['glu'] = True``: segments
    ``[N, N]`` (gate rows, then up rows), ``attrs['act']`` on the gate, output the product."""
    g = clone(graph)
    changed = False
    for mul in list(g.nodes.values()):
        if mul.op != "eltwise" or mul.attrs.get("fn") != "mul" or len(mul.inputs) != 2:
            continue
        prods = [g.producer(t) for t in mul.inputs]
        if any(p is None or p.op != "linear" or _sole_reader(g, p.outputs[0]) is not mul for p in prods):
            continue
        gated = [p for p in prods if p.attrs.get("act") and not p.attrs.get("residual")
                 and not p.attrs.get("glu") and "segments" not in p.attrs]
        up = [p for p in prods if _is_plain_linear(p)]
        if len(gated) != 1 or len(up) != 1 or gated[0].inputs[0] != up[0].inputs[0]:
            continue
        gate, up_ = gated[0], up[0]
        if gate.param("weight").shape != up_.param("weight").shape or not _same_config([gate, up_], overrides):
            continue
        fused = _merge_linears(g, [gate, up_], list(mul.outputs),
                               {"act": gate.attrs["act"], "residual": False, "glu": True})
        for t in (gate.outputs[0], up_.outputs[0]):
            del g.tensors[t]
        del g.nodes[mul.name]
        fused.attrs["fused"].append(mul.name)
        changed = True
    if changed:
        g.sort()
    return g, changed


def fuse_residual(graph: Graph) -> tuple[Graph, bool]:
    """Fuse ``eltwise add`` of a ``linear`` output and another stream into the linear."""
    g = clone(graph)
    changed = False
    for node in list(g.nodes.values()):
        if (node.op != "linear" or node.attrs.get("residual") or node.attrs.get("glu")
                or len(node.outputs) != 1):
            continue
        reader = _sole_reader(g, node.outputs[0])
        if (reader is None or reader.op != "eltwise" or reader.attrs.get("fn") != "add"
                or len(reader.inputs) != 2 or reader.inputs[0] == reader.inputs[1]):
            continue
        other = reader.inputs[1] if reader.inputs[0] == node.outputs[0] else reader.inputs[0]
        node.inputs = [node.inputs[0], other]
        node.attrs["residual"] = True
        _absorb(g, node, reader)
        changed = True
    if changed:
        g.sort()  # the residual's producer may come after the linear in insertion order
    return g, changed


def fuse_siblings(graph: Graph, overrides: dict | None = None) -> tuple[Graph, bool]:
    """Fuse plain linears reading the same tensor (Q/K/V) into one ``linear`` with
    ``attrs['segments']`` (rows per original linear) and one output per segment."""
    g = clone(graph)
    changed = False
    groups: dict[tuple[str, str], list[Node]] = {}
    for node in g.topo_nodes():
        if _is_plain_linear(node) and len(node.inputs) == 1:
            key = (node.inputs[0], repr(sorted((overrides or {}).get(node.name, {}).items())))
            groups.setdefault(key, []).append(node)
    for nodes in groups.values():
        if len(nodes) < 2:
            continue
        _merge_linears(g, nodes, [n.outputs[0] for n in nodes], {"act": None, "residual": False})
        changed = True
    if changed:
        g.sort()
    return g, changed


def fuse_residual_norm(graph: Graph) -> tuple[Graph, bool]:
    """Fuse ``h = add(a, b)`` (two streams) into the ``layernorm`` reading ``h``: one stage with
    inputs ``a, b`` writing ``y`` and, when ``h`` has other readers or is a graph output, ``h``."""
    g = clone(graph)
    changed = False
    for add in list(g.nodes.values()):
        if (add.op != "eltwise" or add.attrs.get("fn") != "add" or len(add.inputs) != 2
                or add.inputs[0] == add.inputs[1]):
            continue
        (h,) = add.outputs
        norms = [n for n in _readers(g, h) if n.op == "layernorm" and not n.attrs.get("residual")]
        if not norms:
            continue
        norm = norms[0]
        norm.inputs = list(add.inputs)
        norm.attrs["residual"] = True
        norm.attrs["fused"] = [add.name, norm.name]
        del g.nodes[add.name]
        if h in g.outputs or _readers(g, h):
            norm.outputs = [norm.outputs[0], h]
        else:
            del g.tensors[h]
        changed = True
    if changed:
        g.sort()
    return g, changed


PASSES = {"act": fuse_activation, "glu": fuse_glu, "residual": fuse_residual,
          "siblings": fuse_siblings, "norm": fuse_residual_norm}


def fuse(graph: Graph, fusions: Iterable[str] = FUSIONS, overrides: dict | None = None) -> Graph:
    """Apply the selected fusions in :data:`FUSIONS` order (activation first, so
    ``linear -> act -> add`` and the gated MLP fuse completely). ``overrides``: per-node
    quantization overrides by name; linears with different ones are not merged (give the fused
    stages theirs with :func:`fused_overrides`). Records the stage counts in ``graph.meta['fusion']``."""
    wanted = set(fusions)
    graph = clone(graph)
    before = len(graph.nodes)
    counts = {}
    for name in FUSIONS:
        if name in wanted:
            n = len(graph.nodes)
            graph, _ = PASSES[name](graph, overrides) if name in ("glu", "siblings") else PASSES[name](graph)
            counts[name] = n - len(graph.nodes)
    graph.meta["fusion"] = {"stages_before": before, "stages_after": len(graph.nodes), "removed": counts}
    return graph


# ---- unfusing (backends that map unfused stages) ------------------------------------------------
def unfuse(graph: Graph) -> tuple[Graph, bool]:
    """Expand the GLU, sibling and residual-norm stages of a quantized graph back into their unfused
    stages with the same integer params and types (bit-identical; docs/numerics.md, "Fusion").

    ``act`` and ``residual`` stay fused in their linear. New streams read by several stages are
    left for the consumer to fork (the RTL top forks them itself).
    """
    g = clone(graph)
    changed = False
    for node in list(g.nodes.values()):
        if node.op == "linear" and "segments" in node.attrs:
            _unfuse_linear(g, node)
            changed = True
        elif node.op == "layernorm" and node.attrs.get("residual"):
            _unfuse_norm(g, node)
            changed = True
    if changed:
        g.sort()
    return g, changed


def _segment_node(node: Node, name: str, rows: slice, out: str, y_type: dict) -> Node:
    """One segment of a fused linear as the plain linear it was (same raw params and types)."""
    keep = ("param_types", "param_bits", "acc_type", "in_type", "sum_type", "sum_bits", "group")
    attrs = {k: (dict(v) if isinstance(v, dict) else v) for k, v in node.attrs.items() if k in keep}
    attrs.update({"act": None, "residual": False, "y_type": y_type})
    params = {}
    for key, p in node.params.items():
        if key in ("weight", "bias", "q_weight", "q_scale", "q_bias", "q_zero"):
            params[key] = Param(np.asarray(p.data)[rows], p.placement)
        elif key == "smooth":
            params[key] = p
    return Node(name, "linear", [node.inputs[0]], [out], attrs=attrs, params=params,
                source=node.source, lanes=node.lanes, layer=node.layer, block=node.block)


def _unfuse_linear(g: Graph, node: Node) -> None:
    names = node.attrs.get("fused", [])
    seg = node.attrs["segments"]
    bounds = np.cumsum([0] + seg)
    y_types = node.attrs["y_types"]
    sources = node.source.split(", ")
    del g.nodes[node.name]
    made = []
    for j, n in enumerate(seg):
        name = names[j] if j < len(names) and names[j] not in g.nodes else g.unique_name(f"{node.name}_{j}")
        if node.attrs.get("glu"):
            out = g.unique_name(f"{name}_out")
            dtype = numtype_from_json(node.attrs["act_type"] if j == 0 else y_types[j])
            shape = g.tensors[node.outputs[0]].type.shape
            g.tensors[out] = Tensor(out, TensorType(shape, dtype))
        else:
            out = node.outputs[j]
        part = _segment_node(node, name, slice(int(bounds[j]), int(bounds[j + 1])), out, y_types[j])
        part.source = sources[j] if len(sources) == len(seg) else node.source
        if node.attrs.get("glu") and j == 0:  # the gate keeps the activation table
            part.attrs["act"] = node.attrs["act"]
            part.attrs["act_type"] = node.attrs["act_type"]
            part.attrs["act_table"] = node.attrs["act_table"]
            for key in ("q_act_base", "q_act_slope"):
                part.params[key] = node.params[key]
        for key in list(part.attrs["param_types"]):
            if key not in part.params:
                del part.attrs["param_types"][key]
                part.attrs["param_bits"].pop(key, None)
        g.nodes[name] = part
        made.append(part)
    if node.attrs.get("glu"):
        mul = names[2] if len(names) > 2 and names[2] not in g.nodes else g.unique_name(f"{node.name}_mul")
        g.nodes[mul] = Node(mul, "eltwise", [made[0].outputs[0], made[1].outputs[0]], list(node.outputs),
                            attrs={"fn": "mul"}, source=node.source, layer=node.layer, block=node.block)


def _unfuse_norm(g: Graph, node: Node) -> None:
    add_name, _ = node.attrs.get("fused", [None, None])
    if len(node.outputs) > 1:
        h = node.outputs[1]
    else:
        h = g.unique_name(f"{node.name}_sum")
        g.tensors[h] = Tensor(h, TensorType(g.tensors[node.outputs[0]].type.shape, numtype_from_json(node.attrs["sum_type"])))
    add = add_name if add_name and add_name not in g.nodes else g.unique_name(f"{node.name}_add")
    g.nodes[add] = Node(add, "eltwise", list(node.inputs), [h], attrs={"fn": "add"}, source=node.source,
                        layer=node.layer, block=node.block)
    node.inputs = [h]
    node.outputs = [node.outputs[0]]
    node.attrs = {k: v for k, v in node.attrs.items() if k not in ("residual", "sum_type", "fused")}
