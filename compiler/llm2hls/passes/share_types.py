"""Shared per-layer types: one set of C types for every copy of an identical transformer block.

A reused block engine (one engine invoked once per layer with per-layer weight offsets) has one
C type per port, accumulator and multiplier, so every layer must use the same ``FixedType`` for
corresponding tensors and parameters; only the parameter *data* may differ per layer.
:func:`quantize_shared` quantizes a calibrated float graph under that constraint:

1. **activation types** — every activation type the op kinds choose goes through
   ``QuantConfig.act_type(max_abs)``. A first quantization of a copy records, per node, the
   sequence of calibrated magnitudes it asks about; corresponding nodes of all layers then ask
   with the largest magnitude of their group, so they get the widest range (the smallest
   fraction). Tables (activations, softmax exp) depend only on these types, so they come out
   identical too.
2. **multipliers** — linear requantization multipliers (``q_scale``, ``Fm`` fraction bits) and
   norm gains (``q_gamma``/``q_beta``, ``gain_frac``) are re-derived at the group's smallest
   fraction from the float data, the same rounding rules as the op kinds (linear.py,
   layernorm.py); biases follow the multiplier's fraction.
3. **widths** — integer parameter and accumulator types that still differ only in width
   (data-dependent bias / gain widths) take the group's widest; raw values are unchanged.

Corresponding nodes: same ``Node.block`` signature when the frontend sets one, else the same
name with the layer index replaced (``model_layers_3_mlp_linear`` -> ``model_layers_N_mlp_linear``,
the key :func:`llm2hls.perf.workload.stages_from_graph` uses). :func:`type_mismatches` lists any
difference left (empty after :func:`quantize_shared` on the supported op kinds).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from ..ir.graph import Graph, Node
from ..ir.types import FixedType, int_type, numtype_from_json
from ..numerics import bits_for
from .canonicalize import clone
from .quantize import QuantConfig, quantize_graph

PROVENANCE_ATTRS = ("fused",)
"""Node attrs that name where a stage came from (layer-specific names), not what it computes."""

TYPE_ATTRS = ("in_type", "y_type", "act_type", "acc_type", "sum_type")
"""Node attrs holding a FixedType (JSON) that the C code declares."""


def layer_groups(graph: Graph) -> dict[str, list[Node]]:
    """Corresponding nodes of identical blocks: key -> nodes (one per layer, in layer order).

    Only keys with nodes in at least two layers are returned.
    """
    groups: dict[str, list[Node]] = {}
    for n in graph.topo_nodes():
        if n.layer is None:
            continue
        key = n.block or re.sub(rf"(^|_){n.layer}(_|$)", r"\1N\2", n.name, count=1)
        groups.setdefault(key, []).append(n)
    return {k: v for k, v in groups.items() if len({n.layer for n in v}) > 1}


@dataclass
class _SharedConfig(QuantConfig):
    """A QuantConfig that logs (and optionally replaces) the magnitudes behind activation types."""

    share_node: str = ""
    share_log: dict[str, list[float]] = field(default_factory=dict)
    share_plan: dict[str, list[float]] = field(default_factory=dict)

    def for_node(self, name: str) -> "_SharedConfig":
        return replace(super().for_node(name), share_node=name)

    def act_type(self, max_abs: float, bits: int | None = None) -> FixedType:
        calls = self.share_log.setdefault(self.share_node, [])
        planned = self.share_plan.get(self.share_node)
        if planned is not None and len(calls) < len(planned):
            max_abs = planned[len(calls)]
        calls.append(max_abs)
        return super().act_type(max_abs, bits)


def _shared_config(config: QuantConfig, plan: dict[str, list[float]]) -> _SharedConfig:
    fields = {f: getattr(config, f) for f in QuantConfig.__dataclass_fields__}
    return _SharedConfig(**fields, share_plan=plan)


def magnitude_plan(log: dict[str, list[float]], graph: Graph,
                   groups: dict[str, list[Node]]) -> dict[str, list[float]]:
    """Per node, the magnitude each ``act_type`` call should use: the largest of its class.

    Classes (union-find over ``(node, call index)``): the same call of corresponding nodes, and
    the output-deciding (last) call of the producers feeding the same input port of
    corresponding nodes (through ``route`` stages, whose outputs take their sources' types).
    The second rule gives the block's entry ports one type, e.g. layer 0's input (the
    embedding's output) and layer l's input (layer l-1's output). Groups whose nodes made a
    different number of calls are left alone: they are not structurally identical.
    """
    parent: dict[tuple[str, int], tuple[str, int]] = {}

    def find(k: tuple[str, int]) -> tuple[str, int]:
        parent.setdefault(k, k)
        while parent[k] != k:
            parent[k] = parent[parent[k]]
            k = parent[k]
        return k

    def union(a: tuple[str, int], b: tuple[str, int]) -> None:
        parent[find(a)] = find(b)

    producer = {t: n for n in graph.nodes.values() for t in n.outputs}

    def deciders(tensor: str) -> list[tuple[str, int]]:
        n = producer.get(tensor)
        if n is None:
            return []
        if n.op == "route":
            return [k for t in n.inputs for k in deciders(t)]
        calls = log.get(n.name, [])
        return [(n.name, len(calls) - 1)] if calls else []

    for nodes in groups.values():
        seqs = [log.get(n.name, []) for n in nodes]
        if len({len(s) for s in seqs}) != 1:
            continue
        for i in range(len(seqs[0])):
            for n in nodes[1:]:
                union((n.name, i), (nodes[0].name, i))
        for j in range(len(nodes[0].inputs)):
            feeds = [deciders(n.inputs[j]) for n in nodes]
            if len({len(f) for f in feeds}) == 1:
                for f in feeds[1:]:
                    for a, b in zip(f, feeds[0]):
                        union(a, b)
    best: dict[tuple[str, int], float] = {}
    for k in list(parent):
        r = find(k)
        best[r] = max(best.get(r, 0.0), log[k[0]][k[1]])
    return {name: [best.get(find((name, i)), v) if (name, i) in parent else v for i, v in enumerate(calls)]
            for name, calls in log.items() if any((name, i) in parent for i in range(len(calls)))}


def quantize_shared(graph: Graph, config: QuantConfig) -> Graph:
    """Quantize the calibrated float ``graph`` (in place, like ``quantize_graph``) so that
    corresponding nodes of all layers share every C type; returns ``graph``.

    ``graph.meta['quant']['shared_layers']`` records the number of shared groups.
    """
    if config.is_float:
        return graph
    probe = _shared_config(config, {})
    quantize_graph(clone(graph), probe)
    groups = layer_groups(graph)
    quantize_graph(graph, _shared_config(config, magnitude_plan(probe.share_log, graph, groups)))
    groups = layer_groups(graph)
    for nodes in groups.values():
        kind = nodes[0].op
        if kind == "linear":
            _share_linear(nodes, config)
        elif kind == "layernorm":
            _share_layernorm(nodes)
        _widen_params(nodes)
    graph.meta["quant"]["shared_layers"] = len(groups)
    return graph


# ---- multipliers ------------------------------------------------------------------------------
def _ftype(d: dict) -> FixedType:
    t = numtype_from_json(d)
    assert isinstance(t, FixedType)
    return t


def _float_scales(node: Node, config: QuantConfig) -> np.ndarray:
    """The float weight scales Linear.quantize used (per channel ``[N]`` or per group ``[N, G]``)."""
    from ..ops.linear import quantize_weight, quantize_weight_groups, weight_group

    cfg = config.for_node(node.name)
    w = node.param("weight")
    group = weight_group(w.shape[1], cfg)
    if group is None:
        return quantize_weight(w, cfg.weight_bits)[1]
    return quantize_weight_groups(w, cfg.weight_bits, group, cfg.weight_sym)[1]


def _share_linear(nodes: list[Node], config: QuantConfig) -> None:
    """Re-derive ``q_scale`` (and ``q_bias``) at the group's smallest multiplier fraction."""
    from ..ops.qcommon import add_qparam

    fm = min(_ftype(n.attrs["param_types"]["q_scale"]).frac for n in nodes)
    for n in nodes:
        old = _ftype(n.attrs["param_types"]["q_scale"])
        if old.frac == fm:
            continue
        s = _float_scales(n, config)
        add_qparam(n, "q_scale", np.floor(s * 2.0**fm + 0.5).astype(np.int64), replace(old, frac=fm))
        if "q_bias" in n.params:
            x_frac = _ftype(n.attrs["acc_type"]).frac  # the (narrowed) matrix input's fraction
            q_bias = np.floor(n.param("bias").astype(np.float64) * 2.0 ** (x_frac + fm) + 0.5).astype(np.int64)
            width = max(int(q_bias.size and np.abs(q_bias).max()).bit_length(), 1) + 1
            add_qparam(n, "q_bias", q_bias, FixedType(width, x_frac + fm, True, "TRN", "WRAP"))
    # the requantization sum must hold the widest bias of the group
    sum_bits = max(n.attrs["sum_bits"] for n in nodes)
    bias_bits = max((n.attrs["param_bits"].get("q_bias", 0) for n in nodes), default=0)
    sum_bits = max(sum_bits, bias_bits + 1)
    for n in nodes:
        n.attrs["sum_bits"] = sum_bits
        if "sum_type" in n.attrs:
            n.attrs["sum_type"] = replace(_ftype(n.attrs["sum_type"]), width=sum_bits,
                                          frac=_ftype(n.attrs["acc_type"]).frac + fm).to_json()


def _share_layernorm(nodes: list[Node]) -> None:
    """Re-derive ``q_gamma``/``q_beta`` at the group's smallest gain fraction."""
    from ..ops.layernorm import NORM_FRAC

    gf = min(n.attrs["ln"]["gain_frac"] for n in nodes)
    for n in nodes:
        plan = n.attrs["ln"]
        if plan["gain_frac"] == gf:
            continue
        c = n.param("q_gamma").shape[-1]
        gamma = n.param("weight").astype(np.float64) if "weight" in n.params else np.ones(c)
        params = {"q_gamma": np.floor(gamma * math.sqrt(c) * 2.0**gf + 0.5).astype(np.int64)}
        if "q_beta" in n.params:
            params["q_beta"] = np.floor(n.param("bias").astype(np.float64) * 2.0 ** (NORM_FRAC + gf)
                                        + 0.5).astype(np.int64)
        for key, raw in params.items():
            n.params[key].data = raw
            t = int_type(bits_for(int(np.abs(raw).max(initial=0))))
            n.attrs["param_types"][key] = t.to_json()
            n.attrs["param_bits"][key] = t.width
        plan["gain_frac"] = gf
        plan["acc_bits"] = bits_for((2**NORM_FRAC + 1) * int(np.abs(params["q_gamma"]).max(initial=0))
                                    + int(np.abs(params.get("q_beta", np.zeros(1, np.int64))).max(initial=0)))
    acc_bits = max(n.attrs["ln"]["acc_bits"] for n in nodes)
    for n in nodes:
        n.attrs["ln"]["acc_bits"] = acc_bits


def _widen_params(nodes: list[Node]) -> None:
    """Integer params whose types differ only in width take the group's widest (values kept)."""
    keys = set.intersection(*(set(n.attrs.get("param_types", {})) for n in nodes))
    for key in keys:
        types = [_ftype(n.attrs["param_types"][key]) for n in nodes]
        if len({(t.frac, t.signed, t.rounding, t.overflow) for t in types}) != 1:
            continue  # different fractions: not a width-only difference (reported by type_mismatches)
        widest = max(types, key=lambda t: t.width)
        for n in nodes:
            n.attrs["param_types"][key] = widest.to_json()
            n.attrs["param_bits"][key] = widest.width


# ---- checking ---------------------------------------------------------------------------------
def type_signature(node: Node, graph: Graph) -> dict[str, Any]:
    """Every type a block engine's C code declares for ``node``: ports, param types, type attrs,
    and the op's plans (attrs without arrays), as JSON values."""
    return {
        "inputs": [graph.tensors[t].type.dtype.to_json() for t in node.inputs],
        "outputs": [graph.tensors[t].type.dtype.to_json() for t in node.outputs],
        "attrs": {k: v for k, v in node.attrs.items() if k not in PROVENANCE_ATTRS},
    }


def type_mismatches(graph: Graph) -> list[str]:
    """One line per group of corresponding nodes whose type signatures still differ."""
    out = []
    for key, nodes in layer_groups(graph).items():
        sigs = [json.dumps(type_signature(n, graph), sort_keys=True) for n in nodes]
        if len(set(sigs)) > 1:
            first = json.loads(sigs[0])
            other = json.loads(next(s for s in sigs if s != sigs[0]))
            diff = sorted(k for part in first for k in _diff_keys(first[part], other[part], part))
            out.append(f"{key}: {', '.join(diff[:6])}")
    return out


def _diff_keys(a: Any, b: Any, prefix: str) -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        keys = set(a) | set(b)
        return [k for key in keys for k in _diff_keys(a.get(key), b.get(key), f"{prefix}.{key}")]
    return [] if a == b else [prefix]
