"""Accuracy fixes of issue 4 (docs/quantization.md): the width policy for outlier tensors, the full-width
FFN down-projection input of narrow-input schemes, smoothing through the value projection, and the
graph fake-quantization that models every quantization point of a scheme."""

from __future__ import annotations

import numpy as np
import pytest
from models import tiny_bert, tiny_llama

from llm2hls.eval.fakequant import fake_quant_graph
from llm2hls.frontend import import_model
from llm2hls.numerics import dequantize
from llm2hls.passes.canonicalize import clone
from llm2hls.passes.fuse import fuse_activation, fuse_residual
from llm2hls.passes.quantize import QuantConfig, calibrate, needed_bits, quantize_graph, tensor_stats
from llm2hls.passes.smooth import smooth_graph
from llm2hls.pipeline import compile_graph
from llm2hls.reference import quantize_inputs, run_graph


def test_needed_bits_oracle():
    # max 1000, median |x| 0.25: ceil(log2(4000)) = 12 -> 1 + 12 + 4
    assert needed_bits({"max_abs": 1000.0, "median_abs": 0.25}, 4) == 17
    assert needed_bits({"max_abs": 3.0, "median_abs": 1.0}, 4) == 7
    assert needed_bits({"max_abs": 3.0, "median_abs": 0.0}, 4) == 0  # mostly zeros: no claim
    s = tensor_stats([np.array([[0.0, -2.0], [1.0, 8.0]])])
    assert s["median_abs"] == 1.5 and s["max_abs"] == 8.0


def _llama_with_outlier_residual(layers: int = 1):
    """tiny_llama whose residual stream carries a massive activation (~10^4 times the typical value)
    on its first token, as real LLMs do on an attention-sink token; the other tokens are ordinary."""
    im = import_model(tiny_llama(layers=layers), seq_len=8)
    g, _ = fuse_activation(clone(im.graph))
    g, _ = fuse_residual(g)
    emb = next(n for n in g.nodes.values() if n.op == "embedding")
    w = emb.param("weight").astype(np.float64).copy()
    w[0, 3] = 2000.0  # token 0 (first in every window): a massive activation in channel 3
    emb.params["weight"].data = w
    calib = [{"input_ids": _ids(s)} for s in range(4)]
    return g, calib


def _ids(seed: int) -> np.ndarray:
    ids = np.random.default_rng(seed).integers(1, 101, 8)
    ids[0] = 0
    return ids


def _int_vs_float(g, cfg, calib, inputs):
    q = quantize_graph(clone(g), cfg)
    out = q.outputs[0]
    f = run_graph(q, inputs, mode="float", keep_all=True)
    i = run_graph(q, quantize_inputs(q, inputs), mode="int", keep_all=True)
    return q, f, i, out


@pytest.mark.parametrize("resolution", [0, 4])
def test_width_policy_widens_outlier_streams_only(resolution):
    g, calib = _llama_with_outlier_residual()
    cfg = QuantConfig.from_scheme("w8a16")
    cfg.resolution_bits = resolution
    calibrate(g, calib, cfg)
    inputs = {"input_ids": _ids(9)}
    q, f, i, out = _int_vs_float(g, cfg, calib, inputs)
    wide = q.meta["quant"]["wide"]
    widths = {t: q.tensors[t].type.dtype.width for t in q.tensors if q.tensors[t].type.dtype.is_fixed}
    if resolution == 0:
        assert wide == {} and all(w == 16 for t, w in widths.items() if t != "input_ids")
        return
    emb = next(n for n in q.nodes.values() if n.op == "embedding")
    assert emb.name in wide and widths[emb.outputs[0]] == wide[emb.name] > 16
    # the residual stream is wide; attention (not a kind the policy widens) is not
    for n in q.nodes.values():
        if n.op == "attention":
            assert widths[n.outputs[0]] == 16, n.name


def test_width_policy_improves_accuracy():
    """The first norm (reading the residual stream) and the logits are much closer to float."""
    g, calib = _llama_with_outlier_residual()
    inputs = {"input_ids": _ids(9)}
    norm_err, out_err = [], []
    for resolution in (0, 4):
        cfg = QuantConfig.from_scheme("w8a16")
        cfg.resolution_bits = resolution
        calibrate(g, calib, cfg)
        q, f, i, out = _int_vs_float(g, cfg, calib, inputs)
        norm = next(n for n in q.topo_nodes() if n.op == "layernorm").outputs[0]
        for t, errs in ((norm, norm_err), (out, out_err)):
            y = dequantize(i[t][1:], q.tensors[t].type.dtype)  # the ordinary tokens
            errs.append(np.abs(y - f[t][1:]).mean() / np.abs(f[t][1:]).mean())
    assert norm_err[1] < 0.1 * norm_err[0]
    assert out_err[1] < 0.5 * out_err[0]


