"""C simulation of hand-built graphs: bit-exact, and a corrupted golden file is caught."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "passes"))
from hand_graphs import calib_inputs, hand_graph, id_inputs  # noqa: E402

from llm2hls.passes.quantize import QuantConfig  # noqa: E402
from llm2hls.pipeline import compile_graph  # noqa: E402
from llm2hls.sim.csim import run_csim  # noqa: E402


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    out = tmp_path_factory.mktemp("csim") / "hand"
    return compile_graph(hand_graph(act="gelu_tanh"), out, QuantConfig(), calib_inputs(), id_inputs(9), lanes=4)


def test_bit_exact(compiled):
    cs = compiled.csim
    assert cs["passed"] and cs["mismatches"] == 0
    assert cs["elements"] == compiled.graph.tensors[compiled.graph.outputs[0]].type.numel
    assert (compiled.out_dir / "report.json").exists() and (compiled.out_dir / "ir.json").exists()


def test_corrupted_golden_is_reported(compiled):
    golden = compiled.out_dir / "tb" / "out.golden.txt"
    rows = golden.read_text().split("\n")
    vals = rows[2].split()
    vals[3] = str(int(vals[3]) + 1)  # one LSB
    rows[2] = " ".join(vals)
    golden.write_text("\n".join(rows))
    res = run_csim(compiled.out_dir, "hand")
    assert res.cached  # same sources: no rebuild
    assert not res.passed and res.mismatches == 1
    assert res.first_mismatch.startswith("mismatch out[2][3]")


def test_float_build_within_tolerance(tmp_path):
    res = compile_graph(hand_graph(), tmp_path / "f", QuantConfig.from_scheme("float"), calib_inputs(), id_inputs(9))
    assert res.csim["passed"] and not res.csim["bit_exact"]
    assert res.report["quant"]["scheme"] == "float"
