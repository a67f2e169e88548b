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


def test_attribution_against_fake_quant():
    """With the scheme's config, rows also compare the integer pipeline with fake-quantization:
    end to end, and stage by stage on the same (fake-quant) inputs, with the mean bias in LSBs."""
    from llm2hls.eval.fakequant import _fq, fake_quant_graph
    from llm2hls.ops.activation import act_int
    from llm2hls.ops.functions import FUNCTIONS

    g = hand_graph(act="silu")
    cfg = QuantConfig.from_scheme("w8a8")
    calibrate(g, calib_inputs(), cfg)
    q = quantize_graph(g, cfg)
    x = id_inputs(3)
    by = {r.tensor: r for r in attribute_errors(q, x, cfg)}
    fq = fake_quant_graph(q, cfg, keep_all=True)(x)
    ints = run_graph(q, quantize_inputs(q, x), mode="int", keep_all=True)
    deq = {t: dequantize(ints[t], q.tensors[t].type.dtype) for t in ints if t != "ids"}
    assert math.isclose(by["out"].fq_accumulated_db, sqnr_db(fq["out"], deq["out"]))
    # the embedding is the same rounding in both; a route moves on-grid values exactly
    assert by["e"].fq_local_db == math.inf and by["e"].fq_local_bias_lsb == 0.0
    assert by["rr"].fq_local_db == math.inf
    # the SiLU table against the exact function rounded onto the same type, on the fake-quant input
    node, h_t, a_t = q.nodes["act"], q.tensors["h"].type.dtype, q.tensors["ha"].type.dtype
    got = dequantize(act_int("silu", quantize(fq["h"], h_t), h_t, a_t, node.params, node.attrs), a_t)
    want = _fq(FUNCTIONS["silu"](fq["h"]), a_t)
    assert math.isclose(by["ha"].fq_local_db, sqnr_db(want, got))
    assert math.isclose(by["ha"].fq_local_bias_lsb, float(np.mean(got - want)) / a_t.lsb)
    assert by["ha"].fq_local_db > 40  # the table is within ~1 LSB of the 16-bit output


def test_summarize_by_stage_groups_layers():
    from llm2hls.eval.attribution import StageError, summarize_by_stage

    rows = [StageError(f"model_layers_{i}_mlp_gate", "linear", f"t{i}", "16.11", 30.0, db, 1.0, 20.0, db + 10, b)
            for i, (db, b) in enumerate([(60.0, 0.2), (50.0, 0.4), (70.0, 0.3)])]
    rows.append(StageError("lm_head", "linear", "out", "16.9", 20.0, 80.0, 1.0, 19.0, 90.0, 0.0))
    lines = {x["stage"]: x for x in summarize_by_stage(rows)}
    gate = lines["model_mlp_gate"]
    assert gate["count"] == 3 and gate["local_db_min"] == 50.0 and gate["local_db_median"] == 60.0
    assert gate["fq_local_db_min"] == 60.0 and math.isclose(gate["fq_local_bias_lsb"], 0.3)
    assert lines["lm_head"]["count"] == 1
