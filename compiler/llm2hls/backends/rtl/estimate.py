"""Estimates checked against the RTL: simulated cycles and Yosys resources per stage.

* **Cycles** — every stage is simulated *alone* (its inputs offered every cycle, its outputs
  always taken, which is what an op kind's ``cost().cycles`` estimates): all stages of the graph
  are put side by side, each with its own inputs and outputs (:func:`isolated_graph`), in one
  design and one simulation. A stage's cycles = last output beat of the first inference - first
  input beat + 1.
* **Resources** — ``yosys synth_xilinx -flatten -noiopad`` per distinct stage (same kind, fusion,
  shapes, types and lanes synthesize alike), each alone with depth-2 FIFOs on its ports, within a
  time budget. LUT = LUT1..LUT6, FF = FD*, DSP = DSP48E1, BRAM18 = RAMB18E1 + 2 x RAMB36E1.
"""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

from ...ir.graph import Graph, Node
from ...ops import op_kind
from .backend import write_rtl

RATIO_TOLERANCE = 0.15
"""The analytical latency should be within this relative distance of the simulated cycles."""


def stage_label(node: Node) -> str:
    """Kind of a stage as the report names it: op, fused activation, fused residual, fork."""
    label = node.op
    if node.attrs.get("act"):
        label += "+act"
    if node.attrs.get("residual"):
        label += "+residual"
    if node.op == "route" and node.attrs.get("fork"):
        label += "(fork)"
    return label


def _copy_tensor(graph: Graph, src: str, dst: Graph, name: str) -> None:
    t = copy.deepcopy(graph.tensors[src])
    t.name, t.meta = name, {"fifo_depth": 2}
    dst.tensors[name] = t


def isolated_graph(graph: Graph, nodes: list[str] | None = None, name: str | None = None) -> Graph:
    """The stages ``nodes`` (default: all) side by side, each reading its own graph inputs
    ``<node>__i<k>`` and writing its own graph outputs ``<node>__o<k>`` (params are shared)."""
    g = Graph(name or f"{graph.name}_stages")
    for n in graph.topo_nodes():
        if nodes is not None and n.name not in nodes:
            continue
        ins, outs = [], []
        for k, t in enumerate(n.inputs):
            ins.append(f"{n.name}__i{k}")
            _copy_tensor(graph, t, g, ins[-1])
        for k, t in enumerate(n.outputs):
            outs.append(f"{n.name}__o{k}")
            _copy_tensor(graph, t, g, outs[-1])
        g.inputs += ins
        g.outputs += outs
        g.nodes[n.name] = Node(n.name, n.op, ins, outs, n.attrs, n.params, n.source, n.lanes,
                               n.layer, n.block)
    return g


def measure_stage_cycles(graph: Graph, work_dir: Path, simulator: str = "icarus") -> dict[str, Any]:
    """Simulate every stage alone (one design, one run, no gaps, no backpressure).

    Returns ``{"cycles": {node: cycles}, "passed": bool, "mismatches": int, "simulator": ...}``;
    outputs are checked bit-exact against the reference interpreter as in ``simulate``.
    """
    from ...sim.rtl import simulate

    bag = isolated_graph(graph)
    rtl = write_rtl(bag, Path(work_dir) / "rtl", runs=1, gap=0.0)
    r = simulate(rtl, simulator)
    cycles: dict[str, int] = {}
    done, first = r.get("output_done_cycles") or {}, r.get("input_first_cycle") or {}
    for n in bag.topo_nodes():
        ends = [done.get(t, [None])[0] for t in n.outputs]
        starts = [first.get(t) for t in n.inputs]
        if all(e is not None for e in ends) and all(s is not None for s in starts):
            cycles[n.name] = max(ends) - min(starts) + 1
    return {"cycles": cycles, "passed": bool(r.get("passed")), "mismatches": r.get("mismatches"),
            "simulator": simulator}


