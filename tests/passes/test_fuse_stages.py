"""Q/K/V, gated-MLP and residual+norm fusion: structure, and identical integer outputs against the
unfused graph (the reference interpreter is the oracle), for Llama (GQA), GPT-NeoX and BERT."""

from __future__ import annotations

import numpy as np
import pytest

from llm2hls.errors import UserError
from llm2hls.frontend import import_model
from llm2hls.frontend.model import make_example_inputs
from llm2hls.passes.fuse import FUSIONS, fuse, parse_fusions, unfuse
from llm2hls.passes.quantize import QuantConfig, quantize_graph
from llm2hls.pipeline import calibrate_and_smooth
from llm2hls.reference import quantize_inputs, run_graph

UNFUSED = ("act", "residual")  # what the compiler fused before these passes existed


@pytest.fixture(scope="module")
def graphs():
    from models import tiny_bert, tiny_gpt_neox, tiny_llama

    made = {"llama": tiny_llama(), "neox": tiny_gpt_neox(), "bert": tiny_bert(layers=1)}
    return {k: import_model(m, seq_len=6, name=k).graph for k, m in made.items()}


def _quantized(graph, fusions, scheme="w8a16"):
    g = fuse(graph, fusions)
    config = QuantConfig.from_scheme(scheme)
    calib = [make_example_inputs(graph, seed) for seed in (1, 2, 3)]
    return quantize_graph(calibrate_and_smooth(g, calib, config), config)


def _int_outputs(g, seed=7):
    return run_graph(g, quantize_inputs(g, make_example_inputs(g, seed)), mode="int")


def _ops(g):
    return sorted(n.op + ("+glu" if n.attrs.get("glu") else "+segments" if "segments" in n.attrs else "")
                  + ("+residual" if n.attrs.get("residual") else "") for n in g.nodes.values())


@pytest.mark.parametrize("name, scheme", [("llama", "w8a16"), ("llama", "w4a8"), ("neox", "w8a16"),
                                          ("bert", "w8a16")])
def test_fused_and_unfused_integer_outputs_are_identical(graphs, name, scheme):
    unfused = _quantized(graphs[name], UNFUSED, scheme)
    fused = _quantized(graphs[name], FUSIONS, scheme)
    assert len(fused.nodes) < len(unfused.nodes)
    (out,) = fused.outputs
    assert fused.tensors[out].type == unfused.tensors[out].type
    a, b = _int_outputs(unfused)[out], _int_outputs(fused)[out]
    assert a.dtype == b.dtype == np.int64 and np.array_equal(a, b)  # zero differing elements
    assert np.abs(a).max() > 0
    # and expanding the fused stages again (what the RTL backend maps) changes nothing either
    back, changed = unfuse(fused)
    assert changed
    back.validate()
    assert _ops(back) == _ops(unfused)
    assert np.array_equal(_int_outputs(back)[out], a)


def test_llama_stage_structure(graphs):
    g = graphs["llama"]
    f = fuse(g)
    qkv = [n for n in f.nodes.values() if "segments" in n.attrs and not n.attrs.get("glu")]
    glu = [n for n in f.nodes.values() if n.attrs.get("glu")]
    assert len(qkv) == len(glu) == 2  # one of each per layer
    q = qkv[0]
    assert q.attrs["segments"] == [48, 16, 16]  # 6 query heads, 2 KV heads (GQA) of 8
    assert [s.rsplit(".", 1)[-1] for s in q.source.split(", ")] == ["q_proj", "k_proj", "v_proj"]
    assert len(q.outputs) == 3 and len(q.inputs) == 1
    assert glu[0].attrs["act"] == "silu" and glu[0].attrs["segments"] == [88, 88]
    assert glu[0].param("weight").shape == (176, 48) and len(glu[0].outputs) == 1
    assert f.meta["fusion"]["removed"]["siblings"] == 4 and f.meta["fusion"]["removed"]["glu"] == 4
    assert "segments" not in g.nodes[q.attrs["fused"][0]].attrs  # the input graph is untouched
    # float meaning unchanged (the fused stage computes the same float64 values)
    x = make_example_inputs(g, 3)
    assert np.array_equal(run_graph(g, x)["logits"], run_graph(f, x)["logits"])


def test_residual_norm_writes_the_residual_stream(graphs):
    f = fuse(graphs["neox"])
    norms = [n for n in f.nodes.values() if n.op == "layernorm" and n.attrs.get("residual")]
    # the second add of layer 0's parallel residual feeds layer 1's norms and its residual; the last
    # one feeds only the final norm
    assert [len(n.outputs) for n in norms] == [2, 1]
    h = norms[0].outputs[1]
    assert len([n for n in f.nodes.values() if h in n.inputs]) >= 2


def test_segments_are_quantized_as_their_own_linears(graphs):
    fused = _quantized(graphs["llama"], FUSIONS)
    unfused = _quantized(graphs["llama"], UNFUSED)
    q = next(n for n in fused.nodes.values() if "segments" in n.attrs and not n.attrs.get("glu"))
    fm = q.attrs["param_types"]["q_scale"]["frac"]
    row = 0
    for name, out in zip(q.attrs["fused"], q.outputs):
        alone = unfused.nodes[name]
        assert fused.tensors[out].type == unfused.tensors[out].type  # its own output type
        n = alone.param("q_scale").shape[0]
        shift = fm - alone.attrs["param_types"]["q_scale"]["frac"]  # one stage fraction: exact shifts
        assert shift >= 0 and np.array_equal(q.param("q_scale")[row:row + n], alone.param("q_scale") << shift)
        assert np.array_equal(q.param("q_weight")[row:row + n], alone.param("q_weight"))
        row += n


def test_fusion_names():
    assert parse_fusions(None) == FUSIONS == parse_fusions("all")
    assert parse_fusions("none") == () == parse_fusions("")
    assert parse_fusions("norm, act") == ("act", "norm")
    with pytest.raises(UserError, match="unknown fusion 'qkv'"):
        parse_fusions("act,qkv")
