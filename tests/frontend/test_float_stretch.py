"""Llama (RMSNorm, SiLU gate, full rotary, grouped-query attention) and BERT (encoder, token-type
embeddings, no causal mask) imported and checked in float against PyTorch."""

from __future__ import annotations

import numpy as np
import pytest
from models import extended_model_zoo, tiny_bert

from llm2hls.frontend import import_model
from llm2hls.reference import run_graph

STRETCH = [z for z in extended_model_zoo() if z[0].startswith(("llama", "bert"))]


def _max_err(imp) -> float:
    ref = imp.torch_outputs(imp.example_inputs)
    got = run_graph(imp.graph, imp.example_inputs, "float")
    (out,) = imp.graph.outputs
    return float(np.abs(got[out] - ref[out]).max())


@pytest.mark.parametrize("name, factory, seq_len", STRETCH, ids=[z[0] for z in STRETCH])
def test_stretch_models_match_pytorch(name, factory, seq_len):
    model = factory()
    imp = import_model(model, seq_len=seq_len, name=name)
    assert _max_err(imp) <= 1e-4
    g = imp.graph
    att = [n for n in g.nodes.values() if n.op == "attention"]
    norms = [n for n in g.nodes.values() if n.op == "layernorm"]
    assert len(att) == 2
    if name.startswith("llama"):
        cfg = model.config
        assert g.outputs == ["logits"]
        assert all(n.attrs["kv_heads"] == cfg.num_key_value_heads and n.attrs["heads"] == cfg.num_attention_heads
                   for n in att)
        assert all(n.attrs["causal"] for n in att)
        # RMSNorm written out as x * rsqrt(mean(x^2) + eps), its gain folded in: one stage each.
        assert len(norms) == 5 and all(n.attrs["kind"] == "rms" and "weight" in n.params for n in norms)
        assert not any(n.op == "eltwise" and n.inputs[0] in {m.outputs[0] for m in norms} and len(n.inputs) == 1
                       for n in g.nodes.values())
        assert [n.attrs["fn"] for n in g.nodes.values() if n.op == "act"] == ["silu", "silu"]
    else:
        assert g.outputs == ["last_hidden_state"]
        assert not any(n.attrs["causal"] or "mask" in n.params for n in att)
        assert len(norms) == 5 and all(n.attrs["kind"] == "layer" for n in norms)


def test_bert_hf_folder_loads_as_encoder(tmp_path):
    folder = tmp_path / "bert_tiny"
    tiny_bert(layers=1).save_pretrained(str(folder))
    imp = import_model(folder, seq_len=6)
    assert imp.graph.outputs == ["last_hidden_state"]
    assert _max_err(imp) <= 1e-4