CELL_GROUPS = {
    "lut": re.compile(r"^LUT[1-6]$"),
    "lutram": re.compile(r"^(RAM\d+[MX].*|RAM\d+X1[SD].*)$"),
    "ff": re.compile(r"^FD[A-Z]*$"),
    "dsp": re.compile(r"^DSP48E\d?$"),
}


def parse_yosys_stat(text: str) -> dict[str, int]:
    """LUT / LUTRAM / FF / DSP / BRAM18 counts from the output of Yosys ``stat``."""
    out = {"lut": 0, "lutram": 0, "ff": 0, "dsp": 0, "bram18": 0}
    for line in text.splitlines():
        m = re.match(r"^\s+(\S+)\s+(\d+)\s*$", line)
        if not m:
            continue
        cell, count = m.group(1), int(m.group(2))
        if cell.startswith("RAMB18"):
            out["bram18"] += count
        elif cell.startswith("RAMB36"):
            out["bram18"] += 2 * count
        else:
            for key, pat in CELL_GROUPS.items():
                if pat.match(cell):
                    out[key] += count
    return out


def _signature(graph: Graph, n: Node) -> str:
    """Stages with equal signatures synthesize to the same netlist size."""
    types = [str(graph.tensors[t].type) for t in n.inputs + n.outputs]
    attrs = {k: v for k, v in n.attrs.items() if k not in ("param_types", "param_bits")}
    shapes = {k: list(p.data.shape) for k, p in n.params.items()}
    return json.dumps([stage_label(n), types, n.lanes, shapes, attrs], sort_keys=True, default=str)


def synth_stages(graph: Graph, work_dir: Path, budget_s: float = 600.0,
                 timeout_s: float = 300.0) -> dict[str, dict[str, Any]]:
    """Yosys ``synth_xilinx`` of every distinct stage alone; ``{node: counts or {"skipped": why}}``."""
    work_dir = Path(work_dir)
    by_sig: dict[str, dict[str, Any]] = {}
    out: dict[str, dict[str, Any]] = {}
    start = time.monotonic()
    for n in graph.topo_nodes():
        sig = _signature(graph, n)
        if sig in by_sig:
            out[n.name] = {**by_sig[sig], "same_as": by_sig[sig].get("stage", n.name)}
            continue
        left = budget_s - (time.monotonic() - start)
        if left <= 5:
            out[n.name] = {"skipped": "synthesis time budget used up"}
            continue
        res = _synth_one(graph, n, work_dir / n.name, min(timeout_s, left))
        res["stage"] = n.name
        by_sig[sig] = res
        out[n.name] = res
    return out


