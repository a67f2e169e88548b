"""Quantization schemes (docs/quantization.md): w8a8, group-wise / asymmetric int4, SmoothQuant,
per-layer overrides; integer semantics checked against exact rational arithmetic and, through
g++ C simulation, against the HLS templates (two builds cover every linear path)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hand_graphs import calib_inputs, hand_graph, id_inputs
from models import tiny_bert, tiny_gpt2, tiny_llama

from llm2hls.backends.hls.emit import offchip_layout
from llm2hls.backends.hls.offchip import container_bits
from llm2hls.errors import UserError
from llm2hls.frontend import import_model
from llm2hls.ops.linear import dequantized_weight, quantize_weight_groups
from llm2hls.passes.canonicalize import clone
from llm2hls.passes.quantize import QuantConfig, calibrate, keep_8bit_overrides, quantize_graph
from llm2hls.passes.smooth import smooth_graph
from llm2hls.pipeline import calibrate_and_smooth, compile_graph
from llm2hls.reference import dequantize_outputs, quantize_inputs, run_graph


def test_scheme_names():
    c = QuantConfig.from_scheme("w4a8-asym")
    assert (c.weight_bits, c.group_size, c.weight_sym, c.linear_in_bits, c.act_bits) == (4, 64, False, 8, 16)
    assert c.smooth_alpha == 0.5
    assert QuantConfig.from_scheme("w4a16", group_size=128).scheme == "w4a16-g128"
    assert QuantConfig.from_scheme("w8a16").group_size is None and QuantConfig.from_scheme("w8a16").smooth_alpha is None
    with pytest.raises(UserError, match="group size"):
        QuantConfig.from_scheme("w4a16-g3")


@pytest.mark.parametrize("sym", [True, False])
def test_group_quantizer_error_within_half_step(sym):
    w = np.random.default_rng(1).normal(0, 1, (5, 40)) * np.linspace(0.1, 3, 40)[None, :]
    q, s, z = quantize_weight_groups(w, 4, 16, sym)
    assert s.shape == (5, 3) and ((z is None) == sym)
    lo, hi = (-7, 7) if sym else (0, 15)
    assert q.min() >= lo and q.max() <= hi
    step = np.repeat(s, 16, axis=1)[:, :40]
    deq = dequantized_weight(_linear_node(w), QuantConfig.from_scheme(f"w4a16{'' if sym else '-asym'}-g16"))
    assert np.all(np.abs(deq - w) <= step / 2 + 1e-12)


def _linear_node(w):
    from llm2hls.ir import Node, Param

    return Node("l", "linear", ["x"], ["y"], params={"weight": Param(w)})


def test_group_linear_matches_exact_rational_formula():
    cfg = QuantConfig.from_scheme("w4a8-asym-g8")
    g = hand_graph(residual=False)
    calibrate(g, calib_inputs(), cfg)
    quantize_graph(g, cfg)
    env = run_graph(g, quantize_inputs(g, id_inputs(3)), mode="int", keep_all=True)
    n = g.nodes["fc1"]  # K = 12: groups of 8 and 4
    x_t = g.tensors["e"].type.dtype
    in_f = n.attrs["in_type"]["frac"]
    shift_in = x_t.frac - in_f
    xq = np.clip(np.floor((env["e"] + (1 << (shift_in - 1))) / (1 << shift_in)), -128, 127).astype(object)
    q, z, sc = (n.param(k).astype(object) for k in ("q_weight", "q_zero", "q_scale"))
    total = sum((xq[:, c0:c0 + 8] @ (q[:, c0:c0 + 8] - z[:, gi:gi + 1]).T) * sc[:, gi]
                for gi, c0 in enumerate((0, 8)))
    total = total + n.param("q_bias").astype(object)
    y_t = g.tensors["h"].type.dtype
    shift = in_f + n.attrs["param_types"]["q_scale"]["frac"] - y_t.frac
    expect = np.vectorize(lambda v: min(max(math.floor((v + (1 << (shift - 1))) / (1 << shift)), y_t.raw_min),
                                        y_t.raw_max))(total)
    assert np.array_equal(env["h"], expect.astype(np.int64))


def test_smoothing_keeps_float_function_and_flattens_outliers():
    im = import_model(tiny_gpt2(), seq_len=6)  # pre-norm LayerNorm with a bias: gamma and beta fold
    g = im.graph
    cfg = QuantConfig.from_scheme("w8a8")
    calib = [im.example_inputs]
    calibrate(g, calib, cfg)
    smoothed, changed = smooth_graph(g, 0.5)
    assert changed
    a = run_graph(g, im.example_inputs)[g.outputs[0]]
    b = run_graph(smoothed, im.example_inputs)[g.outputs[0]]
    assert np.allclose(a, b, rtol=0, atol=1e-9 * np.abs(a).max())
    readers = [n for n in smoothed.nodes.values() if "smooth" in n.params]
    assert readers and all(n.op == "linear" for n in readers)


def test_keep_8bit_tokens():
    g = import_model(tiny_llama(), seq_len=4).graph
    over = keep_8bit_overrides(g, "lm_head,first")
    assert "lm_head_linear" in over
    assert all(g.nodes[n].layer in (0, None) for n in over) and len(over) == 1 + 7
    assert over["lm_head_linear"]["weight_bits"] == 8
    with pytest.raises(UserError, match="matches no linear"):
        keep_8bit_overrides(g, "nonexistent_module")


def _llama_mixed_config(graph):
    """One build, every linear path: asym int4 groups with 8-bit inputs (smoothed), a symmetric
    int4-group w4a16 stage, a per-channel w8a8 stage and w8a16 kept layers."""
    cfg = QuantConfig.from_scheme("w4a8-asym", group_size=32)  # K = 48, 88: partial last groups
    cfg.overrides.update(keep_8bit_overrides(graph, "lm_head"))
    cfg.overrides["model_layers_0_self_attn_o_proj_linear"] = {"weight_sym": True, "in_bits": None}
    cfg.overrides["model_layers_1_mlp_up_proj_linear"] = {"weight_bits": 8, "group_size": None, "weight_sym": True}
    return cfg


@pytest.fixture(scope="module")
def llama_mixed(tmp_path_factory):
    im = import_model(tiny_llama(), seq_len=8)
    cfg = _llama_mixed_config(im.graph)
    calib = [{"input_ids": np.random.default_rng(s).integers(0, 101, 8)} for s in range(4)]
    res = compile_graph(im.graph, tmp_path_factory.mktemp("llama") / "p", cfg, calib, im.example_inputs, lanes=4,
                        torch_outputs=im.torch_outputs(im.example_inputs), offchip_min_elements=4000)
    return res


def test_llama_mixed_schemes_bit_exact(llama_mixed):
    cs = llama_mixed.csim
    assert cs["passed"] and cs["mismatches"] == 0 and cs["bit_exact"]
    nodes = llama_mixed.graph.nodes
    q = next(n for n in nodes.values() if "model.layers.0.self_attn.q_proj" in n.source)  # fused with k, v
    assert q.attrs["group"] == 32 and "q_zero" in q.params and q.attrs["in_type"]["width"] == 8
    assert "smooth" in q.params
    o = nodes["model_layers_0_self_attn_o_proj_linear"]
    assert o.attrs["group"] == 32 and "q_zero" not in o.params and "in_type" not in o.attrs
    up = nodes["model_layers_1_mlp_up_proj_linear"]
    assert "group" not in up.attrs and up.attrs["in_type"]["width"] == 8 and up.attrs["param_bits"]["q_weight"] == 8
    head = nodes["lm_head_linear"]
    assert "group" not in head.attrs and "in_type" not in head.attrs
    # random weights at int4 + 8-bit inputs: coarse, but nowhere near garbage (relative error 1)
    assert 0 < llama_mixed.report["accuracy"]["vs_torch"]["relative"] < 0.6


@pytest.fixture(scope="module")
def bert_w8a8(tmp_path_factory):
    im = import_model(tiny_bert(), seq_len=6)
    calib = [im.example_inputs] + [
        {k: (np.random.default_rng(s).integers(0, 50, v.shape) if v.dtype.kind in "iu" else v)
         for k, v in im.example_inputs.items()} for s in range(3)]
    return compile_graph(im.graph, tmp_path_factory.mktemp("bert") / "p", QuantConfig.from_scheme("w8a8"), calib,
                         im.example_inputs, lanes=2, torch_outputs=im.torch_outputs(im.example_inputs))


def test_bert_w8a8_bit_exact_and_smoothed(bert_w8a8):
    cs = bert_w8a8.csim
    assert cs["passed"] and cs["mismatches"] == 0 and cs["bit_exact"]
    lin = [n for n in bert_w8a8.graph.nodes.values() if n.op == "linear"]
    # 8-bit inputs except the FFN down projection's (after GELU; docs/quantization.md)
    assert all(n.attrs["in_type"]["width"] == 8 for n in lin if "output.dense" not in n.source
               or "attention" in n.source)
    assert all("in_type" not in n.attrs for n in lin if n.source.endswith(".output.dense")
               and "attention" not in n.source)
    # post-norm: every norm output also feeds a residual add, so nothing can be smoothed
    assert not any("smooth" in n.params for n in lin)
    assert bert_w8a8.report["accuracy"]["vs_torch"]["relative"] < 0.1


def test_smoothing_helps_w8a8_on_outlier_channels():
    """A norm output with a 30x outlier channel: with smoothing the 8-bit pipeline is closer to float."""
    g0 = import_model(tiny_llama(), seq_len=8).graph
    norm = g0.nodes["model_layers_0_input_layernorm_layernorm"]
    w = norm.param("weight").astype(np.float64).copy()
    w[[3, 17]] *= 30.0
    from llm2hls.ir import Param

    norm.params["weight"] = Param(w)
    inputs = [{"input_ids": np.random.default_rng(s).integers(0, 101, 8)} for s in range(4)]
    ref = run_graph(g0, inputs[0])["logits"]
    errs = []
    for alpha in (None, 0.5):
        cfg = QuantConfig.from_scheme("w8a8", smooth_alpha=alpha)
        if alpha is None:
            cfg.smooth_alpha = None
        g = calibrate_and_smooth(clone(g0), inputs, cfg)
        quantize_graph(g, cfg)
        out = dequantize_outputs(g, run_graph(g, quantize_inputs(g, inputs[0]), mode="int"))["logits"]
        errs.append(np.abs(out - ref).max())
    assert errs[1] < errs[0]


def test_large_weights_are_binary_files(llama_mixed):
    """Weights above the threshold (embedding, lm_head, gate/up/down: > 4000 values) are .bin files
    read by the testbench and m_axi arguments, not source literals; csim (above) is still bit-exact."""
    root = llama_mixed.out_dir
    g = llama_mixed.graph
    big = {f"{n.name}_q_weight" for n in g.nodes.values() if "q_weight" in n.params and n.param("q_weight").size > 4000}
    assert "lm_head_linear_q_weight" in big and "model_embed_tokens_embedding_q_weight" in big
    for name in big:
        node = g.nodes[name[: -len("_q_weight")]]
        bits = node.attrs["param_bits"]["q_weight"]
        data = np.fromfile(root / "weights" / f"{name}.bin", dtype=np.int8 if bits <= 8 else np.int16)
        expected = offchip_layout(node, node.param("q_weight")).ravel()
        if bits < 8 and data.size < expected.size:  # packed: 8 // f fields of f bits per byte, low bits first
            f = container_bits(bits)
            fields = np.stack([(data.view(np.uint8) >> (i * f)) & ((1 << f) - 1) for i in range(8 // f)], axis=1)
            data, expected = fields.reshape(-1), expected & ((1 << f) - 1)  # raw two's-complement fields
        # in the order the stage reads it (a linear's rows as lane tiles: sequential m_axi bursts)
        assert np.array_equal(data, expected)
        header = (root / "weights" / f"{node.name}.h").read_text()
        assert f"typedef" in header and f" {name}[" not in header  # no literal array, only its type
        assert f"port={name}" in (root / "src" / f"{llama_mixed.report['top']}.cpp").read_text()
    small = next(n for n in g.nodes.values() if "model.layers.0.self_attn.q_proj" in n.source)  # q, k, v: 3840
    assert small.params["q_weight"].placement == "onchip"
