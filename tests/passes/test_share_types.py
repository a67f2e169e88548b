"""passes/share_types.py: corresponding tensors/params of all layers get one C type (the widest
range of the per-layer choices), the integer graph stays close to the float reference."""

from __future__ import annotations

import numpy as np
import pytest
from models import tiny_gpt2, tiny_llama

from llm2hls.frontend import import_model
from llm2hls.ir.types import numtype_from_json
from llm2hls.passes.canonicalize import clone
from llm2hls.passes.fuse import fuse_activation, fuse_residual
from llm2hls.passes.quantize import QuantConfig, quantize_graph
from llm2hls.passes.share_types import layer_groups, quantize_shared, type_mismatches
from llm2hls.pipeline import calibrate_and_smooth, random_inputs
from llm2hls.reference import dequantize_outputs, quantize_inputs, run_graph


def _calibrated(graph, config):
    g, _ = fuse_activation(clone(graph))
    g, _ = fuse_residual(g)
    return calibrate_and_smooth(g, [random_inputs(g, s) for s in range(1, 4)], config)


def _rel_error(g, float_graph, x) -> float:
    ref = run_graph(float_graph, x, mode="float")[float_graph.outputs[0]]
    out = dequantize_outputs(g, run_graph(g, quantize_inputs(g, x), mode="int"))[g.outputs[0]]
    return float(np.abs(out - ref).max() / np.abs(ref).max())


@pytest.mark.parametrize("factory,quant", [(tiny_gpt2, "w8a16"), (tiny_llama, "w4a8")])
def test_shared_types_are_the_widest_and_accurate(factory, quant):
    graph = import_model(factory(layers=3), seq_len=8).graph
    config = QuantConfig.from_scheme(quant)
    calibrated = _calibrated(graph, config)  # fills config.calib
    per_layer = quantize_graph(clone(calibrated), config)
    shared = quantize_shared(clone(calibrated), config)

    assert type_mismatches(per_layer), "the per-layer choices differ on this model (else the test proves nothing)"
    assert type_mismatches(shared) == []
    groups = layer_groups(shared)
    assert len(groups) >= 8 and shared.meta["quant"]["shared_layers"] == len(groups)
    for key, nodes in groups.items():
        # every output type is the widest range among the independent per-layer choices
        own = [per_layer.tensors[n.outputs[0]].type.dtype.frac for n in nodes]
        got = {shared.tensors[n.outputs[0]].type.dtype.frac for n in nodes}
        assert len(got) == 1 and got.pop() <= min(own), key
        if nodes[0].op == "linear":  # per-layer multiplier data at the shared fraction
            for n in nodes:
                t = numtype_from_json(n.attrs["param_types"]["q_scale"])
                m = n.param("q_scale") * 2.0 ** -t.frac
                assert m.max() > 0 and int(n.param("q_scale").max()) < 1 << t.width
                ref = per_layer.nodes[n.name]
                rt = numtype_from_json(ref.attrs["param_types"]["q_scale"])
                assert np.allclose(m, ref.param("q_scale") * 2.0 ** -rt.frac, atol=2.0 ** -t.frac)

    x = random_inputs(graph, 7)
    e_own, e_shared = _rel_error(per_layer, graph, x), _rel_error(shared, graph, x)
    assert e_shared < max(1.5 * e_own, 0.05)
