"""The modeled board view of a compiled project: roofline, per-stage decode time, resources
against the board's budget, weight placement, accuracy; as report.json fields, markdown and a
self-contained HTML page (plots embedded as base64 PNG).

The figures come from the analytical model (docs/performance.md) applied to the design that was
generated into the project (:func:`project_design`: lanes and stream width from ir.json, weight
and KV placement and block engine from the emitted files), at the project's scheme. When the
project was compiled with ``--design``, the design file's own (explored) figures are shown beside
them, with what the backends did not realize. Nothing here is a synthesis or hardware measurement.
"""

from __future__ import annotations

import base64
import html
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..dse.design_file import parse_sp
from ..ir.graph import Graph

DEFAULT_TARGET = "U280"
"""Board of ``llm2hls report`` unless ``--target`` names another (docs/targets.md)."""

PLOTS_DIR = "plots"
PLOT_TITLES = {"roofline": "Roofline with the design's decode point",
               "stage_breakdown": "Per-stage decode time", "resources": "Resources against the board"}


def scheme_of(quant: dict[str, Any]):
    """The performance model's :class:`~llm2hls.perf.workload.Scheme` of a report's ``quant``."""
    from ..perf.workload import Scheme

    if "weight_bits" not in quant:  # float projects: model them as 16-bit words
        return Scheme(16, 16)
    return Scheme(int(quant["weight_bits"]), int(quant.get("in_bits") or quant["act_bits"]),
                  group_size=quant.get("group_size") or None)


@dataclass
class ProjectModel:
    """The generated design of a project, as the performance model sees it, and its figures."""

    stages: list[Any]
    design: Any  # perf.model.Design
    perf: Any  # perf.model.Performance
    target: Any
    scheme: Any
    op: Any
    facts: list[str]  # where each design variable was read from
    saved: dict[str, Any] | None  # graph.meta['design']: the design file it was compiled with
    connectivity: list[dict[str, str]]  # host/link.cfg sp= lines: off-chip argument -> memory bank
    weights: dict[str, "OffchipWeight"]  # off-chip weight matrices as stored (weights/*.bin)


