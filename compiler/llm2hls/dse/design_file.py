"""A chosen design as a file: ``llm2hls explore --save-design`` writes it, ``compile --design`` applies it.

The file (JSON, ``format = llm2hls-design/1``) holds what the exploration decided and the figures
the model gave it: the model's shape and scheme, the board, the stream width, block engines,
memory channels, KV-cache placement, and per workload stage (``perf.workload.Stage``, with its
shape) the lanes and the layer copies whose weights are on chip.

The exploration works on the stages of a model *shape* (``stages_from_shape``: ``qkv``, ``fc1``,
...), which is what makes it take seconds for a 1B-parameter config; the compiler works on IR
nodes (``h_3_mlp_c_fc``). :meth:`SavedDesign.resolve` joins the two by walking both in dataflow
order and matching stages by kind and shape: every linear, attention and embedding stage of the
compiled graph must find its stage in the design (a fused Q/K/V or gate/up linear matches a run of
design linears with the same input size whose outputs add up), else the design was made for
another model and compilation stops with a one-line error. What the backends cannot realize is
said in ``notes`` (and in the project's report), never silently dropped.
"""

from __future__ import annotations

import json
import re
import tempfile
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import UserError
from ..ops.attention import keys_per_cycle
from ..perf.workload import Scheme, Stage, stage_key, stages_from_graph

if TYPE_CHECKING:
    from ..ir.graph import Graph
    from . import Exploration

FORMAT = "llm2hls-design/1"
MATCHED_KINDS = ("linear", "attention", "embedding")
"""Kinds that must find their stage in the design (they carry the weights and the MACs)."""
KV_ONCHIP_ANY = 1 << 40
"""``kv_onchip_max_bytes`` that keeps every KV cache on chip when the design says so."""
_STAGE_FIELDS = tuple(f.name for f in fields(Stage))


# ---- writing ----------------------------------------------------------------------------------
def design_document(ex: "Exploration", stages: list[Stage], scheme: Scheme, target: Any, op: Any,
                    eta: float, model: str, shape: dict[str, Any] | None = None) -> dict[str, Any]:
    """The JSON document of the exploration's best design (see the module docstring)."""
    from ..perf.model import MemoryModel, stage_stream

    best, d = ex.best, ex.best.design
    rows = []
    for s in stages:
        on = d.onchip.get(s.name, 0)
        has_weights = bool(s.weight_bytes(scheme) or s.const_elems)
        rows.append({
            **asdict(s), "lanes": d.lanes.get(s.name, 1), "onchip_copies": on,
            "placement": None if not has_weights else "onchip" if on == s.count else "offchip" if on == 0 else "partial",
            # the channels the model gives the stage's stream: a streamed linear weight the ports
            # of its packing, an off-chip KV cache P ports, other weights all (perf.model.stage_stream)
            "channels": list(range(stage_stream(d, s, scheme, MemoryModel(d.channels, 1.0, 1.0, 0))[0].channels))
            if (has_weights and on < s.count) or (s.kind == "attention" and not d.kv_onchip) else [],
        })
    return {
        "format": FORMAT,
        "model": model, "shape": shape,
        "target": target.name, "clock_mhz": target.clock_mhz, "memory": target.memory.kind,
        "scheme": scheme.name, "eta": eta, "objective": ex.objective,
        "operating": {"prompt": op.prompt, "generate": op.generate, "decode_context": op.decode_context},
        "stream_width": d.stream_width, "engines": best.engines, "replicate": d.replicate,
        "channels": d.channels, "kv_onchip": d.kv_onchip, "prefill_tile": d.prefill_tile,
        "linear_lanes": best.linear_lanes, "attention_lanes": best.attention_lanes,
        "stages": rows, "placement": list(d.reasons),
        "figures": {k: v for k, v in best.summary().items()
                    if k not in ("channels", "replicate", "engines", "kv_onchip", "stream_width")},
    }


def write_design(doc: dict[str, Any], path: str | Path) -> Path:
    """Write ``doc`` to ``path`` atomically (a temporary file renamed over it)."""
    path = Path(path)
    if path.parent and not path.parent.is_dir():
        raise UserError(f"--save-design {path}: folder {path.parent} does not exist; create it first")
    with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False, suffix=".tmp") as f:
        f.write(json.dumps(doc, indent=1) + "\n")
    Path(f.name).replace(path)
    return path