def test_wide_streams_bit_exact_in_csim(tmp_path):
    """Types widened by the policy (here forced on a tiny model) are reproduced by the HLS C++."""
    im = import_model(tiny_llama(layers=1), seq_len=6)
    cfg = QuantConfig.from_scheme("w8a16")
    cfg.resolution_bits = 14  # widen every stage the policy may widen (up to 24 bits)
    calib = [{"input_ids": np.random.default_rng(s).integers(0, 101, 6)} for s in range(3)]
    res = compile_graph(im.graph, tmp_path / "p", cfg, calib, im.example_inputs, lanes=2)
    assert res.graph.meta["quant"]["wide"]
    assert max(res.graph.tensors[t].type.dtype.width for t in res.graph.tensors
               if t not in res.graph.inputs) > 16
    assert res.csim["passed"] and res.csim["mismatches"] == 0 and res.csim["bit_exact"]


def test_ffn_down_input_stays_full_width_in_w8a8():
    im = import_model(tiny_bert(), seq_len=6)
    g, _ = fuse_activation(clone(im.graph))
    g, _ = fuse_residual(g)
    cfg = QuantConfig.from_scheme("w8a8")
    calibrate(g, [im.example_inputs], cfg)
    q = quantize_graph(g, cfg)
    lin = [n for n in q.nodes.values() if n.op == "linear"]
    down = [n for n in lin if q.producer(n.inputs[0]).attrs.get("act")]
    assert down and all("in_type" not in n.attrs for n in down)
    assert all(n.attrs["in_type"]["width"] == 8 for n in lin if n not in down)


def test_value_projection_smoothing_keeps_float_function():
    im = import_model(tiny_llama(), seq_len=6)  # GQA: 6 query heads share 2 value heads
    g = im.graph
    calibrate(g, [im.example_inputs], QuantConfig.from_scheme("w8a8"))
    o_names = [n.name for n in g.nodes.values() if "o_proj" in (n.source or "")]
    smoothed, changed = smooth_graph(g, 0.5)
    assert changed
    for name in o_names:  # the o_proj columns carry the factors, without a ``smooth`` param
        assert not np.allclose(smoothed.nodes[name].param("weight"), g.nodes[name].param("weight"))
        assert "smooth" not in smoothed.nodes[name].params
    a = run_graph(g, im.example_inputs)[g.outputs[0]]
    b = run_graph(smoothed, im.example_inputs)[g.outputs[0]]
    assert np.allclose(a, b, rtol=0, atol=1e-9 * np.abs(a).max())


def test_graph_fake_quant_models_every_tensor_type():
    """The graph fake-quant lands on the output grid and is closer to the integer pipeline than float is."""
    g, calib = _llama_with_outlier_residual()
    cfg = QuantConfig.from_scheme("w8a16")
    cfg.resolution_bits = 0  # coarse 16-bit residual: fake-quant must show the same loss
    calibrate(g, calib, cfg)
    inputs = {"input_ids": _ids(9)}
    q, f, i, out = _int_vs_float(g, cfg, calib, inputs)
    t = q.tensors[out].type.dtype
    fq = fake_quant_graph(q, cfg)(inputs)[out]
    assert np.array_equal(fq * 2.0**t.frac, np.round(fq * 2.0**t.frac))
    y = dequantize(i[out], t)
    assert np.abs(y - fq).mean() < 0.5 * np.abs(y - f[out]).mean()


def test_widths_are_uniform_across_layers_when_types_are_shared():
    """With shared layer types (one block engine), corresponding stages of every layer get one width."""
    from llm2hls.passes.share_types import quantize_shared

    g, calib = _llama_with_outlier_residual(layers=2)
    cfg = QuantConfig.from_scheme("w8a16")
    cfg.resolution_bits = 10  # widen enough stages that the layers' own needs differ
    calibrate(g, calib, cfg)
    shared = quantize_shared(g, cfg)
    wide = shared.meta["quant"]["wide"]
    pairs = [(n, n.replace("model_layers_1_", "model_layers_0_")) for n in wide if n.startswith("model_layers_1_")]
    assert pairs and all(wide[a] == wide[b] for a, b in pairs)
    for a, b in pairs:
        t0, t1 = (shared.tensors[shared.nodes[x].outputs[0]].type.dtype.width for x in (a, b))
        assert t0 == t1
    # ...and the stages feeding the block's entry (embedding, every layer's last residual add) share
    # one width too, so a block engine can serve every layer (backends/hls/engine.py checks it)
    from llm2hls.backends.hls.engine import plan_engine
    from llm2hls.passes.forks import insert_forks
    from llm2hls.passes.share_types import type_mismatches

    assert type_mismatches(shared) == []
    plan = plan_engine(insert_forks(shared)[0])
    widths = {shared.tensors[t].type.dtype.width for t in plan.entry + plan.exit}
    assert len(widths) == 1
