"""Lowering of elementwise expressions and attention spellings, checked against PyTorch."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from llm2hls.errors import UnsupportedOpError
from llm2hls.frontend import import_model
from llm2hls.reference import run_graph

S, C, H = 6, 12, 3


def _check(model: torch.nn.Module, seq_len: int = S):
    imp = import_model(model, seq_len=seq_len)
    ref = imp.torch_outputs(imp.example_inputs)
    got = run_graph(imp.graph, imp.example_inputs, "float")
    (out,) = imp.graph.outputs
    assert np.abs(got[out] - ref[out]).max() <= 1e-5
    return imp.graph


class _Pointwise(torch.nn.Module):
    def __init__(self, fn):
        super().__init__()
        torch.manual_seed(0)
        self.emb, self.fc, self.fn = torch.nn.Embedding(17, C), torch.nn.Linear(C, C), fn

    def forward(self, ids):
        return self.fn(self.fc(self.emb(ids) * 3.0))


@pytest.mark.parametrize(
    "fn, table",
    [
        (lambda x: x * torch.sigmoid(x), "silu"),
        (lambda x: x / (1.0 + torch.exp(-x)), "silu"),
        (lambda x: x * 0.5 * (1.0 + torch.erf(x / math.sqrt(2.0))), "gelu_erf"),
        (lambda x: 0.5 * x * (1 + torch.tanh(0.7978845608028654 * (x + 0.044715 * x * x * x))), "gelu_tanh"),
    ],
)
def test_written_out_functions_become_one_table(fn, table):
    g = _check(_Pointwise(fn))
    acts = [n for n in g.nodes.values() if n.op == "act"]
    assert [n.attrs["fn"] for n in acts] == [table]
    assert not any(n.op == "eltwise" and len(n.inputs) == 2 for n in g.nodes.values())


def test_unrecognized_expression_is_lowered_literally():
    g = _check(_Pointwise(lambda x: 2.0 - x * torch.tanh(x) + x * x))
    ops = sorted(n.op for n in g.nodes.values())
    assert ops.count("act") == 1 and ops.count("eltwise") >= 3


def test_lone_erf_is_unsupported():
    with pytest.raises(UnsupportedOpError, match="aten.erf") as e:
        import_model(_Pointwise(torch.erf), seq_len=S)
    assert "erf" in e.value.aten_op and e.value.node.startswith("erf")


class _Attn(torch.nn.Module):
    """Single attention layer in one of several spellings."""

    def __init__(self, kind: str):
        super().__init__()
        torch.manual_seed(1)
        self.kind = kind
        self.emb, self.qkv, self.out = torch.nn.Embedding(17, C), torch.nn.Linear(C, 3 * C), torch.nn.Linear(C, C)
        pad = torch.ones(S, S, dtype=torch.bool)
        pad[:, -2:] = False  # the last two tokens are padding
        self.register_buffer("pad", pad)

    def forward(self, ids):
        x = self.emb(ids)
        q, k, v = (t.reshape(1, S, H, C // H).permute(0, 2, 1, 3) for t in self.qkv(x).chunk(3, dim=-1))
        if self.kind == "sdpa_padding":
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=self.pad)
        elif self.kind == "sdpa_zero_bias":
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=torch.zeros(S, S))
        else:
            scores = (q * 0.5) @ k.transpose(-2, -1)
            if self.kind == "where_causal":
                causal = torch.ones(S, S, dtype=torch.bool).tril()
                scores = torch.where(causal, scores, torch.finfo(torch.float32).min)
            elif self.kind == "explicit_padding":
                scores = scores - 1e9 * (~self.pad).float()
            y = torch.softmax(scores, dim=-1) @ v
        return self.out(y.transpose(1, 2).reshape(1, S, C))


@pytest.mark.parametrize(
    "kind, causal, masked",
    [("sdpa_padding", False, True), ("sdpa_zero_bias", False, False), ("where_causal", True, False),
     ("explicit_plain", False, False), ("explicit_padding", False, True)],
)
def test_attention_spellings(kind, causal, masked):
    g = _check(_Attn(kind))
    (att,) = [n for n in g.nodes.values() if n.op == "attention"]
    assert att.attrs["causal"] is causal and ("mask" in att.params) is masked
    assert att.attrs["heads"] == att.attrs["kv_heads"] == H and att.attrs["head_dim"] == C // H
    if masked:
        assert att.param("mask").shape == (S, S) and not att.param("mask")[:, -2:].any()
