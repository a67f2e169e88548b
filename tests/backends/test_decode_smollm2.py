"""SmolLM2-135M (real weights) decodes in C simulation, token for token equal to the integer
reference (issue 6). Slow: GGUF import, calibration and a large csim build; run with -m slow.
Measured figures: benchmarks/smollm2_decode.py, benchmarks/results/smollm2_decode.json."""

from __future__ import annotations

import pytest

pytest.importorskip("gguf")


@pytest.mark.slow
def test_smollm2_greedy_decode_in_csim(tmp_path):
    from llm2hls.debug.backends import smollm2_gguf
    from llm2hls.eval.text import load_tokenizer, tokenize
    from llm2hls.pipeline import compile_model

    gguf = smollm2_gguf()
    prompt = [int(t) for t in tokenize(load_tokenizer(str(gguf)), "The capital of France is")]
    res = compile_model(str(gguf), out_dir=tmp_path / "smol", quant="w8a16", decode=True, max_context=24,
                        prompt=prompt, new_tokens=8)
    assert res.csim is not None and res.csim["passed"] and res.csim["mismatches"] == 0, res.csim
    assert res.csim["tokens"] == res.report["decode"]["reference_tokens"]
    assert len(res.csim["tokens"]) == 8
    # every logits row (prefill and the 7 decode calls) and every token was compared
    vocab = res.graph.tensors[res.graph.outputs[0]].type.shape[-1]
    assert res.csim["elements"] == (len(prompt) + 7) * vocab + 8
