"""Calibrate and quantize a float graph into the bit-exact integer graph.

Calibration runs the float reference on a few inputs and records, for every tensor, its
statistics in ``tensor.meta`` (``max_abs``, ``min``, ``max``, ``median_abs``, ``absmax_per_channel``) and its float
values in :attr:`QuantConfig.calib` (ops with internal intermediates, such as attention scores or a
fused linear's pre-activation, calibrate those from their inputs' float values).

Quantization then visits the nodes in topological order and lets each op kind choose its output
types and integer params (``op_kind(node.op).quantize(node, graph, config)``). The rules live in
docs/numerics.md.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from ..errors import UserError
from ..ir.graph import Graph
from ..ir.types import FixedType, TensorType
from ..ops.base import op_kind

SCHEMES = ("float", "w8a16", "w8a8", "w4a16", "w4a8", "w4a16-asym", "w4a8-asym")
"""Named schemes (docs/quantization.md). Grammar: ``float`` | ``w<B>a<A>[-asym][-g<G>]`` with
B in 2..8 (weight bits), A in 8..24 (A < 16: the bits of every matrix stage's input, other
tensors 16 bits; A >= 16: the bits of every activation tensor), ``-asym`` zero-point weights,
``-g<G>`` weight groups of G input channels (``g0``: per output channel)."""

DEFAULT_GROUP_4BIT = 64
"""Group size of <= 4-bit weights unless told (8-bit weights default to per-channel scales)."""

SCHEME_RE = re.compile(r"w(\d+)a(\d+)(-asym)?(?:-g(\d+))?")


@dataclass
class QuantConfig:
    """How to quantize: the scheme, bit widths, and the calibration data.

    ``w8a16`` (default): signed ``weight_bits``-bit weights with per-output-channel scales,
    ``act_bits``-bit fixed-point activations with one binary point per tensor (from calibration),
    ``scale_bits``-bit unsigned per-channel requantization multipliers.
    ``group_size``: weights get one scale per ``group_size`` input channels (None: per channel);
    ``weight_sym=False``: unsigned weights with a zero point per group; ``in_bits``: bits of the
    input of every matrix stage (None: ``act_bits``), e.g. 8 in ``w8a8``; ``smooth_alpha``:
    SmoothQuant migration strength (None: off). ``float``: the graph stays float.
    ``overrides`` maps a node name to field overrides (e.g. ``{"weight_bits": 8}``), the hook for
    per-layer mixed precision (see :func:`keep_8bit_overrides`).
    ``resolution_bits`` / ``max_act_bits``: the width policy of outlier tensors (a stage whose output
    needs more than ``act_bits`` to resolve its typical channel gets up to ``max_act_bits``; see
    :func:`needed_bits`; ``resolution_bits = 0`` turns it off).
    """

    scheme: str = "w8a16"
    weight_bits: int = 8
    act_bits: int = 16
    scale_bits: int = 16
    rounding: str = "RND"
    overflow: str = "SAT"
    group_size: int | None = None
    weight_sym: bool = True
    in_bits: int | None = None
    smooth_alpha: float | None = None
    keep_8bit: str = ""  # resolved into overrides by the pipeline (keep_8bit_overrides)
    resolution_bits: int = 4
    max_act_bits: int = 24
    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)
    # tensor name -> float values, one array per calibration input
    calib: dict[str, list[np.ndarray]] = field(default_factory=dict, repr=False)

    @property
    def is_float(self) -> bool:
        return self.scheme == "float"

    @property
    def linear_in_bits(self) -> int:
        """Bits of a matrix stage's (converted) input."""
        return self.in_bits or self.act_bits

    @staticmethod
    def from_scheme(scheme: str, weight_bits: int | None = None, group_size: int | None = None,
                    smooth_alpha: float | None = None) -> "QuantConfig":
        """Parse a scheme name (``float``, ``w8a16``, ``w4a8-asym-g128`` ...; see :data:`SCHEMES`).

        ``weight_bits`` / ``group_size`` override the name's (``group_size`` 0: per channel);
        ``smooth_alpha`` defaults to 0.5 for 8-bit matrix inputs (SmoothQuant), off otherwise.
        """
        if scheme == "float":
            return QuantConfig(scheme="float")
        m = SCHEME_RE.fullmatch(scheme)
        if not m:
            raise UserError(f"unknown quantization scheme {scheme!r}; use float or w<B>a<A>[-asym][-g<G>], "
                            f"e.g. {', '.join(SCHEMES[1:])}")
        wb = int(m.group(1)) if weight_bits is None else weight_bits
        ab = int(m.group(2))
        asym = bool(m.group(3))
        if not 2 <= wb <= 8:
            raise UserError(f"weight bits {wb} not supported; use 2..8 (e.g. --weight-bits 8)")
        if not 8 <= ab <= 24:
            raise UserError(f"activation bits {ab} not supported; use 8..24 (e.g. w8a16)")
        if group_size is None and m.group(4) is not None:
            group_size = int(m.group(4))
        default_group = DEFAULT_GROUP_4BIT if wb <= 4 else 0
        if group_size is None:
            group_size = default_group
        if group_size < 0 or (group_size and group_size < 8):
            raise UserError(f"group size {group_size} not supported; use 0 (per channel) or >= 8, e.g. 64")
        act_bits, in_bits = (16, ab) if ab < 16 else (ab, None)
        if smooth_alpha is None and in_bits is not None and in_bits <= 8:
            smooth_alpha = 0.5
        name = f"w{wb}a{ab}" + ("-asym" if asym else "") + (f"-g{group_size}" if group_size != default_group else "")
        return QuantConfig(scheme=name, weight_bits=wb, act_bits=act_bits, group_size=group_size or None,
                           weight_sym=not asym, in_bits=in_bits, smooth_alpha=smooth_alpha)

    def for_node(self, name: str) -> "QuantConfig":
        """This config with the per-node overrides of ``name`` applied (calib shared)."""
        over = self.overrides.get(name)
        return replace(self, **over) if over else self

    def act_type(self, max_abs: float, bits: int | None = None) -> FixedType:
        """The activation type of a tensor whose calibrated magnitude is ``max_abs``."""
        return activation_type(max_abs, bits or self.act_bits, self.rounding, self.overflow)

    def calib_values(self, tensor: str) -> list[np.ndarray]:
        try:
            return self.calib[tensor]
        except KeyError:
            raise KeyError(f"no calibration values for tensor {tensor!r}") from None