# ---- reading ----------------------------------------------------------------------------------
@dataclass
class Plan:
    """A design resolved against one compiled graph (IR node names)."""

    lanes: dict[str, int] = field(default_factory=dict)  # linear node -> lanes (parallelize)
    placement: dict[str, str] = field(default_factory=dict)  # node with a weight matrix -> onchip|offchip
    stage_of: dict[str, list[str]] = field(default_factory=dict)  # IR stage key -> design stage names
    ports: dict[str, int] = field(default_factory=dict)  # off-chip weight's node -> memory channels it is striped over
    notes: list[str] = field(default_factory=list)


@dataclass
class SavedDesign:
    """A design file, checked; :meth:`apply` puts it into a graph during compilation."""

    doc: dict[str, Any]
    path: str = "design"

    @property
    def stream_width(self) -> int:
        return int(self.doc["stream_width"])

    @property
    def engine(self) -> bool:
        """One reused block engine (``compile --engine``); otherwise a spatial design."""
        return not self.doc["replicate"]

    @property
    def scheme(self) -> Scheme:
        return Scheme.parse(self.doc["scheme"])

    @property
    def quant(self) -> str:
        """The ``--quant`` scheme name of the design (``wXaY``)."""
        s = self.scheme
        return f"w{s.weight_bits}a{s.act_bits}"

    @property
    def group_size(self) -> int:
        """``--group-size`` of the design: 0 = one scale per output channel (the model's ``wXaY``)."""
        return self.scheme.group_size or 0

    @property
    def kv_onchip_max_bytes(self) -> int:
        return KV_ONCHIP_ANY if self.doc["kv_onchip"] else 0

    def stages(self) -> list[tuple[Stage, dict[str, Any]]]:
        return [(Stage(**{k: r[k] for k in _STAGE_FIELDS if k in r}), r) for r in self.doc["stages"]]

    def check_options(self, given: dict[str, Any]) -> None:
        """Refuse command-line options that contradict the design (``given``: the ones set)."""
        wanted = {"quant": self.quant, "group_size": self.group_size, "stream_width": self.stream_width,
                  "engine": self.engine}
        for key, value in given.items():
            if key in wanted and value != wanted[key]:
                flag = "--" + key.replace("_", "-")
                raise UserError(f"{flag} {value} contradicts design {self.path} ({wanted[key]}); drop {flag}")

    def resolve(self, graph: "Graph") -> Plan:
        """Match the design's stages to ``graph``'s IR nodes (module docstring); UserError if the
        design was made for another model."""
        plan = Plan()
        ds = self.stages()
        gs = [s for s in stages_from_graph(graph) if s.kind in MATCHED_KINDS]
        j = 0
        for g in gs:
            run = _match(g, ds, j)
            if run is None:
                raise UserError(f"design {self.path} was made for {self.doc['model']} "
                                f"({_describe(d for d, _ in ds)}); this model has {_describe(gs)}: "
                                f"no stage of the design matches {g.name} ({_shape(g)}); "
                                f"run `llm2hls explore` on this model")
            plan.stage_of[g.name] = [ds[i][0].name for i in run]
            j = run[-1] + 1
        used = {n for names in plan.stage_of.values() for n in names}
        missing = [d.name for d, _ in ds if d.kind in MATCHED_KINDS and d.name not in used]
        if missing:
            raise UserError(f"design {self.path} was made for {self.doc['model']}: its stages "
                            f"{', '.join(missing)} have no counterpart in this model ({_describe(gs)}); "
                            "run `llm2hls explore` on this model")
        rows = {d.name: r for d, r in ds}
        for node in graph.topo_nodes():
            names = plan.stage_of.get(stage_key(node))
            if not names:
                continue
            if node.op == "linear":  # MACs per cycle; a GLU lane does a gate and an up row
                macs = sum(int(rows[n]["lanes"]) for n in names)
                plan.lanes[node.name] = max(1, macs // 2) if node.attrs.get("glu") else macs
            elif node.op == "attention":  # MACs per cycle; parallelize makes them keys per cycle
                plan.lanes[node.name] = int(rows[names[0]]["lanes"])
            if "weight" in node.params:
                plan.placement[node.name] = self._placement(node, [rows[n] for n in names])
                if plan.placement[node.name] == "offchip":  # rows without a list: all the design's channels
                    plan.ports[node.name] = min(len(rows[n]["channels"]) or int(self.doc["channels"]) for n in names)
        plan.notes += self._notes(rows)
        return plan

    def _placement(self, node: Any, rows: list[dict[str, Any]]) -> str:
        """On chip if the design keeps this copy's weights on chip (an engine: every copy)."""
        row = rows[0]
        copies, count = int(row["onchip_copies"]), int(row["count"])
        if self.engine or node.layer is None:
            return "onchip" if copies >= count else "offchip"
        return "onchip" if node.layer < copies else "offchip"

    def _notes(self, rows: dict[str, dict[str, Any]]) -> list[str]:
        """What the backends do not realize of this design (said in the project's report)."""
        notes = []
        others = sorted({f"{r['kind']} {r['lanes']}" for r in rows.values()
                         if r["kind"] not in ("linear", "attention", "route") and r["lanes"] > 1})
        if others:
            notes.append("lanes of pointwise and row-wise stages (" + ", ".join(others) + ") are not applied: "
                         "they take one stream beat per cycle")
        cut = sorted({f"{r['lanes']} -> {keys_per_cycle(int(r['lanes']), int(r['head_dim'])) * int(r['head_dim'])}"
                      for r in rows.values() if r["kind"] == "attention" and r["lanes"] % max(1, int(r["head_dim"]))})
        if cut:
            notes.append("attention MACs cut to whole keys per cycle (a multiple of head_dim): " + ", ".join(cut))
        if self.engine and any(r["placement"] == "partial" for r in rows.values()):
            notes.append("layer weights partly on chip in the design: a block engine stacks every layer's "
                         "weights in one array, so those stages are off chip")
        if self.engine and self.doc["kv_onchip"]:
            notes.append("KV cache on chip in the design: a decoding block engine keeps its [layers][T][row] "
                         "caches off chip")
        if 1 < self.doc["engines"] < max((r["count"] for r in rows.values()), default=1):
            notes.append(f"{self.doc['engines']} block engines: the HLS backend emits one engine or one per layer")
        return notes

    def apply(self, graph: "Graph") -> "Graph":
        """Lanes per node (passes/parallelize.py) and the design's placement, channels and notes in
        ``graph.meta['design']`` (read by the HLS emitter and by ``llm2hls report``)."""
        from ..passes.parallelize import parallelize
        from ..targets import get_target

        self._check_quant(graph)
        plan = self.resolve(graph)
        g, _ = parallelize(graph, overrides=plan.lanes, width=self.stream_width)
        short = sorted({f"{n} {plan.lanes[n]} -> {g.nodes[n].lanes}" for n in plan.lanes
                        if g.nodes[n].op == "linear" and g.nodes[n].lanes < plan.lanes[n]
                        and g.nodes[n].layer in (None, 0)})
        if short:
            plan.notes.append("linear lanes cut so that lane groups are full (a divisor of the output "
                              "channels, inputs per cycle within one input beat): " + ", ".join(short))
        capped = sorted({f"{n} {g.nodes[n].lanes}" for n in plan.lanes if g.nodes[n].op == "attention"
                         and g.nodes[n].lanes < keys_per_cycle(plan.lanes[n], g.nodes[n].attrs["head_dim"])
                         and g.nodes[n].layer in (None, 0)})
        if capped:  # passes/parallelize.py: no more keys per cycle than the stage has keys
            plan.notes.append("attention keys per cycle cut to the captured sequence length: " + ", ".join(capped))
        port_bits = get_target(self.doc["target"]).port_bits
        g.meta["design"] = {
            "file": Path(self.path).name, "model": self.doc["model"], "target": self.doc["target"],
            "memory": self.doc["memory"], "bank": bank_name(self.doc["memory"], port_bits),
            "scheme": self.doc["scheme"], "stream_width": self.stream_width,
            "engines": self.doc["engines"], "channels": self.doc["channels"], "kv_onchip": self.doc["kv_onchip"],
            "weight_placement": plan.placement, "weight_ports": plan.ports, "stages": plan.stage_of,
            "notes": plan.notes,
            "operating": self.doc["operating"], "figures": self.doc["figures"],
        }
        return g

    def _check_quant(self, graph: "Graph") -> None:
        q = graph.meta.get("quant", {})
        s = self.scheme
        got = (q.get("weight_bits"), q.get("in_bits") or q.get("act_bits"), q.get("group_size") or 0)
        if got != (s.weight_bits, s.act_bits, s.group_size or 0):
            raise UserError(f"design {self.path} is for scheme {s.name} but the model is quantized as "
                            f"{q.get('scheme', 'float')}; compile with --quant {self.quant} --group-size {self.group_size}")


def explicit_options(ctx: Any) -> dict[str, Any]:
    """The options of a click command context that the user set on the command line and a design
    also decides (for :meth:`SavedDesign.check_options`)."""
    from click.core import ParameterSource

    return {k: ctx.params[k] for k in ("quant", "group_size", "stream_width", "engine")
            if k in ctx.params and ctx.get_parameter_source(k) == ParameterSource.COMMANDLINE}


def read_design(path: str | Path) -> SavedDesign:
    """Load and check a design file written by ``llm2hls explore --save-design``."""
    p = Path(path)
    try:
        doc = json.loads(p.read_text())
    except OSError as e:
        raise UserError(f"--design {p}: cannot read it ({e.strerror})") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise UserError(f"--design {p}: not valid JSON ({e}); write it with llm2hls explore --save-design") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise UserError(f"--design {p}: not a {FORMAT} file; write it with llm2hls explore --save-design")
    need = ("model", "scheme", "stream_width", "replicate", "engines", "channels", "kv_onchip", "stages", "memory")
    lacking = [k for k in need if k not in doc]
    if lacking:
        raise UserError(f"--design {p}: lacks {', '.join(lacking)}; write it again with llm2hls explore --save-design")
    Scheme.parse(doc["scheme"])
    return SavedDesign(doc, str(p))


# ---- matching ---------------------------------------------------------------------------------
def _same(g: Stage, d: Stage) -> bool:
    if g.kind != d.kind or g.layered != d.layered or g.count != d.count:
        return False
    if g.kind == "linear":
        return (g.n, g.k) == (d.n, d.k)
    if g.kind == "attention":
        return (g.heads, g.kv_heads, g.head_dim) == (d.heads, d.kv_heads, d.head_dim)
    if g.kind == "embedding":
        return (g.n, g.table_rows) == (d.n, d.table_rows)
    return g.n == d.n


def _match(g: Stage, ds: list[tuple[Stage, dict[str, Any]]], start: int) -> list[int] | None:
    """Indices of the design stage(s) at or after ``start`` that ``g`` is: one of the same kind
    and shape, or (a fused linear) consecutive linears with ``g``'s input size whose outputs add
    up to ``g``'s. Stages the compiler fused away (activations, residual adds) are skipped."""
    for i in range(start, len(ds)):
        d = ds[i][0]
        if _same(g, d):
            return [i]
        if g.kind == "linear" and d.kind == "linear" and d.k == g.k and d.count == g.count:
            run, n = [], 0
            for j in range(i, len(ds)):
                dj = ds[j][0]
                if dj.kind != "linear" or dj.k != g.k or n + dj.n > g.n:
                    break
                run.append(j)
                n += dj.n
                if n == g.n and len(run) > 1:
                    return run
        if d.kind in MATCHED_KINDS and d.kind == g.kind:
            return None  # the next stage of this kind is not g: no skipping over weights
    return None


def _shape(s: Stage) -> str:
    if s.kind == "linear":
        return f"linear {s.k}->{s.n}"
    if s.kind == "attention":
        return f"attention {s.heads}x{s.head_dim} (kv {s.kv_heads})"
    if s.kind == "embedding":
        return f"embedding {s.table_rows}x{s.n}"
    return f"{s.kind} {s.n}"


def _describe(stages) -> str:
    """``24 layers, hidden 1024, vocab 50257``-style summary of a stage list."""
    st = list(stages)
    layers = max((s.count for s in st if s.layered), default=0)
    emb = next((s for s in st if s.kind == "embedding"), None)
    hidden = f", hidden {emb.n}, vocab {emb.table_rows}" if emb else ""
    return f"{layers} layers{hidden}"


# ---- memory channels of the generated project -------------------------------------------------
def bank_name(memory_kind: str, port_bits: int) -> str:
    """The Vitis ``sp=`` memory name of a target's off-chip channels."""
    if memory_kind.upper().startswith("HBM"):
        return "HBM"
    return "DDR" if port_bits >= 512 else "HP"


def parse_sp(text: str) -> list[dict[str, str]]:
    """The ``sp=`` lines of a link configuration: ``[{arg, bank}]``."""
    return [{"arg": m.group(2), "bank": m.group(3)}
            for m in re.finditer(r"^sp=([^.\s]+)\.(\S+):(\S+)$", text, flags=re.M)]
