"""Transformer workload: the stages of a decoder and the work each does, without any weights.

Two sources give the same :class:`Stage` list:

* :func:`stages_from_shape` — from a :class:`ModelShape` (an HF-style ``config.json`` or a preset):
  pure arithmetic, so a 1B-parameter config costs microseconds;
* :func:`stages_from_graph` — from a compiled IR graph, grouping identical transformer blocks by
  ``Node.layer``, so the model can be checked against what the compiler really built.

A stage's *work* for one pass (:func:`stage_work`) is counted per pass of ``tokens`` new tokens at
a given context length: MACs, weight bytes read (weights are read once per pass), activation
bytes, KV-cache bytes read/written and nonlinear evaluations. Byte counts follow the quantization
:class:`Scheme`: ``wb``-bit weights plus one ``scale_bits`` scale per output channel (or per group
of ``group_size`` inputs) plus a 32-bit bias per output channel where the layer has one.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

from ..errors import UserError

if TYPE_CHECKING:
    from ..ir.graph import Graph

BIAS_BITS = 32  # biases live in the accumulator domain (docs/numerics.md)
NORM_PARAM_BITS = 16  # LayerNorm/RMSNorm gain and bias


# ---- quantization scheme ---------------------------------------------------------------------
@dataclass(frozen=True)
class Scheme:
    """Bit widths that decide bytes: ``wXaY`` (+ optional group size of the weight scales)."""

    weight_bits: int = 8
    act_bits: int = 16
    scale_bits: int = 16
    group_size: int | None = None  # None: one scale per output channel
    kv_bits: int | None = None  # None: KV cache stored at act_bits

    @property
    def name(self) -> str:
        g = f"g{self.group_size}" if self.group_size else ""
        return f"w{self.weight_bits}a{self.act_bits}{g}"

    @property
    def kv(self) -> int:
        return self.kv_bits or self.act_bits

    @staticmethod
    def parse(text: str) -> "Scheme":
        """``w4a8``, ``w8a16``, ``w4a8g128`` (group-wise scales every 128 inputs)."""
        m = re.fullmatch(r"w(\d+)a(\d+)(?:g(\d+))?", text.strip().lower())
        if not m:
            raise UserError(f"unknown quantization scheme {text!r}; use wXaY or wXaYgG, e.g. w4a8")
        wb, ab = int(m.group(1)), int(m.group(2))
        if not 2 <= wb <= 16 or not 4 <= ab <= 32:
            raise UserError(f"scheme {text!r} out of range; weights 2..16 bits, activations 4..32")
        return Scheme(wb, ab, group_size=int(m.group(3)) if m.group(3) else None)

    def linear_weight_bytes(self, n: int, k: int, bias: bool) -> int:
        """Bytes of a quantized ``[n, k]`` weight with its scales (and bias)."""
        groups = 1 if not self.group_size else -(-k // self.group_size)
        bits = n * k * self.weight_bits + n * groups * self.scale_bits
        bits += n * BIAS_BITS if bias else 0
        return -(-bits // 8)


# ---- model shapes ----------------------------------------------------------------------------
@dataclass(frozen=True)
class ModelShape:
    """Architecture numbers of a decoder-only transformer (no weights)."""

    name: str
    family: str  # gpt2 | gpt_neox | llama
    hidden: int
    layers: int
    heads: int
    kv_heads: int
    ffn: int
    vocab: int
    tied: bool
    max_positions: int = 2048
    head_dim: int | None = None
    rotary_dim: int | None = None  # channels per head that get rotary (NeoX: rotary_pct * D)

    @property
    def d(self) -> int:
        return self.head_dim or self.hidden // self.heads

    @property
    def gated(self) -> bool:
        return self.family == "llama"

    @property
    def has_bias(self) -> bool:
        return self.family in ("gpt2", "gpt_neox")

    def params(self) -> int:
        """Parameter count as PyTorch reports it (tied embeddings counted once)."""
        stages = stages_from_shape(self, Scheme())
        total = sum(s.weight_elems * s.count for s in stages)
        learned_pos = self.max_positions * self.hidden if self.family == "gpt2" else 0
        return total - (self.vocab * self.hidden if self.tied else 0) + learned_pos


PRESETS: dict[str, ModelShape] = {
    # public architecture shapes from the models' config.json files on the Hugging Face hub
    "gpt2": ModelShape("gpt2", "gpt2", 768, 12, 12, 12, 3072, 50257, True, 1024),
    "gpt2-medium": ModelShape("gpt2-medium", "gpt2", 1024, 24, 16, 16, 4096, 50257, True, 1024),
    "smollm2-135m": ModelShape("smollm2-135m", "llama", 576, 30, 9, 3, 1536, 49152, True, 8192),
    "pythia-1.4b": ModelShape(
        "pythia-1.4b", "gpt_neox", 2048, 24, 16, 16, 8192, 50304, False, 2048, rotary_dim=32
    ),
    "llama-1b": ModelShape(  # Llama-3.2-1B
        "llama-1b", "llama", 2048, 16, 32, 8, 8192, 128256, True, 131072, head_dim=64
    ),
}


def preset(name: str) -> ModelShape:
    try:
        return PRESETS[name.lower()]
    except KeyError:
        raise UserError(f"unknown preset {name!r}; known presets: {', '.join(PRESETS)}") from None


def shape_from_config(cfg: dict[str, Any], name: str = "model") -> ModelShape:
    """A :class:`ModelShape` from an HF ``config.json`` dict (GPT-2, GPT-NeoX, Llama families)."""
    mt = str(cfg.get("model_type", "")).lower()
    try:
        if mt == "gpt2":
            h = cfg["n_embd"]
            return ModelShape(name, "gpt2", h, cfg["n_layer"], cfg["n_head"], cfg["n_head"],
                              cfg.get("n_inner") or 4 * h, cfg["vocab_size"],
                              cfg.get("tie_word_embeddings", True), cfg.get("n_positions", 1024))
        if mt == "gpt_neox":
            h, heads = cfg["hidden_size"], cfg["num_attention_heads"]
            pct = cfg.get("rotary_pct", cfg.get("partial_rotary_factor", 1.0))
            return ModelShape(name, "gpt_neox", h, cfg["num_hidden_layers"], heads, heads,
                              cfg["intermediate_size"], cfg["vocab_size"],
                              cfg.get("tie_word_embeddings", False),
                              cfg.get("max_position_embeddings", 2048),
                              rotary_dim=int(h // heads * pct))
        if mt in ("llama", "mistral", "qwen2"):
            heads = cfg["num_attention_heads"]
            return ModelShape(name, "llama", cfg["hidden_size"], cfg["num_hidden_layers"], heads,
                              cfg.get("num_key_value_heads") or heads, cfg["intermediate_size"],
                              cfg["vocab_size"], cfg.get("tie_word_embeddings", False),
                              cfg.get("max_position_embeddings", 2048), cfg.get("head_dim"))
    except KeyError as e:
        raise UserError(f"config of {name!r} ({mt}) lacks field {e}; is it a complete config.json?") from None
    raise UserError(f"model_type {mt!r} of {name!r} not supported; use gpt2, gpt_neox or llama configs")


def load_shape(path: str | Path) -> ModelShape:
    """Read ``config.json`` (or a model folder holding one) into a :class:`ModelShape`."""
    p = Path(path)
    f = p / "config.json" if p.is_dir() else p
    if not f.is_file():
        raise UserError(f"{path}: no config.json found; pass an HF model folder or its config.json")
    try:
        cfg = json.loads(f.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise UserError(f"{f}: not valid JSON ({e})") from None
    if not isinstance(cfg, dict):
        raise UserError(f"{f}: expected a JSON object")
    return shape_from_config(cfg, name=(p if p.is_dir() else p.parent).name or "model")


# ---- stages ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Stage:
    """One dataflow stage kind; ``count`` identical copies (one per transformer layer).

    ``kind`` is an IR op kind (linear, attention, layernorm, act, eltwise, embedding). Linear:
    ``n`` outputs x ``k`` inputs. Attention: ``heads``/``kv_heads``/``head_dim``. Pointwise kinds:
    ``n`` channels; ``const_elems`` counts a stored per-position operand (rotary tables, GPT-2's
    position embedding), read one row per token.
    """

    name: str
    kind: str
    n: int = 0
    k: int = 0
    bias: bool = False
    heads: int = 0
    kv_heads: int = 0
    head_dim: int = 0
    count: int = 1
    layered: bool = False  # part of the repeated transformer block
    table_rows: int = 0  # embedding: vocabulary rows stored
    const_elems: int = 0  # per-token elements of a stored constant operand

    @property
    def weight_elems(self) -> int:
        if self.kind == "linear":
            return self.n * self.k + (self.n if self.bias else 0)
        if self.kind == "embedding":
            return self.table_rows * self.n
        if self.kind == "layernorm":  # gain (+ bias for LayerNorm)
            return self.n * (2 if self.bias else 1)
        return 0

    def weight_bytes(self, scheme: Scheme) -> int:
        """Bytes stored for this stage (one copy). Embedding tables are stored at act bits."""
        if self.kind == "linear":
            return scheme.linear_weight_bytes(self.n, self.k, self.bias)
        if self.kind == "embedding":
            return -(-self.table_rows * self.n * scheme.act_bits // 8)
        if self.kind == "layernorm":
            return self.weight_elems * NORM_PARAM_BITS // 8
        return 0


@dataclass(frozen=True)
class Work:
    """What one pass of a stage does (one copy, ``tokens`` new tokens, ``context`` cached)."""

    macs: int = 0
    weight_bytes: int = 0  # bytes of weights/tables read by this pass
    act_bytes: int = 0  # activation bytes in + out (on-chip streams)
    kv_read_bytes: int = 0
    kv_write_bytes: int = 0
    nonlinear: int = 0  # table evaluations (exp, gelu, silu, rsqrt...)


@lru_cache(maxsize=1 << 16)  # pure in hashable arguments; the exploration repeats them
def stage_work(stage: Stage, scheme: Scheme, tokens: int, context: int = 0) -> Work:
    """Work of one pass over ``tokens`` new tokens after ``context`` cached ones.

    Weights are read once per pass (a pass keeps its tokens on chip and reuses each weight across
    them); an embedding pass reads one row per token. Attention is causal: token ``i`` of the pass
    attends to ``context + i + 1`` keys; K/V of new tokens are written to the cache and the cached
    ones are read.
    """
    ab = scheme.act_bits
    act = lambda elems: -(-elems * ab // 8)  # noqa: E731
    if stage.kind == "linear":
        return Work(macs=tokens * stage.n * stage.k, weight_bytes=stage.weight_bytes(scheme),
                    act_bytes=act(tokens * (stage.n + stage.k)))
    if stage.kind == "embedding":
        return Work(weight_bytes=act(tokens * stage.n), act_bytes=act(tokens * stage.n))
    if stage.kind == "attention":
        hq, hk, d = stage.heads, stage.kv_heads, stage.head_dim
        pairs = tokens * context + tokens * (tokens + 1) // 2  # (query, key) pairs, causal
        kv_token = -(-2 * hk * d * scheme.kv // 8)
        return Work(macs=2 * hq * d * pairs, act_bytes=act(tokens * (2 * hq + 2 * hk) * d),
                    kv_read_bytes=context * kv_token, kv_write_bytes=tokens * kv_token,
                    nonlinear=hq * pairs + hq * tokens)
    nonlin = {"layernorm": 1, "act": stage.n}.get(stage.kind, 0)
    macs = {"layernorm": 2 * stage.n}.get(stage.kind, 0)
    if stage.kind == "eltwise" and stage.const_elems:
        macs = stage.n  # multiply by a stored constant (rotary tables)
    wbytes = act(tokens * stage.const_elems) + stage.weight_bytes(scheme)
    return Work(macs=tokens * macs, weight_bytes=wbytes,
                act_bytes=act(tokens * 2 * stage.n), nonlinear=tokens * nonlin)


def stages_from_shape(shape: ModelShape, scheme: Scheme) -> list[Stage]:
    """The stage list of a decoder (block stages carry ``count = layers``), in dataflow order.

    It mirrors what the frontend builds: fused QKV for GPT-2/NeoX, separate q/k/v + rotary for
    Llama, two residual adds per block, and an untied or tied (separately stored) LM head.
    """
    del scheme  # the stage list does not depend on bits; bytes are computed per scheme later
    h, L, d = shape.hidden, shape.layers, shape.d
    hq, hk = shape.heads, shape.kv_heads
    b = shape.has_bias
    blk = dict(count=L, layered=True)
    st: list[Stage] = [Stage("embed", "embedding", n=h, table_rows=shape.vocab)]
    if shape.family == "gpt2":
        st.append(Stage("pos_embed", "eltwise", n=h, const_elems=h))
    st.append(Stage("ln1", "layernorm", n=h, bias=b, **blk))
    if shape.family == "llama":
        st += [Stage("q", "linear", n=hq * d, k=h, **blk), Stage("k", "linear", n=hk * d, k=h, **blk),
               Stage("v", "linear", n=hk * d, k=h, **blk)]
        st += _rotary(hq * d, hk * d, blk)
    else:
        st.append(Stage("qkv", "linear", n=(hq + 2 * hk) * d, k=h, bias=b, **blk))
        if shape.family == "gpt_neox":
            r = (shape.rotary_dim or d) * hq
            st += _rotary(r, r, blk)
    st.append(Stage("attn", "attention", n=hq * d, heads=hq, kv_heads=hk, head_dim=d, **blk))
    st.append(Stage("o", "linear", n=h, k=hq * d, bias=b, **blk))
    st.append(Stage("res1", "eltwise", n=h, **blk))
    st.append(Stage("ln2", "layernorm", n=h, bias=b, **blk))
    if shape.gated:
        st += [Stage("gate", "linear", n=shape.ffn, k=h, **blk),
               Stage("up", "linear", n=shape.ffn, k=h, **blk),
               Stage("act", "act", n=shape.ffn, **blk), Stage("mul", "eltwise", n=shape.ffn, **blk)]
    else:
        st += [Stage("fc1", "linear", n=shape.ffn, k=h, bias=b, **blk),
               Stage("act", "act", n=shape.ffn, **blk)]
    st.append(Stage("fc2", "linear", n=h, k=shape.ffn, bias=b, **blk))
    st.append(Stage("res2", "eltwise", n=h, **blk))
    st.append(Stage("ln_f", "layernorm", n=h, bias=b))
    st.append(Stage("lm_head", "linear", n=shape.vocab, k=h))
    return st


def _rotary(q_ch: int, k_ch: int, blk: dict[str, Any]) -> list[Stage]:
    """Rotary embedding: x*cos + rot(x)*sin for q and k (two const multiplies and an add each)."""
    out = []
    for name, ch in (("q", q_ch), ("k", k_ch)):
        out += [Stage(f"rope_{name}_cos", "eltwise", n=ch, const_elems=ch, **blk),
                Stage(f"rope_{name}_sin", "eltwise", n=ch, const_elems=ch, **blk),
                Stage(f"rope_{name}_add", "eltwise", n=ch, **blk)]
    return out


def stages_from_graph(graph: "Graph") -> list[Stage]:
    """Stages of a compiled IR graph; nodes of identical layers merge into one ``count``-ed stage.

    Nodes are grouped by their name with the layer index replaced (``h_3_attn`` -> ``h_N_attn``);
    a group merges only if every member has the same shape signature, otherwise they stay apart.
    ``route`` nodes (pure channel moves, no arithmetic) are skipped.
    """
    groups: dict[str, list[Stage]] = {}
    for node in graph.topo_nodes():
        if node.op == "route":
            continue
        groups.setdefault(stage_key(node), []).append(_stage_of_node(node, graph))
    stages: list[Stage] = []
    for key, members in groups.items():
        first = replace(members[0], name=key)
        if all(replace(m, name=key) == first for m in members):
            stages.append(replace(first, count=len(members)))
        else:
            stages += members
    return stages


def stage_key(node: Any) -> str:
    """The stage name of ``node`` in :func:`stages_from_graph`: its name with the layer index
    replaced by ``N`` (``h_3_attn`` -> ``h_N_attn``), so the nodes of identical layers share it."""
    if node.layer is None:
        return node.name
    return re.sub(rf"(^|_){node.layer}(_|$)", r"\1N\2", node.name, count=1)


def stage_of_node(node: Any, graph: "Graph") -> Stage:
    """The :class:`Stage` of one IR node; a route is kind ``route`` with ``k`` = input elements
    and ``n`` = its widest output per token (``k = 0`` for a fork: no row buffer)."""
    if node.op != "route":
        return _stage_of_node(node, graph)
    row = lambda t: int(graph.tensors[t].type.shape[-1])  # noqa: E731
    fork = len(node.inputs) == 1 and all(graph.tensors[o].type == graph.tensors[node.inputs[0]].type
                                         for o in node.outputs) and bool(node.attrs.get("fork"))
    return Stage(node.name, "route", n=max(row(t) for t in node.outputs),
                 k=0 if fork else sum(row(t) for t in node.inputs), layered=node.layer is not None)


def _stage_of_node(node: Any, graph: "Graph") -> Stage:
    layered = node.layer is not None
    out_shape = graph.tensors[node.outputs[0]].type.shape
    ch = int(out_shape[-1]) if len(out_shape) > 1 else 0
    if node.op == "linear":
        n, k = node.param("weight").shape
        return Stage(node.name, "linear", n=int(n), k=int(k), bias="bias" in node.params,
                     layered=layered)
    if node.op == "embedding":
        v, c = node.param("weight").shape
        return Stage(node.name, "embedding", n=int(c), table_rows=int(v), layered=layered)
    if node.op == "attention":
        a = node.attrs
        return Stage(node.name, "attention", n=a["heads"] * a["head_dim"], heads=a["heads"],
                     kv_heads=a["kv_heads"], head_dim=a["head_dim"], layered=layered)
    if node.op == "layernorm":
        return Stage(node.name, "layernorm", n=ch, bias="bias" in node.params, layered=layered)
    const = 0
    if "const" in node.params and node.param("const").ndim == 2:
        const = int(node.param("const").shape[-1])  # a per-position table: one row per token
    return Stage(node.name, node.op, n=ch, layered=layered, const_elems=const)


def totals(stages: Iterable[Stage], scheme: Scheme, tokens: int, context: int = 0) -> dict[str, int]:
    """Whole-model sums of :func:`stage_work` (every copy of every stage) for one pass."""
    out: dict[str, int] = {f: 0 for f in Work.__dataclass_fields__}
    out.update(linear_macs=0, attention_macs=0, linear_weight_bytes=0, linear_weight_elems=0)
    for s in stages:
        w = stage_work(s, scheme, tokens, context)
        for f in Work.__dataclass_fields__:
            out[f] += getattr(w, f) * s.count
        if s.kind == "linear":
            out["linear_macs"] += w.macs * s.count
            out["linear_weight_bytes"] += w.weight_bytes * s.count
            out["linear_weight_elems"] += s.weight_elems * s.count
        elif s.kind == "attention":
            out["attention_macs"] += w.macs * s.count
    return out


@dataclass
class Workload:
    """A model's stages with where they came from (for reports)."""

    name: str
    stages: list[Stage]
    layers: int
    source: str = "config"  # config | preset | graph
    shape: ModelShape | None = field(default=None, repr=False)