def activation_type(max_abs: float, bits: int, rounding: str = "RND", overflow: str = "SAT") -> FixedType:
    """``FixedType(bits, F)`` with ``F = bits - 1 - ceil(log2(max_abs))`` (``bits - 1`` if 0).

    The integer part covers ``max_abs`` (values at exactly a power of two saturate by one LSB).
    """
    if not math.isfinite(max_abs):
        raise UserError(f"calibration produced a non-finite value ({max_abs}); check the model")
    if max_abs <= 0:
        return FixedType(bits, bits - 1, True, rounding, overflow)
    return FixedType(bits, bits - 1 - math.ceil(math.log2(max_abs)), True, rounding, overflow)


def tensor_stats(values: list[np.ndarray]) -> dict[str, Any]:
    """Calibration statistics of one tensor over all calibration runs."""
    flat = np.concatenate([np.asarray(v, dtype=np.float64).ravel() for v in values])
    stats: dict[str, Any] = {
        "max_abs": float(np.abs(flat).max(initial=0.0)),
        "min": float(flat.min(initial=0.0)),
        "max": float(flat.max(initial=0.0)),
        "median_abs": float(np.median(np.abs(flat))) if flat.size else 0.0,
    }
    if all(np.ndim(v) == 2 for v in values):
        per_ch = np.max([np.abs(v).max(axis=0) for v in values], axis=0)
        stats["absmax_per_channel"] = [float(x) for x in per_ch]
    return stats


WIDE_KINDS = ("linear", "eltwise", "route", "layernorm", "embedding")
"""Kinds whose output may be widened by the width policy (cheap and proven wide in every backend;
attention and table outputs keep ``act_bits``)."""


