"""The LLM bug classes (and USE) find their sites in the kernels llm2hls itself generates, not only in the
hand-written classic ones (compiles a tiny GPT-2: ~25 s), and those mutants fail the harness
(slow: builds the generated kernel's units, ~40 s of CPU)."""

from __future__ import annotations

import functools

import pytest

from llm2hls.dataset.generated import catalog_base
from llm2hls.dataset.mutate.core import Source, apply_edits, rules_for
from llm2hls.dataset.verify import classify


@functools.lru_cache(maxsize=1)
def _gpt2():
    d = catalog_base(0)
    return d, d.mutable[0]


def _mutants(cls: str) -> dict[str, str]:
    d, path = _gpt2()
    text = d.files[path]
    return {m.note: apply_edits(text, m.edits) for m in rules_for([cls])[cls].candidates(Source(text))}


def test_classes_find_the_generated_attention_and_accumulators():
    assert list(_mutants("NOMAX")) == ["max subtraction dropped from 'm - s[j]'"]  # m: found by its updates
    assert list(_mutants("NOSCALE")) == ["scale 'scale_q' dropped"]
    notes = set(_mutants("ACCRST"))
    assert {"reset of 'acc[l]' moved into the inner loop",  # a linear stage's zeroing loop
            "reset of 'acc[c]' hoisted out of its loop",  # attention's weighted-value sums
            "reset of 'qk' repeated inside the inner loop",  # a declaration's reset
            "reset of 'total' hoisted out of its loop"} <= notes
    # the exponential's unsigned type (values in [0, 1]) made signed: 1.0 no longer fits
    assert "'ap_ufixed<17, 1, AP_RND, AP_SAT>' made signed" in _mutants("USE")


@pytest.mark.slow
@pytest.mark.parametrize("cls, note", [("NOMAX", "max subtraction dropped from 'm - s[j]'"),
                                       ("ACCRST", "reset of 'qk' hoisted out of its loop"),
                                       ("USE", "'ap_ufixed<17, 1, AP_RND, AP_SAT>' made signed")])
def test_generated_llm_mutants_fail_the_harness(builder, cls, note):
    d, path = _gpt2()
    v = classify(d, {path: _mutants(cls)[note]}, [cls], builder)
    assert v["label"] == "buggy" and v["kind"] == "mismatch", v
