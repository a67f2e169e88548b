"""``report.json`` and ``report.md``: what each stage is, what it costs, and how accurate it is.

Costs come from each op kind's ``cost(node, graph)``; the formulas are in docs/report.md. Totals:
MACs, parameter bytes, DSP and BRAM18 add up over stages; in a DATAFLOW pipeline all stages run
concurrently, so the *interval* between inferences is the slowest stage's cycles, and the sum of
all stages' cycles bounds the latency of one inference from above.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..ir.graph import Graph
from ..ops import op_kind


def _shape(graph: Graph, t: str) -> list[int]:
    return list(graph.tensors[t].type.shape)


def stage_rows(graph: Graph) -> list[dict[str, Any]]:
    """One row per stage, in dataflow order."""
    rows = []
    for n in graph.topo_nodes():
        cost = op_kind(n.op).cost(n, graph)
        rows.append({
            "stage": n.name,
            "op": n.op + ("+glu" if n.attrs.get("glu") else "")
            + (f"+{n.attrs['act']}" if n.attrs.get("act") else "")
            + ("+residual" if n.attrs.get("residual") else ""),
            "source": n.source,
            "fused": n.attrs.get("fused", []),  # the stages this one replaced (passes/fuse.py)
            "inputs": [{"name": t, "shape": _shape(graph, t), "type": str(graph.tensors[t].type.dtype)}
                       for t in n.inputs],
            "outputs": [{"name": t, "shape": _shape(graph, t), "type": str(graph.tensors[t].type.dtype),
                         "fifo_depth": graph.tensors[t].meta.get("fifo_depth")} for t in n.outputs],
            "lanes": n.lanes,
            **cost.to_json(),
        })
    return rows


def build_report(graph: Graph, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The report document (JSON-ready)."""
    rows = stage_rows(graph)
    totals = {k: sum(r[k] for r in rows) for k in ("macs", "param_bytes", "dsp", "bram18", "lut")}
    cycles = [r["cycles"] for r in rows]
    totals["interval_cycles"] = max(cycles, default=0)
    totals["latency_cycles_upper_bound"] = sum(cycles)
    totals["stages"] = len(rows)
    totals["parameters"] = sum(
        int(p.data.size) for n in graph.nodes.values() for k, p in n.params.items() if not k.startswith("q_")
    )
    return {
        "model": graph.name,
        "quant": graph.meta.get("quant", {"scheme": "float"}),
        "fusion": graph.meta.get("fusion"),
        "stream_width": graph.meta.get("stream_width", 1),
        "totals": totals,
        "stages": rows,
        **(extra or {}),
    }


def render_markdown(report: dict[str, Any]) -> str:
    """A human-readable summary of :func:`build_report`'s document."""
    t = report["totals"]
    q = report["quant"]
    lines = [
        f"# llm2hls report: {report['model']}",
        "",
        f"Quantization: `{q.get('scheme')}`"
        + (f" ({q['weight_bits']}-bit weights, {q['act_bits']}-bit activations)" if "weight_bits" in q else ""),
        "",
        "| | |",
        "|---|---|",
        f"| stages | {t['stages']} |",
        f"| parameters | {t['parameters']:,} ({t['param_bytes']:,} bytes quantized) |",
        f"| MACs per inference | {t['macs']:,} |",
        f"| interval (slowest stage) | {t['interval_cycles']:,} cycles |",
        f"| latency (upper bound) | {t['latency_cycles_upper_bound']:,} cycles |",
        f"| DSP / BRAM18 (estimate) | {t['dsp']} / {t['bram18']} |",
    ]
    mem = report.get("memory")
    if mem:
        lines.append(f"| weights on chip / off chip (DRAM) | {mem['onchip_param_bytes']:,} / {mem['offchip_param_bytes']:,} bytes |")
    acc = report.get("accuracy")
    if acc:
        for key, label in (("vs_torch", "PyTorch float"), ("vs_reference_float", "reference float")):
            if acc.get(key):
                a = acc[key]
                lines.append(f"| error vs {label} | max abs {a['max_abs']:.4g}, relative {a['relative']:.4g} |")
    cs = report.get("csim")
    if cs:
        verdict = "PASS" if cs["passed"] else "FAIL"
        lines.append(f"| C simulation | {verdict}: {cs['mismatches']} mismatches in {cs['elements']} elements"
                     f"{' (bit-exact)' if cs.get('bit_exact') else ''} |")
    if mem:
        lines += ["", f"Memory: {mem['note']} (device on-chip memory {mem['device_onchip_bytes']:,} bytes)."]
    if report.get("csim_skipped"):
        lines += ["", f"C simulation skipped: {report['csim_skipped']}."]
    from .modeled import markdown_sections

    lines += markdown_sections(report, report.get("plots"))
    lines += [
        "",
        "## Stages",
        "",
        "| stage | op | PyTorch module | out shape | out type | lanes | MACs | param bytes | cycles | DSP | BRAM18 |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in report["stages"]:
        out = r["outputs"][0]
        lines.append(
            f"| {r['stage']} | {r['op']} | {r['source'] or '-'} | {'x'.join(map(str, out['shape']))} | "
            f"`{out['type']}` | {r['lanes']} | {r['macs']:,} | {r['param_bytes']:,} | {r['cycles']:,} | "
            f"{r['dsp']} | {r['bram18']} |"
        )
    if report.get("rtl"):  # added by `llm2hls report --synth` (docs/rtl.md)
        from ..backends.rtl.estimate import markdown_section

        lines += markdown_section(report["rtl"])
    lines += ["", "Cost formulas: docs/report.md in the llm2hls repository."]
    return "\n".join(lines) + "\n"


def write_report(report: dict[str, Any], out_dir: Path) -> None:
    out_dir = Path(out_dir)
    (out_dir / "report.json").write_text(json.dumps(report, indent=1) + "\n")
    (out_dir / "report.md").write_text(render_markdown(report))