def needed_bits(stats: dict[str, Any], resolution_bits: int) -> int:
    """Bits a tensor needs so that its typical value keeps ``resolution_bits`` significant bits.

    ``1 + ceil(log2(max_abs / median_abs)) + resolution_bits`` (calibration statistics; 0 when the
    median is 0). Residual streams of LLMs carry a few values thousands of times larger than the
    typical one (SmolLM2: max 24,000, median |x| well below 1); with one binary point per tensor, 16
    bits then leave the ordinary values one or two bits. A Gaussian-like tensor needs ~8.
    """
    m, peak = float(stats.get("median_abs", 0.0)), float(stats.get("max_abs", 0.0))
    if m <= 0 or peak <= 0:
        return 0
    return 1 + max(0, math.ceil(math.log2(peak / m))) + resolution_bits


def output_bits(graph: Graph, node, config: QuantConfig) -> int:
    """The activation width of ``node``'s outputs under the width policy (``config.act_bits`` unless
    an output needs more; at most ``max_act_bits`` and what a norm over its channels can take)."""
    if not config.resolution_bits or node.op not in WIDE_KINDS or config.act_bits >= config.max_act_bits:
        return config.act_bits
    bits = config.act_bits
    for out in node.outputs:
        t = graph.tensors[out]
        channels = t.type.shape[-1] if t.type.shape else 1
        norm_cap = (59 - max(0, math.ceil(math.log2(channels)))) // 2  # layernorm_plan's 62-bit bound
        need = needed_bits(t.meta, config.resolution_bits)
        bits = max(bits, min(need, config.max_act_bits, norm_cap))
    return bits


def plan_widths(graph: Graph, config: QuantConfig) -> dict[str, int]:
    """Widened stages: node name -> bits (:func:`output_bits` > ``act_bits``). When the layers share
    their C types (``share_types.quantize_shared``, one block engine for all layers), corresponding
    stages of all layers get the widest of their group."""
    from .share_types import _SharedConfig, layer_groups  # late import: share_types imports this module

    bits = {n.name: output_bits(graph, n, config.for_node(n.name)) for n in graph.topo_nodes()}
    if isinstance(config, _SharedConfig):
        _share_widths(graph, layer_groups(graph), bits)
    return {name: b for name, b in bits.items() if b > config.for_node(name).act_bits}


def _share_widths(graph: Graph, groups: dict, bits: dict[str, int]) -> None:
    """Give every set of stages that must share a C type the widest width of the set (in place):
    corresponding stages of all layers, and the stages whose outputs feed the same input port of
    corresponding stages (through routes) -- e.g. the embedding and every layer's last residual
    add, which all feed a layer's first norm. Repeats until nothing changes (sets overlap)."""
    producer = {t: n for n in graph.nodes.values() for t in n.outputs}

    def sources(tensor: str) -> list:
        n = producer.get(tensor)
        if n is None:
            return []
        return [s for t in n.inputs for s in sources(t)] if n.op == "route" else [n]

    sets = []
    for nodes in groups.values():
        sets.append(nodes)
        for j in range(min(len(n.inputs) for n in nodes)):
            sets.append([s for n in nodes for s in sources(n.inputs[j])])
    changed = True
    while changed:
        changed = False
        for members in sets:
            top = max(bits[n.name] for n in members)
            for n in members:
                if bits[n.name] != top:
                    bits[n.name], changed = top, True


def reads_gated_activation(graph: Graph, node) -> bool:
    """True for a matrix stage whose input comes (through routes) from an elementwise nonlinearity: an
    ``act`` stage, a linear with a fused activation, or a gating product (``eltwise`` mul), i.e. the
    FFN down projection. Such an input has per-channel outliers that no smoothing factor can be
    folded into (the nonlinearity is in the way), so narrow-input schemes keep it at ``act_bits``."""
    prod = graph.producer(node.inputs[0])
    while prod is not None and prod.op == "route" and len(prod.inputs) == 1:
        prod = graph.producer(prod.inputs[0])
    if prod is None:
        return False
    return prod.op == "act" or (prod.op == "linear" and bool(prod.attrs.get("act"))) or (
        prod.op == "eltwise" and prod.attrs.get("fn") == "mul" and "const" not in prod.params)


