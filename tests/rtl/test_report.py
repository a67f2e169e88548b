"""``llm2hls report``: re-rendering, and --synth (stages simulated alone vs their cost(), Yosys)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from llm2hls.backends.rtl.estimate import isolated_graph, parse_yosys_stat
from llm2hls.cli import main
from llm2hls.ir.serialize import save_graph
from llm2hls.report import build_report, write_report
from llm2hls.sim.toolchain import find_icarus, find_yosys

from .graphs import norm_act_graph


def _project(tmp_path: Path) -> Path:
    g = norm_act_graph(2)
    proj = tmp_path / "proj"
    proj.mkdir()
    save_graph(g, proj / "ir.json")
    write_report(build_report(g), proj)
    return proj


def test_report_rerenders_and_rejects_non_projects(tmp_path: Path) -> None:
    proj = _project(tmp_path)
    (proj / "report.md").unlink()
    res = CliRunner().invoke(main, ["report", str(proj)])
    assert res.exit_code == 0 and (proj / "report.md").read_text().startswith("# llm2hls report")
    res = CliRunner().invoke(main, ["report", str(tmp_path)])
    assert res.exit_code == 2 and "report.json" in res.output


@pytest.mark.skipif(not (find_icarus().ok and find_yosys().ok), reason="needs iverilog and yosys")
def test_report_synth_records_cycles_and_resources(tmp_path: Path) -> None:
    proj = _project(tmp_path)
    # The budget caps the whole Yosys phase; it must leave the first stage room on a loaded
    # 2-core machine (20 s was seen to be too little there).
    res = CliRunner().invoke(main, ["report", str(proj), "--synth", "--budget", "90"])
    assert res.exit_code == 0, res.output
    rtl = json.loads((proj / "report.json").read_text())["rtl"]
    # every stage was simulated alone; the analytical cycles of every kind are within ±15%
    assert all(s["sim_cycles"] for s in rtl["stages"])
    assert rtl["kinds"] and all(k["within_tolerance"] for k in rtl["kinds"].values()), rtl["kinds"]
    first = rtl["stages"][0]["synth"]  # the first stage always fits the budget
    assert "skipped" not in first and first["lut"] > 0 and first["ff"] > 0
    md = (proj / "report.md").read_text()
    assert "## RTL: estimates against simulation and synthesis" in md and "layernorm" in md


def test_isolated_graph_and_yosys_stat_parsing() -> None:
    g = norm_act_graph(0)
    bag = isolated_graph(g)
    assert len(bag.nodes) == len(g.nodes)
    assert len(bag.inputs) == sum(len(n.inputs) for n in g.nodes.values())
    stat = "   Number of cells: 9\n     DSP48E1 2\n     FDRE 3\n     LUT2 1\n     LUT6 2\n     RAMB36E1 1\n     RAM64X1S 4\n"
    assert parse_yosys_stat(stat) == {"lut": 3, "lutram": 4, "ff": 3, "dsp": 2, "bram18": 2}
