"""The modeled board view of a compiled project: roofline, per-stage decode time, resources
against the board's budget, weight placement, accuracy; as report.json fields, markdown and a
self-contained HTML page (plots embedded as base64 PNG).

The figures come from the analytical model (docs/performance.md) applied to the project's own IR
(``perf.stages_from_graph``) at the project's scheme; the design is the exploration's best on the
chosen board. Nothing here is a synthesis or hardware measurement.
"""

from __future__ import annotations

import base64
import html
import re
from pathlib import Path
from typing import Any

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


def model_project(graph: Graph, quant: dict[str, Any], target_name: str = DEFAULT_TARGET):
    """Explore designs of ``graph`` on the board; returns ``(exploration, target, scheme, operating)``.

    The operating point is a prompt of the compiled sequence length followed by as many tokens.
    """
    from ..dse import explore
    from ..perf import Operating, stages_from_graph
    from ..targets import get_target

    target = get_target(target_name)
    scheme = scheme_of(quant)
    tokens = int(graph.tensors[graph.inputs[0]].type.shape[0])
    op = Operating(prompt=tokens, generate=tokens)
    return explore(stages_from_graph(graph), scheme, target, op), target, scheme, op


def performance_json(ex, target, scheme, op) -> dict[str, Any]:
    """report.json's ``performance`` section: the best design's figures and why."""
    from ..perf.model import BACKEND_STREAM_WIDTH, WIDTH_NOTE

    p, d = ex.best.perf, ex.best.design
    budget = target.budget()
    return {
        "target": target.name, "part": target.part, "clock_mhz": target.clock_mhz, "scheme": scheme.name,
        "operating": {"prompt": op.prompt, "generate": op.generate, "decode_context": op.decode_context},
        "decode_tps": p.decode_tps, "ttft_ms": p.ttft_s * 1e3, "power_w": p.power_w, "tokens_per_j": p.tokens_per_j,
        "roofline_tps": p.roofline_tps, "fraction_of_roofline": p.fraction_of_roofline,
        "offchip_bytes_per_token": p.offchip_bytes_per_token,
        "engines": ex.best.engines, "channels": d.channels, "linear_lanes": ex.best.linear_lanes,
        "stream_width": d.stream_width, "stream_width_note": WIDTH_NOTE,
        "best_at_backend_width": {k: v for k, v in ex.by_width[BACKEND_STREAM_WIDTH].summary().items()
                                  if k in ("decode_tps", "fraction_of_roofline", "resource_share")}
        if BACKEND_STREAM_WIDTH in ex.by_width else None,
        "resources": {k: {"used": p.resources[k], "budget": budget[k], "device": getattr(target, k)}
                      for k in p.resources},
        "fits": p.fits, "placement": list(d.reasons),
        "stages_decode": [{"stage": s.name, "count": s.count, "cycles": s.total, "bound": s.bound}
                          for s in sorted(p.stages_decode, key=lambda s: -s.total)],
        "designs_evaluated": ex.evaluated,
    }


def markdown_sections(report: dict[str, Any], plots: dict[str, str] | None = None) -> list[str]:
    """Markdown lines of the modeled-performance, accuracy and placement sections."""
    lines: list[str] = []
    perf = report.get("performance")
    if perf:
        f = perf["target"]
        lines += [
            "", f"## Modeled on {f} ({perf['part']}, {perf['clock_mhz']:.0f} MHz, {perf['scheme']})", "",
            "Analytical model (docs/performance.md), not a synthesis result. Operating point: prompt "
            f"{perf['operating']['prompt']} tokens, then {perf['operating']['generate']} generated.", "",
            "| | |", "|---|---|",
            f"| decode (batch 1) | {perf['decode_tps']:,.1f} tokens/s |",
            f"| time to first token | {perf['ttft_ms']:.3f} ms |",
            f"| bandwidth roofline | {perf['roofline_tps']:,.1f} tokens/s "
            f"({perf['offchip_bytes_per_token']:,} off-chip bytes per token) |",
            f"| fraction of the roofline | {100 * perf['fraction_of_roofline']:.1f} % |",
            f"| power, energy | {perf['power_w']:.1f} W, {perf['tokens_per_j']:.2f} tokens/J |",
            f"| block engines | {perf['engines']} ({'one reused engine' if perf['engines'] == 1 else 'replicated'}),"
            f" {perf['channels']} memory channels, {perf['linear_lanes']} linear lanes |",
        ]
        if "stream_width" in perf:
            lines.append(f"| stream width | {perf['stream_width']} element(s) per beat ({perf['stream_width_note']}) |")
            w1 = perf.get("best_at_backend_width")
            if w1 and perf["stream_width"] != 1:
                lines.append(f"| best at 1 element per beat | {w1['decode_tps']:,.1f} tokens/s, "
                             f"{100 * w1['fraction_of_roofline']:.1f} % of the roofline |")
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
        mem = report.get("memory")
        if mem:
            lines.append(f"- in this HLS project: {mem['onchip_param_bytes']:,} bytes on chip, "
                         f"{mem['offchip_param_bytes']:,} bytes as m_axi (DRAM) arguments ({mem['note']})")
    lines += _accuracy_lines(report)
    return lines


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
