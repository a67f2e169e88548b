"""The HLS project layout and the C++ it contains (no compiler needed)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "passes"))
from hand_graphs import calib_inputs, hand_graph, id_inputs  # noqa: E402

from llm2hls.backends.hls import emit_project, template_env  # noqa: E402
from llm2hls.passes.fifo import size_fifos  # noqa: E402
from llm2hls.passes.forks import insert_forks  # noqa: E402
from llm2hls.passes.fuse import fuse  # noqa: E402
from llm2hls.passes.parallelize import parallelize  # noqa: E402
from llm2hls.passes.quantize import QuantConfig, calibrate, quantize_graph  # noqa: E402
from llm2hls.reference import quantize_inputs, run_graph  # noqa: E402


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    g = fuse(hand_graph(act="silu"))
    cfg = QuantConfig()
    calibrate(g, calib_inputs(), cfg)
    quantize_graph(g, cfg)
    g, _ = parallelize(g, 4)
    g, _ = insert_forks(g)
    g, _ = size_fifos(g)
    x = quantize_inputs(g, id_inputs(0))
    root = tmp_path_factory.mktemp("hls") / "p"
    return emit_project(g, root, x, run_graph(g, x, mode="int")), g


def test_layout(project):
    p, _ = project
    for f in ("src/hand.cpp", "src/hand.h", "src/llm2hls_numerics.h", "src/llm2hls_nonlinear.h",
              "tb/tb_hand.cpp", "tb/ids.txt", "tb/out.golden.txt", "vitis/hls_config.cfg",
              "vitis/run_hls.tcl", "README.md", "weights/fc1.h"):
        assert (p.root / f).is_file(), f


def test_top_function_pragmas_and_stages(project):
    p, g = project
    cpp = (p.root / "src/hand.cpp").read_text()
    assert "#pragma HLS DATAFLOW" in cpp
    assert "#pragma HLS INTERFACE mode=axis port=ids" in cpp
    assert "mode=ap_ctrl_chain port=return" in cpp
    for n in g.nodes.values():
        assert f"void {n.name}(" in cpp
        if n.source:
            assert f"// {n.source}" in cpp
    assert "ARRAY_PARTITION variable=fc1_q_weight type=cyclic factor=4 dim=1" in cpp
    skip = g.nodes["fc2"].inputs[1]
    assert f"variable={skip} depth={g.tensors[skip].meta['fifo_depth']}" in cpp
    header = (p.root / "src/hand.h").read_text()
    for name, t in g.tensors.items():
        assert f"typedef {t.type.dtype.c_type()} {name}_t;" in header


def test_weights_are_raw_integers_of_the_params(project):
    p, g = project
    text = (p.root / "weights/fc1.h").read_text()
    assert "typedef ap_int<8> fc1_q_weight_t;" in text
    assert "static const int8_t fc1_q_weight[8][12]" in text
    body = text.split("fc1_q_weight[8][12] = ")[1].split(";")[0]
    values = [int(v) for v in body.replace("{", " ").replace("}", " ").replace(",", " ").split()]
    assert values == g.nodes["fc1"].param("q_weight").ravel().tolist()


def test_vitis_scripts(project):
    p, _ = project
    tcl = (p.root / "vitis/run_hls.tcl").read_text()
    for cmd in ("open_project", "set_top hand", "add_files -tb", "open_solution", "set_part", "create_clock",
                "csim_design", "csynth_design", "cosim_design", "export_design"):
        assert cmd in tcl
    cfg = (p.root / "vitis/hls_config.cfg").read_text()
    assert "syn.top=hand" in cfg and "tb.file=../tb/tb_hand.cpp" in cfg and "clock=" in cfg


def test_templates_load_from_the_package():
    env = template_env()
    assert env.get_template("ops/linear.j2") is not None
    with pytest.raises(Exception):
        env.from_string("{{ missing }}").render()  # StrictUndefined
