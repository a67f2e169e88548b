"""``llm2hls report DIR [--target BOARD] [--eval EVAL.json] [--synth]``: model the project on a
board (roofline, per-stage decode time, resources against the budget, weight placement) with
plots, and write report.json, report.md and a self-contained report.html; with --synth, first
check the estimates against the RTL (simulated cycles per stage, Yosys resources)."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import click

from ..errors import UserError

WORK_DIR = "rtl_estimates"
"""Folder of the project where the per-stage designs are simulated and synthesized."""


def _load_report(project: Path) -> dict:
    path = project / "report.json"
    if not path.exists():
        raise UserError(f"{project} has no report.json; compile a model into it first "
                        "(llm2hls compile MODEL --out DIR)")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise UserError(f"{path} is not valid JSON ({e}); re-run llm2hls compile") from None


def _whole_design_sim(project: Path) -> dict | None:
    """The latest whole-design result of ``llm2hls simulate`` (Verilator preferred), if any."""
    for sim in ("verilator", "icarus"):
        p = project / "rtl" / f"sim_result_{sim}.json"
        if p.exists():
            r = json.loads(p.read_text())
            keep = ("passed", "mismatches", "checked", "latency_cycles", "total_cycles", "ii_cycles")
            return {"simulator": sim, **{k: r.get(k) for k in keep}}
    return None


def estimate_against_rtl(project: Path, simulator: str, budget_s: float) -> dict:
    """Simulate every stage alone and synthesize every distinct stage; the report's ``rtl`` part."""
    from ..backends.rtl.estimate import compare, measure_stage_cycles, synth_stages
    from ..backends.rtl.project import load_project_graph
    from ..sim.toolchain import find_yosys

    if not find_yosys().ok:
        raise UserError("yosys is not installed (needed by --synth); apt-get install yosys, "
                        "see `llm2hls doctor`")
    graph = load_project_graph(project)
    work = project / WORK_DIR
    if work.exists():
        shutil.rmtree(work)
    work.mkdir()
    try:
        meas = measure_stage_cycles(graph, work / "cycles", simulator)
    except RuntimeError as e:
        raise UserError(f"simulating the stages failed: {str(e).splitlines()[0]} (logs in {work})") from None
    if not meas["passed"]:
        raise UserError(f"the stages simulated alone are not bit-exact ({meas['mismatches']} mismatches; "
                        f"logs in {work / 'cycles'}); this is a bug in the RTL backend")
    synth = synth_stages(graph, work / "synth", budget_s=budget_s)
    rtl = compare(graph, meas["cycles"], synth)
    rtl["cycles_simulator"] = simulator
    rtl["simulation"] = _whole_design_sim(project)
    return rtl


@click.command("report")
@click.argument("project", type=click.Path(exists=True, file_okay=False))
@click.option("--synth", is_flag=True,
              help="Simulate every stage alone and run Yosys synth_xilinx per stage; record "
                   "cycles and LUT/FF/DSP/BRAM beside the analytical estimates.")
@click.option("--simulator", type=click.Choice(["icarus", "verilator"]), default="icarus",
              show_default=True, help="Simulator of the per-stage cycle measurement.")
@click.option("--budget", type=float, default=600.0, show_default=True,
              help="Time budget of the Yosys runs, in seconds (stages left over are skipped).")
@click.option("--target", "target_name", default="U280", show_default=True,
              help="Board the design is modeled on (docs/targets.md).")
@click.option("--eval", "eval_file", type=click.Path(dir_okay=False), default=None,
              help="Output of `llm2hls eval --json` for this model and scheme (accuracy section).")
def report_cmd(project: str, synth: bool, simulator: str, budget: float, target_name: str,
               eval_file: str | None) -> None:
    """Model PROJECT on a board and write report.json, report.md and report.html (with plots)."""
    from ..report import render_markdown
    from ..report.modeled import render_html

    proj = Path(project)
    report = _load_report(proj)
    if eval_file is not None:
        report["eval"] = _load_eval(Path(eval_file))
    if synth:
        report["rtl"] = estimate_against_rtl(proj, simulator, budget)
    add_modeled_view(proj, report, target_name)
    md = render_markdown(report)
    page = render_html(md, proj)
    # write the files atomically (a temporary file renamed over the old one)
    for name, text in (("report.json", json.dumps(report, indent=1) + "\n"), ("report.md", md),
                       ("report.html", page)):
        with tempfile.NamedTemporaryFile("w", dir=proj, delete=False, suffix=".tmp") as f:
            f.write(text)
        Path(f.name).replace(proj / name)
    if synth:
        bad = [k for k, v in report["rtl"]["kinds"].items() if not v["within_tolerance"]]
        click.echo(f"estimates vs RTL recorded in {proj / 'report.md'}"
                   + (f"; outside ±15%: {', '.join(bad)}" if bad else "; every stage kind within ±15%"))
    else:
        from ..report.modeled import fraction_text

        perf = report["performance"]
        click.echo(f"wrote {proj / 'report.md'} and report.html: {perf['decode_tps']:,.1f} tokens/s modeled on "
                   f"{perf['target']} ({fraction_text(perf)} of the roofline)")


def _load_eval(path: Path) -> dict:
    """An ``llm2hls eval --json`` document (checked for the fields the report shows)."""
    try:
        doc = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise UserError(f"--eval {path}: cannot read it as JSON ({e}); pass the output of llm2hls eval --json") from None
    if not isinstance(doc, dict) or not ("perplexity" in doc or "cosine" in doc) or "quant" not in doc:
        raise UserError(f"--eval {path}: not an `llm2hls eval --json` result (no quant/perplexity/cosine fields)")
    return doc


def add_modeled_view(project: Path, report: dict, target_name: str) -> None:
    """Model the design generated into the project on ``target_name`` (report/modeled.py); add
    ``performance`` and ``plots`` to ``report`` and write the PNG plots into PROJECT/plots/."""
    from ..ir.serialize import load_graph
    from ..perf.plots import write_plots
    from ..report.modeled import PLOTS_DIR, model_project, performance_json

    ir = project / "ir.json"
    if not ir.exists():
        raise UserError(f"{project} has no ir.json; compile a model into it first (llm2hls compile MODEL --out DIR)")
    graph = load_graph(ir)
    m = model_project(project, graph, report, target_name)
    report["performance"] = performance_json(m)
    paths = write_plots(m.perf, m.target, project / PLOTS_DIR,
                        f"{report.get('model', graph.name)} {m.scheme.name} on {m.target.name}")
    report["plots"] = {k: f"{PLOTS_DIR}/{p.name}" for k, p in paths.items()}