def project_design(project: Path, graph: Graph, report: dict[str, Any]):
    """``(stages, Design, facts)`` of what ``llm2hls compile`` generated into ``project``.

    Read from the project, not explored: lanes of each linear = its IR node's ``lanes``; attention
    takes ``P`` = its IR node's ``lanes`` keys per cycle (``P x head_dim`` MACs,
    templates/hls/ops/attention.j2); every other stage one beat per cycle (lanes = its output beat);
    stream width = ``graph.meta['stream_width']`` (the model gives each stream ``gcd(W, row)`` per
    beat); weights off chip = those stored as ``weights/*.bin`` (m_axi arguments), each stage's
    weight stream modeled at ITS OWN port count and stored bytes (its ``weights/<node>_q_weight
    [_p<i>].bin`` files, :func:`offchip_weights`: padding of whole port words is read too; ports
    mapped to one memory bank by host/link.cfg count once); KV caches = report.json's ``decode``
    section, an off-chip cache at its own ``ports`` (default 1, distinct banks likewise);
    one reused block engine when only layer 0's stages were emitted; the design's channels = the
    most ports any stage uses; weights are read once per token in prefill (the stage loops run per
    token).
    """
    from ..passes.beats import beat_of
    from ..perf.model import Design
    from ..perf.workload import stage_key, stages_from_graph

    stages = stages_from_graph(graph)
    scheme = scheme_of(report.get("quant", {}))
    width = int(graph.meta.get("stream_width", 1))
    weights = offchip_weights(project, graph)
    groups: dict[str, list[Any]] = {}
    for node in graph.topo_nodes():
        if node.op != "route":
            groups.setdefault(stage_key(node), []).append(node)
    engine = _is_engine(project, graph)
    caches = (report.get("decode") or {}).get("kv_caches") or []
    kv_on = all(c["placement"] == "onchip" for c in caches)
    link = project / "host" / "link.cfg"
    banks = _banks(parse_sp(link.read_text())) if link.exists() else {}
    kv_ports = {stage_key(graph.nodes[c["stage"]]): _channels(banks, c["stage"], ("_kcache", "_vcache"),
                                                             int(c.get("ports", 1)))
                for c in caches if c["placement"] == "offchip" and c["stage"] in graph.nodes}
    lanes, onchip, channels, scale = {}, {}, {}, {}
    for s in stages:
        nodes = groups.get(s.name) or [graph.nodes[s.name]]
        n0 = nodes[0]
        if s.kind == "linear":
            lanes[s.name] = max(n.lanes for n in nodes)
        elif s.kind == "attention":  # P keys per cycle, each a head_dim-MAC dot product
            lanes[s.name] = max(n.lanes for n in nodes) * s.head_dim
        else:
            lanes[s.name] = beat_of(width, graph.tensors[n0.outputs[0]].type.shape)
        off = [n for n in nodes if n.name in weights] if not engine or s.count == 1 else (
            [n0] * s.count if n0.name in weights else [])
        onchip[s.name] = s.count - len(off)
        if off:  # the slowest copy: fewest ports (on distinct memory channels), most stored bits
            channels[s.name] = min(_channels(banks, n.name, ("_q_weight",), weights[n.name].ports) for n in off)
            bits = max(weights[n.name].bits for n in off)
            if s.kind == "linear" and bits != scheme.weight_bits:
                scale[s.name] = bits / scheme.weight_bits
        if s.name in kv_ports:
            channels[s.name] = kv_ports[s.name]
    layers = max((s.count for s in stages if s.layered), default=1)
    d = Design(lanes, onchip, channels=max(channels.values(), default=1), replicate=not engine,
               engines=1 if engine else layers, kv_onchip=kv_on, prefill_tile=1, stream_width=width,
               stage_channels=channels, weight_scale=scale)
    return stages, d, _facts(stages, d, weights, graph, scheme, caches, engine)


def _banks(sp: list[dict[str, str]]) -> dict[str, str]:
    """m_axi argument -> memory bank of host/link.cfg's ``sp=`` lines."""
    return {c["arg"]: c["bank"] for c in sp}


def _channels(banks: dict[str, str], owner: str, kinds: tuple[str, ...], ports: int) -> int:
    """Memory channels the ports of one off-chip array (``<owner><kind>[_p<i>]`` arguments) reach:
    the distinct banks host/link.cfg maps them to (ports sharing a channel share its bandwidth);
    ``ports`` when the project has no link configuration. The fewest over ``kinds`` (K and V
    caches are read in turn)."""
    per_kind = [{b for arg, b in banks.items() if re.fullmatch(re.escape(owner + k) + r"(_p\d+)?", arg)}
                for k in kinds]
    found = [len(b) for b in per_kind if b]
    return min(min(found), ports) if found else ports