def _synth_one(graph: Graph, n: Node, d: Path, timeout_s: float) -> dict[str, Any]:
    rtl = write_rtl(isolated_graph(graph, [n.name], name=f"syn_{n.name}"), d, runs=1)
    spec = json.loads((rtl / "rtl.json").read_text())
    script = (f"read_verilog -defer -sv {' '.join(spec['sources'])}; "
              f"synth_xilinx -flatten -noiopad -top {spec['top']}; tee -q -o yosys_stat.txt stat")
    t0 = time.monotonic()
    try:
        r = subprocess.run(["yosys", "-q", "-p", script], cwd=rtl, capture_output=True, text=True,
                           timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return {"skipped": f"yosys took longer than {timeout_s:.0f} s"}
    finally:
        shutil.rmtree(rtl / "sim_build_icarus", ignore_errors=True)
    stat = rtl / "yosys_stat.txt"
    if r.returncode != 0 or not stat.exists():
        return {"skipped": "yosys failed: " + (r.stderr.strip().splitlines() or ["?"])[-1][:200]}
    return {**parse_yosys_stat(stat.read_text()), "seconds": round(time.monotonic() - t0, 1)}


def compare(graph: Graph, cycles: dict[str, int], synth: dict[str, dict[str, Any]] | None) -> dict[str, Any]:
    """Per stage and per stage kind: analytical cost beside simulated cycles / Yosys counts."""
    stages, kinds = [], {}
    for n in graph.topo_nodes():
        est = op_kind(n.op).cost(n, graph)
        row: dict[str, Any] = {"stage": n.name, "kind": stage_label(n), "est_cycles": est.cycles,
                               "sim_cycles": cycles.get(n.name),
                               "est": {"lut": est.lut, "dsp": est.dsp, "bram18": est.bram18}}
        if row["sim_cycles"]:
            row["ratio"] = round(est.cycles / row["sim_cycles"], 3)
            k = kinds.setdefault(row["kind"], {"stages": 0, "est_cycles": 0, "sim_cycles": 0,
                                               "min_ratio": None, "max_ratio": None})
            k["stages"] += 1
            k["est_cycles"] += est.cycles
            k["sim_cycles"] += row["sim_cycles"]
            k["min_ratio"] = min(row["ratio"], k["min_ratio"] or row["ratio"])
            k["max_ratio"] = max(row["ratio"], k["max_ratio"] or row["ratio"])
        if synth is not None:
            row["synth"] = synth.get(n.name, {"skipped": "not synthesized"})
        stages.append(row)
    for k in kinds.values():
        k["ratio"] = round(k["est_cycles"] / k["sim_cycles"], 3)
        k["within_tolerance"] = abs(k["ratio"] - 1) <= RATIO_TOLERANCE
    return {"ratio_is": "analytical cycles / simulated cycles (stage alone)",
            "tolerance": RATIO_TOLERANCE, "kinds": kinds, "stages": stages}


def markdown_section(rtl: dict[str, Any]) -> list[str]:
    """The report.md section of :func:`compare`'s result (plus the whole-design simulation)."""
    lines = ["", "## RTL: estimates against simulation and synthesis", ""]
    sim = rtl.get("simulation")
    if sim:
        lines += [f"Whole design in {sim.get('simulator')}: {'PASS' if sim.get('passed') else 'FAIL'}, "
                  f"{sim.get('mismatches')} mismatches of {sim.get('checked')} outputs; "
                  f"first-output latency {sim.get('latency_cycles')} cycles, total "
                  f"{sim.get('total_cycles')} cycles per inference, II {sim.get('ii_cycles')} cycles.", ""]
    lines += ["Cycles per stage kind (each stage simulated alone; ratio = analytical / simulated, "
              f"target within ±{int(rtl['tolerance'] * 100)}%):", "",
              "| kind | stages | analytical | simulated | ratio | per-stage ratios | ok |",
              "|---|---|---|---|---|---|---|"]
    for name, k in sorted(rtl["kinds"].items()):
        lines.append(f"| {name} | {k['stages']} | {k['est_cycles']:,} | {k['sim_cycles']:,} | {k['ratio']:.3f} | "
                     f"{k['min_ratio']:.3f} .. {k['max_ratio']:.3f} | {'yes' if k['within_tolerance'] else 'NO'} |")
    if any("synth" in s for s in rtl["stages"]):
        lines += ["", "Resources per stage: analytical estimate / Yosys `synth_xilinx` (7-series cells):", "",
                  "| stage | kind | est cycles | sim cycles | LUT est/yosys | FF | LUTRAM | DSP est/yosys | BRAM18 est/yosys |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for s in rtl["stages"]:
            y, e = s.get("synth", {}), s["est"]
            if "skipped" in y:
                res = f"{e['lut']}/- | - | - | {e['dsp']}/- | {e['bram18']}/- ({y['skipped']})"
            else:
                res = (f"{e['lut']}/{y['lut']} | {y['ff']} | {y['lutram']} | {e['dsp']}/{y['dsp']} | "
                       f"{e['bram18']}/{y['bram18']}")
            lines.append(f"| {s['stage']} | {s['kind']} | {s['est_cycles']:,} | {s['sim_cycles'] or '-'} | {res} |")
    return lines