def calibrate(graph: Graph, calib_inputs: list[dict[str, np.ndarray]], config: QuantConfig) -> None:
    """Run the float reference on every calibration input; fill ``tensor.meta`` and ``config.calib``."""
    from ..reference import run_graph  # late import: the reference imports the op kinds

    if not calib_inputs:
        raise UserError("calibration needs at least one input")
    values: dict[str, list[np.ndarray]] = {}
    for inputs in calib_inputs:
        env = run_graph(graph, inputs, mode="float", keep_all=True)
        for name, v in env.items():
            values.setdefault(name, []).append(np.asarray(v))
    config.calib = values
    for name, vals in values.items():
        if graph.tensors[name].type.dtype.is_fixed:
            continue  # integer inputs (token ids) carry no float statistics
        graph.tensors[name].meta.update(tensor_stats(vals))


def quantize_graph(graph: Graph, config: QuantConfig) -> Graph:
    """Type every tensor and add integer params, node by node (``calibrate`` must have run).

    Float graph inputs get an activation type from their calibration; integer inputs (token ids)
    keep theirs. Returns ``graph`` (modified in place).
    """
    if config.is_float:
        return graph
    for name in graph.inputs:
        t = graph.tensors[name]
        if not t.type.dtype.is_fixed:
            t.type = TensorType(t.type.shape, config.act_type(t.meta["max_abs"]))
    wide = plan_widths(graph, config)
    for node in graph.topo_nodes():
        cfg = config.for_node(node.name)
        if node.op == "linear" and cfg.in_bits is not None and reads_gated_activation(graph, node):
            cfg = replace(cfg, in_bits=None)  # FFN down projection: full-width input (docs/quantization.md)
        if node.name in wide:  # the whole stage runs wider (its output and internal types)
            cfg = replace(cfg, act_bits=wide[node.name])
        op_kind(node.op).quantize(node, graph, cfg)
        for out in node.outputs:
            if not graph.tensors[out].type.dtype.is_fixed:
                raise RuntimeError(f"{node.name} ({node.op}) left output {out!r} unquantized")
    graph.meta["quant"] = {
        "scheme": config.scheme,
        "weight_bits": config.weight_bits,
        "act_bits": config.act_bits,
        "scale_bits": config.scale_bits,
        "group_size": config.group_size,
        "weight_sym": config.weight_sym,
        "in_bits": config.linear_in_bits,
        "smooth_alpha": config.smooth_alpha,
        "overrides": {k: v for k, v in config.overrides.items()},
        "resolution_bits": config.resolution_bits,
        "wide": wide,
    }
    return graph


def set_output_type(graph: Graph, tensor: str, dtype: FixedType) -> None:
    """Give ``tensor`` the numeric type ``dtype`` (keeping its shape)."""
    t = graph.tensors[tensor]
    t.type = TensorType(t.type.shape, dtype)


KEEP_8BIT = {"weight_bits": 8, "group_size": None, "weight_sym": True, "in_bits": None}
"""What a kept layer gets: 8-bit per-channel symmetric weights and full-width (16-bit) inputs."""


def keep_8bit_overrides(graph: Graph, spec: str | list[str]) -> dict[str, dict[str, Any]]:
    """Per-node overrides keeping some linear stages at w8a16 (``--keep-8bit``).

    ``spec``: comma-separated tokens, each ``lm_head`` (linears producing a graph output),
    ``first`` / ``last`` (linears of the lowest / highest transformer layer, ``Node.layer``), or a
    substring of a node's name or PyTorch module path (e.g. ``mlp.down_proj``). A token matching
    no linear is a user error.
    """
    tokens = [t.strip() for t in (spec.split(",") if isinstance(spec, str) else spec) if t.strip()]
    linears = [n for n in graph.topo_nodes() if n.op == "linear"]
    layers = sorted({n.layer for n in graph.nodes.values() if n.layer is not None})
    chosen: dict[str, dict[str, Any]] = {}
    for tok in tokens:
        if tok == "lm_head":
            hit = [n for n in linears if set(n.outputs) & set(graph.outputs) or (n.source or "").endswith("lm_head")]
        elif tok in ("first", "last"):
            want = (layers[0] if tok == "first" else layers[-1]) if layers else object()
            hit = [n for n in linears if n.layer == want]
        else:
            hit = [n for n in linears if tok in n.name or tok in (n.source or "")]
        if not hit:
            raise UserError(f"--keep-8bit: {tok!r} matches no linear stage; use lm_head, first, last or a "
                            f"module path such as {linears[0].source if linears else 'mlp.fc'}")
        for n in hit:
            chosen[n.name] = dict(KEEP_8BIT)
    return chosen