def _facts(stages, d, weights, graph: Graph, scheme, caches, engine: bool) -> list[str]:
    """The assumptions of :func:`project_design`, one line each, for the report."""
    n_off = sum(s.count - d.onchip[s.name] for s in stages)
    linear = [s for s in stages if s.kind == "linear" and s.name in d.stage_channels]
    ports = ", ".join(f"{s.name} {d.stage_channels[s.name]}" for s in linear) or "none"
    attn = [s for s in stages if s.kind == "attention"]
    keys = sorted({d.lanes[s.name] // max(1, s.head_dim) for s in attn})
    facts = [
        f"stream width {d.stream_width} (ir.json); a stream of rows of C elements carries gcd({d.stream_width}, C) per beat",
        "lanes: each linear stage's IR lanes; attention "
        + ("/".join(map(str, keys)) if keys else "no") + " key(s) per cycle (IR lanes; head_dim MACs each, "
        "2 ceil(keys / P) cycles per head for scores and weighted sum); other stages one beat per cycle",
        f"{'one reused block engine' if engine else 'spatial: one copy of every stage per layer'}",
        f"{n_off} weight matrices (layer copies) off chip (weights/*.bin, one m_axi port per file); each "
        f"stage's weight stream is modeled at the bandwidth of its own ports' distinct memory channels "
        f"(host/link.cfg; stages run one after another, each may use all its channels): {ports}",
    ]
    for s in linear:
        if s.name in d.weight_scale:
            facts.append(f"{s.name}: {scheme.weight_bits}-bit weights stored in {d.weight_scale[s.name] * scheme.weight_bits:g} "
                         f"bits each (weights/*.bin sizes: zero padding of whole port words), so its stream moves "
                         f"{d.weight_scale[s.name]:g}x the bytes the scheme counts (modeled)")
    if linear and not any(s.name in d.weight_scale for s in linear):
        facts.append("off-chip linear weights stored at the scheme's bits (weights/*.bin sizes): packed, the "
                     "streams move the bytes the scheme counts")
    if not caches:
        facts.append(f"KV cache {'on chip' if d.kv_onchip else 'off chip'} (no decode caches in this project)")
    elif d.kv_onchip:
        facts.append(f"KV cache on chip ({len(caches)} cache(s), report.json)")
    else:
        kv = sorted({d.stage_channels.get(s.name, 1) for s in attn})
        facts.append(f"KV cache off chip ({len(caches)} cache(s), report.json): striped over m_axi ports "
                     "(decode.kv_caches[*].ports, 1 if absent) on "
                     f"{'/'.join(map(str, kv))} distinct memory channel(s) (host/link.cfg), its traffic "
                     "modeled at that many channels' bandwidth")
    facts.append("prefill reads every weight once per token (tile 1)")
    return facts


@dataclass(frozen=True)
class OffchipWeight:
    """One off-chip weight matrix as the project stores it: m_axi ports (files) and bytes."""

    ports: int
    nbytes: int
    elements: int  # weights in its files (every layer's, for a block engine's stacked array)

    @property
    def bits(self) -> float:
        """Stored bits per weight (4.0 for packed 4-bit weights, 8.0 for one per int8_t)."""
        return 8 * self.nbytes / self.elements


_WEIGHT_FILE = re.compile(r"^(?P<node>.+)_q_weight(?:_p(?P<port>\d+))?\.bin$")


def offchip_weights(project: Path, graph: Graph) -> dict[str, OffchipWeight]:
    """Per node with an off-chip ``q_weight``: its ports and stored size, read from the project's
    ``weights/<node>_q_weight.bin`` (one port) or ``weights/<node>_q_weight_p<i>.bin`` files
    (striped, backends/hls/offchip.py). A block engine's file holds every layer's weights."""
    files: dict[str, list[Path]] = {}
    for f in sorted((project / "weights").glob("*.bin")):
        m = _WEIGHT_FILE.match(f.name)
        if m and m.group("node") in graph.nodes:
            files.setdefault(m.group("node"), []).append(f)
    engine = _is_engine(project, graph)
    layers = len({n.layer for n in graph.nodes.values() if n.layer is not None})
    out = {}
    for name, paths in files.items():
        node = graph.nodes[name]
        copies = layers if engine and node.layer is not None else 1
        out[name] = OffchipWeight(len(paths), sum(p.stat().st_size for p in paths),
                                  int(node.params["q_weight"].data.size) * copies)
    return out


def _is_engine(project: Path, graph: Graph) -> bool:
    """A block-engine project emits parameters for layer 0's stages only (stacked per layer)."""
    later = [n.name for n in graph.nodes.values() if n.layer and any(k.startswith("q_") for k in n.params)]
    first = [n.name for n in graph.nodes.values() if n.layer == 0 and any(k.startswith("q_") for k in n.params)]
    emitted = lambda name: (project / "weights" / f"{name}.h").exists()  # noqa: E731
    return bool(later) and any(map(emitted, first)) and not any(map(emitted, later))


def model_project(project: Path, graph: Graph, report: dict[str, Any],
                  target_name: str = DEFAULT_TARGET) -> ProjectModel:
    """Model the design generated into ``project`` (:func:`project_design`) on a board.

    The operating point is the design file's when the project was compiled with one and it fits
    the compiled window, else a prompt of the compiled sequence length followed by as many tokens.
    """
    from ..perf import Operating
    from ..perf.model import evaluate
    from ..targets import get_target

    target = get_target(target_name)
    scheme = scheme_of(report.get("quant", {}))
    tokens = int(graph.tensors[graph.inputs[0]].type.shape[0])
    saved = graph.meta.get("design")
    o = (saved or {}).get("operating") or {}
    fits = o and o["prompt"] + o["generate"] <= tokens
    op = Operating(o["prompt"], o["generate"]) if fits else Operating(prompt=tokens, generate=tokens)
    stages, design, facts = project_design(project, graph, report)
    if design.channels > target.memory.channels:  # more ports than the board has channels
        facts.append(f"{design.channels} ports per weight share the board's {target.memory.channels} channels")
        design.channels = target.memory.channels
    perf = evaluate(stages, design, scheme, target, op)
    link = project / "host" / "link.cfg"
    sp = parse_sp(link.read_text()) if link.exists() else []
    return ProjectModel(stages, design, perf, target, scheme, op, facts, saved, sp, offchip_weights(project, graph))


def performance_json(m: ProjectModel) -> dict[str, Any]:
    """report.json's ``performance`` section: the generated design's modeled figures and why."""
    p, d, target = m.perf, m.design, m.target
    budget = target.budget()
    linear = [d.lanes[s.name] for s in m.stages if s.kind == "linear"]
    return {
        "target": target.name, "part": target.part, "clock_mhz": target.clock_mhz, "scheme": m.scheme.name,
        "operating": {"prompt": m.op.prompt, "generate": m.op.generate, "decode_context": m.op.decode_context},
        "decode_tps": p.decode_tps, "ttft_ms": p.ttft_s * 1e3, "power_w": p.power_w, "tokens_per_j": p.tokens_per_j,
        # no off-chip traffic: no bandwidth roofline (JSON null, "n/a" in the text)
        "roofline_tps": p.roofline_tps if p.offchip_bytes_per_token else None,
        "fraction_of_roofline": p.fraction_of_roofline if p.offchip_bytes_per_token else None,
        "offchip_bytes_per_token": p.offchip_bytes_per_token,
        "engines": 1 if not d.replicate else d.engines, "channels": d.channels,
        "linear_lanes": max(linear, default=0), "stream_width": d.stream_width,
        "modeled_from": m.facts,
        "design_file": _design_file_json(m.saved),
        "connectivity": m.connectivity,
        "offchip_weights": {name: {"ports": w.ports, "bytes": w.nbytes, "bits": w.bits}
                            for name, w in m.weights.items()},
        "offchip_weight_bytes": sum(w.nbytes for w in m.weights.values()),
        "resources": {k: {"used": p.resources[k], "budget": budget[k], "device": getattr(target, k)}
                      for k in p.resources},
        "fits": p.fits, "placement": list(d.reasons) or _placement_lines(m),
        "stages_decode": [{"stage": s.name, "count": s.count, "cycles": s.total, "bound": s.bound}
                          for s in sorted(p.stages_decode, key=lambda s: -s.total)],
    }


def _placement_lines(m: ProjectModel) -> list[str]:
    """What went where in the generated project, and why."""
    why = ("the design file placed it" if m.saved else
           "above the HLS backend's off-chip threshold (65,536 elements)")
    out = []
    for s in m.stages:
        size = s.weight_bytes(m.scheme) * s.count
        if not size or s.kind not in ("linear", "embedding"):
            continue
        on = m.design.onchip.get(s.name, 0)
        where = "on chip" if on == s.count else "off chip (m_axi)" if on == 0 else f"{on}/{s.count} copies on chip"
        out.append(f"{s.name}: {size / 1e6:.2f} MB {where}" + ("" if on == s.count else f" ({why})"))
    out.append(f"KV cache: {'on chip' if m.design.kv_onchip else 'off chip (m_axi)'}")
    return out


def _design_file_json(saved: dict[str, Any] | None) -> dict[str, Any] | None:
    if not saved:
        return None
    keep = ("file", "model", "target", "scheme", "stream_width", "engines", "channels", "kv_onchip", "notes")
    return {**{k: saved.get(k) for k in keep}, "figures": saved.get("figures")}


def markdown_sections(report: dict[str, Any], plots: dict[str, str] | None = None) -> list[str]:
    """Markdown lines of the modeled-performance, accuracy and placement sections."""
    lines: list[str] = []
    perf = report.get("performance")
    if perf:
        f = perf["target"]
        lines += [
            "", f"## Modeled on {f} ({perf['part']}, {perf['clock_mhz']:.0f} MHz, {perf['scheme']})", "",
            "Analytical model (docs/performance.md) of the design generated into this project, not a "
            "synthesis result or a measurement. Operating point: prompt "
            f"{perf['operating']['prompt']} tokens, then {perf['operating']['generate']} generated.", "",
            "| | |", "|---|---|",
            f"| decode (batch 1) | {perf['decode_tps']:,.1f} tokens/s |",
            f"| time to first token | {perf['ttft_ms']:.3f} ms |",
            f"| bandwidth roofline | {_roofline_text(perf)} |",
            f"| fraction of the roofline | {fraction_text(perf)} |",
            f"| power, energy | {perf['power_w']:.1f} W, {perf['tokens_per_j']:.2f} tokens/J |",
            f"| block engines | {perf['engines']} ({'one reused engine' if perf['engines'] == 1 else 'replicated'}),"
            f" {perf['linear_lanes']} linear lanes (widest) |",
            f"| stream width | {perf['stream_width']} element(s) per beat |",
        ]
        saved = perf.get("design_file")
        if saved:
            fig = saved["figures"] or {}
            lines.append(f"| design file `{saved['file']}` (explored for {saved['model']} on {saved['target']}) | "
                         f"{fig.get('decode_tps', 0):,.1f} tokens/s, {100 * fig.get('fraction_of_roofline', 0):.1f} % "
                         f"of the roofline, weight streams over up to {saved['channels']} channel(s) |")
        lines += ["", "Modeled from the project:", ""] + [f"- {x}" for x in perf.get("modeled_from", [])]
        if saved and saved.get("notes"):
            lines += ["", "Not realized of the design file:", ""] + [f"- {x}" for x in saved["notes"]]
        lines += _image(plots, "roofline")
        lines += ["", "### Per-stage decode time", "", "| stage | copies | cycles | bound |", "|---|---|---|---|"]
        lines += [f"| {s['stage']} | {s['count']} | {s['cycles']:,} | {s['bound']} |" for s in perf["stages_decode"]]
        lines += _image(plots, "stage_breakdown")
        lines += ["", f"### Resources against the {f} budget", "",
                  "| resource | used | budget | device | of budget |", "|---|---|---|---|---|"]
        for k, r in perf["resources"].items():
            share = f"{100 * r['used'] / r['budget']:.1f} %" if r["budget"] else ("-" if not r["used"] else "over")
            lines.append(f"| {k.upper()} | {r['used']:,} | {r['budget']:,} | {r['device']:,} | {share} |")
        lines += _image(plots, "resources")
        lines += ["", "### Weight placement", ""] + [f"- {r}" for r in perf["placement"]]
        stored = perf.get("offchip_weights") or {}
        if stored:
            ports = sorted({w["ports"] for w in stored.values()})
            bits = sorted({w["bits"] for w in stored.values()})
            lines.append(f"- stored off chip: {len(stored)} weight matrices, {perf['offchip_weight_bytes']:,} bytes, "
                         f"{'/'.join(f'{b:g}' for b in bits)} bits per weight, "
                         f"{'/'.join(map(str, ports))} m_axi port(s) per weight (weights/*.bin)")
        if perf.get("connectivity"):
            lines += ["", "Memory channels (host/link.cfg; one m_axi port per argument, spread round-robin "
                      "over the design's channels so concurrent streams use distinct ones):", ""]
            lines += [f"- `{c['arg']}` -> {c['bank']}" for c in perf["connectivity"]]
        mem = report.get("memory")
        if mem:
            lines.append(f"- in this HLS project: {mem['onchip_param_bytes']:,} bytes on chip, "
                         f"{mem['offchip_param_bytes']:,} bytes as m_axi (DRAM) arguments ({mem['note']})")
    lines += _accuracy_lines(report)
    return lines


def _roofline_text(perf: dict[str, Any]) -> str:
    if perf.get("roofline_tps") is None:
        return "n/a (no off-chip traffic)"
    return f"{perf['roofline_tps']:,.1f} tokens/s ({perf['offchip_bytes_per_token']:,} off-chip bytes per token)"


def fraction_text(perf: dict[str, Any]) -> str:
    """The fraction of the bandwidth roofline, or "n/a" for a design without off-chip traffic."""
    f = perf.get("fraction_of_roofline")
    return "n/a (no off-chip traffic)" if f is None else f"{100 * f:.1f} %"


def _image(plots: dict[str, str] | None, key: str) -> list[str]:
    return ["", f"![{PLOT_TITLES[key]}]({plots[key]})"] if plots and key in plots else []


def _accuracy_lines(report: dict[str, Any]) -> list[str]:
    acc, ev = report.get("accuracy") or {}, report.get("eval")
    if not acc and not ev:
        return []
    lines = ["", f"## Accuracy of `{report['quant'].get('scheme')}`", ""]
    for key, label in (("vs_torch", "PyTorch float"), ("vs_reference_float", "reference float")):
        if acc.get(key):
            lines.append(f"- compile test input, error vs {label}: max abs {acc[key]['max_abs']:.4g}, "
                         f"relative {acc[key]['relative']:.4g}")
    if ev and "perplexity" in ev:
        p, g = ev["perplexity"], ev["gap"]
        lines.append(f"- `llm2hls eval` ({ev['quant']}, {ev['tokens']:,} tokens of {ev['text']}): perplexity "
                     f"float {p['float']:.3f}, fake-quant {p['fake_quant']:.3f}, integer {p['integer']:.3f} "
                     f"(integer vs float {100 * g['integer_vs_float']:+.2f} %)")
    elif ev and "cosine" in ev:
        c = ev["cosine"]
        lines.append(f"- `llm2hls eval` ({ev['quant']}, {ev['tokens']:,} tokens): mean cosine to float: "
                     f"integer {c['integer']['mean']:.5f}, fake-quant {c['fake_quant']['mean']:.5f}")
    return lines


def render_html(markdown_text: str, folder: Path) -> str:
    """A self-contained HTML page of ``markdown_text``; images under ``folder`` become data URIs."""
    from markdown_it import MarkdownIt

    body = MarkdownIt("commonmark").enable("table").render(markdown_text)

    def inline(m: re.Match) -> str:
        src = html.unescape(m.group(1))
        path = folder / src
        if src.startswith(("data:", "http:", "https:")) or not path.is_file():
            return m.group(0)
        return f'src="data:image/png;base64,{base64.b64encode(path.read_bytes()).decode()}"'

    body = re.sub(r'src="([^"]+)"', inline, body)
    title = html.escape(markdown_text.splitlines()[0].lstrip("# ")) if markdown_text else "llm2hls report"
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{title}</title><style>{_CSS}</style></head>\n<body>\n{body}</body></html>\n")


_CSS = ("body{font-family:sans-serif;max-width:70em;margin:2em auto;padding:0 1em;color:#222}"
        "table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:.2em .5em;"
        "font-size:.9em}th{background:#f3f3f3}code{background:#f6f6f6}img{max-width:100%}")
