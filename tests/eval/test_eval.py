"""``llm2hls eval`` on tiny models with a byte-level tokenizer: the three evaluations agree where
they must (float scheme: all equal; w8a16: integer close to fake-quant) and differ where they must."""

from __future__ import annotations

import numpy as np
import pytest
from models import tiny_bert, tiny_llama

from llm2hls.eval.evaluate import evaluate, mean_pool_cosine, nll_sum, paired_gap_stderr
from llm2hls.eval.text import pydoc_text


class ByteTokenizer:
    """Bytes modulo the vocabulary: enough to feed real text to a tiny model."""

    def __init__(self, vocab: int) -> None:
        self.vocab = vocab

    def __call__(self, text, add_special_tokens=False):
        return {"input_ids": [b % self.vocab for b in text.encode()]}


def test_pydoc_parts_are_disjoint_real_text():
    a, b = pydoc_text("calib"), pydoc_text("eval")
    assert len(a) > 100_000 and len(b) > 100_000
    assert a[:2000] not in b and "the" in b


def test_nll_and_cosine_oracles():
    logits = np.log(np.array([[0.5, 0.25, 0.25], [0.1, 0.8, 0.1], [1 / 3] * 3]))
    s, n = nll_sum(logits, np.array([0, 1, 1]))
    assert n == 2 and np.isclose(s, -np.log(0.25) - np.log(0.8))
    assert np.isclose(mean_pool_cosine(np.eye(2), 2 * np.eye(2)), 1.0)


def test_paired_gap_stderr():
    # two windows of 10 predictions whose mean NLLs differ by 0.1 and 0.3 nats: log ratio 0.2
    a, b = [(21.0, 10), (33.0, 10)], [(20.0, 10), (30.0, 10)]
    assert np.isclose(paired_gap_stderr(a, b), np.exp(0.2) * np.std([0.1, 0.3], ddof=1) / np.sqrt(2))
    assert paired_gap_stderr(a, a) == 0.0 and paired_gap_stderr(a[:1], b[:1]) == 0.0


@pytest.mark.parametrize("quant", ["float", "w8a16", "w4a8-asym"])
def test_eval_causal(quant):
    r = evaluate(tiny_llama(), quant=quant, max_tokens=96, seq_len=16, tokenizer=ByteTokenizer(101),
                 group_size=16 if quant.startswith("w4") else None)
    p = r["perplexity"]
    assert r["windows"] == 6 and r["kind"] == "causal_lm"
    if quant == "float":
        assert np.isclose(p["float"], p["fake_quant"]) and abs(p["integer"] / p["float"] - 1) < 1e-6
    else:
        assert p["integer"] != p["float"]
        assert abs(r["gap"]["integer_vs_fake_quant"]) < 0.05
        # per-window NLLs reproduce the perplexities; the paired gap's standard error is their spread
        nll = {k: np.array(v) for k, v in r["window_nll"].items()}
        assert len(nll["integer"]) == r["windows"]
        assert np.isclose(np.exp(nll["integer"].sum() / (r["windows"] * 15)), p["integer"])
        d = (nll["integer"] - nll["fake_quant"]) / 15
        ratio = p["integer"] / p["fake_quant"]
        assert np.isclose(r["gap_stderr"]["integer_vs_fake_quant"], ratio * d.std(ddof=1) / np.sqrt(len(d)), rtol=1e-4)
        if quant == "w8a16":
            assert abs(r["gap"]["integer_vs_float"]) < 0.02


def test_eval_encoder_cosine():
    r = evaluate(tiny_bert(), quant="w8a8", max_tokens=64, seq_len=8, tokenizer=ByteTokenizer(50))
    c = r["cosine"]
    assert c["float"]["min"] > 0.999999
    assert 0.95 < c["integer"]["mean"] < 1.0 and 0.95 < c["fake_quant"]["mean"] < 1.0
