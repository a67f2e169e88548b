"""Error attribution (eval/attribution.py) against direct computations on a hand-built graph."""

from __future__ import annotations

import math

import numpy as np
from hand_graphs import calib_inputs, hand_graph, id_inputs

from llm2hls.eval.attribution import attribute_errors, sqnr_db
from llm2hls.numerics import dequantize, quantize
from llm2hls.passes.quantize import QuantConfig, calibrate, quantize_graph
from llm2hls.reference import quantize_inputs, run_graph


def test_sqnr_oracle():
    assert math.isclose(sqnr_db(np.array([3.0, 4.0]), np.array([3.0, 3.5])), 10 * math.log10(25 / 0.25))
    assert sqnr_db(np.ones(3), np.ones(3)) == math.inf


def test_attribution_matches_direct_runs():
    g = hand_graph(act="gelu_erf")
    cfg = QuantConfig.from_scheme("w8a16")
    calibrate(g, calib_inputs(), cfg)
    q = quantize_graph(g, cfg)
    x = id_inputs(7)
    rows = attribute_errors(q, x)
    assert [r.tensor for r in rows] == [t for n in q.topo_nodes() for t in n.outputs]
    by = {r.tensor: r for r in rows}
    # the first stage sees exact inputs: accumulated == local
    assert by["e"].accumulated_db == by["e"].local_db
    # the end-to-end figure is the plain integer-vs-float SQNR of the output
    f = run_graph(q, x, mode="float", keep_all=True)
    i = dequantize(run_graph(q, quantize_inputs(q, x), mode="int")["out"], q.tensors["out"].type.dtype)
    assert math.isclose(by["out"].accumulated_db, sqnr_db(f["out"], i))
    # a sign-permuting route only passes on the rounding of its input (same SQNR); a linear adds error
    t = q.tensors["r"].type.dtype
    assert math.isclose(by["rr"].local_db, sqnr_db(f["r"], dequantize(quantize(f["r"], t), t)))
    assert by["h"].local_db < sqnr_db(f["e"], dequantize(quantize(f["e"], q.tensors["e"].type.dtype),
                                                            q.tensors["e"].type.dtype))
    assert by["out"].accumulated_db < by["e"].accumulated_db
