"""A real harness with a real injected bug (the fake chat server is in fakechat.py)."""

from __future__ import annotations

import json
import pytest

from llm2hls.dataset.classic import KERNELS, build_classic
from llm2hls.dataset.mutate import rules_for
from llm2hls.dataset.mutate.core import Source, apply_edits, bug_spans

@pytest.fixture(autouse=True)
def _build_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("LLM2HLS_CACHE", str(tmp_path_factory.getbasetemp() / "llm2hls-cache"))


@pytest.fixture(scope="session")
def gemm_case(tmp_path_factory):
    """(harness dir, base design, kernel path, buggy text, bug line): the OOB mutator's first site
    in a small GEMM (loop bound of ``i`` made inclusive -> ASan reports the overflow)."""
    d = build_classic(KERNELS["gemm"], {"N": 4, "M": 4, "K": 8, "U": 2}, n_vectors=1)
    path = d.mutable[0]
    text = d.files[path]
    mut = rules_for(["OOB"])["OOB"].candidates(Source(text, path))[0]
    buggy = apply_edits(text, mut.edits)
    line = bug_spans(text, mut)[0]["mutated_line"]
    root = tmp_path_factory.mktemp("harness")
    (root / "design.json").write_text(json.dumps(d.to_json()))
    return root, d, path, buggy, line
