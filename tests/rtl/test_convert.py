"""l2h_convert (Verilog) against numerics.convert, every rounding and overflow mode (Icarus)."""

from __future__ import annotations

import itertools
import json
import sys
from pathlib import Path

import pytest

from llm2hls.backends.rtl.hdl import OVF_CODE, ROUND_CODE, lib_dir
from llm2hls.sim.toolchain import find_icarus, patched_environ

pytestmark = pytest.mark.skipif(not find_icarus().ok, reason="iverilog not installed")


def _configs() -> list[dict]:
    out = []
    for rnd, ovf, shift, (iw, is_, ow, os_) in itertools.product(
        ROUND_CODE, OVF_CODE, (-3, 0, 1, 2, 5, 13),
        ((16, 1, 8, 1), (12, 0, 6, 1), (14, 1, 9, 0), (20, 1, 20, 1)),
    ):
        out.append({"iw": iw, "is": is_, "ow": ow, "os": os_, "shift": shift, "round": rnd, "ovf": ovf})
    return out


def _wrapper(configs: list[dict]) -> str:
    in_w = max(c["iw"] for c in configs)
    ports = ",\n".join(f"    output wire [{c['ow'] - 1}:0] dout{i}" for i, c in enumerate(configs))
    lines = [f"module convert_wrap (\n    input wire [{in_w - 1}:0] din,\n{ports}\n);"]
    for i, c in enumerate(configs):
        lines.append(
            f"    l2h_convert #(.IW({c['iw']}), .IS({c['is']}), .SHIFT({c['shift']}), .OW({c['ow']}), "
            f".OS({c['os']}), .ROUND({ROUND_CODE[c['round']]}), .OVF({OVF_CODE[c['ovf']]})) "
            f"u{i} (.din(din[{c['iw'] - 1}:0]), .dout(dout{i}));"
        )
    return "\n".join(lines + ["endmodule", ""])


def test_convert_matches_numerics(tmp_path: Path) -> None:
    from cocotb_tools.runner import get_runner

    configs = _configs()
    (tmp_path / "convert_wrap.v").write_text(_wrapper(configs))
    runner = get_runner("icarus")
    here = str(Path(__file__).parent)
    sys.path.insert(0, here)
    try:
        with patched_environ({"L2H_CONVERT_CONFIGS": json.dumps(configs)}):
            runner.build(sources=[lib_dir() / "l2h_convert.v", tmp_path / "convert_wrap.v"],
                         hdl_toplevel="convert_wrap", build_dir=tmp_path / "build",
                         timescale=("1ns", "1ps"), log_file=tmp_path / "build.log")
            xml = runner.test(test_module="convert_bench", hdl_toplevel="convert_wrap",
                              hdl_toplevel_lang="verilog", build_dir=tmp_path / "build",
                              test_dir=tmp_path, log_file=tmp_path / "sim.log")
    finally:
        sys.path.remove(here)
    from cocotb_tools.runner import get_results

    tests, fails = get_results(xml)
    assert tests == 1 and fails == 0, (tmp_path / "sim.log").read_text()[-3000:]
