"""Bug-injection rules: every class applies somewhere, spans are exact, choices are seeded."""

from __future__ import annotations

import functools

import pytest

from llm2hls.dataset.classic import KERNELS, build_classic, param_grid
from llm2hls.dataset.generate import plan_task
from llm2hls.dataset.mutate import BUG_CLASSES, Source, rules_for
from llm2hls.dataset.mutate.core import apply_edits, bug_spans
from llm2hls.dataset.static_check import check, new_violations

SMALL = """\
void k(const int a[16], int s, int out[16]) {
#pragma HLS INTERFACE mode=ap_memory port=a
#pragma HLS ARRAY_PARTITION variable=a cyclic factor=4 dim=1
    int acc = 0;
L:
    for (int i = 0; i < 16; i++) {
#pragma HLS PIPELINE II=1
        acc += a[i] << s;
        out[i] = acc;
    }
}
"""


@functools.lru_cache(maxsize=1)
def _designs():
    return [build_classic(KERNELS[k], param_grid(KERNELS[k])[0], n_vectors=1) for k in sorted(KERNELS)]


def _region(text: str, l0: int, c0: int, l1: int, c1: int) -> str:
    lines = text.split("\n")
    if l0 == l1:
        return lines[l0 - 1][c0:c1]
    return "\n".join([lines[l0 - 1][c0:], *lines[l0:l1 - 1], lines[l1 - 1][:c1]])


@pytest.mark.parametrize("cls", BUG_CLASSES)
def test_every_class_applies_with_exact_spans(cls):
    rule = rules_for([cls])[cls]
    assert rule.__doc__ and len(rule.__doc__) > 30
    found = 0
    for d in _designs():
        text = d.files["src/kernel.cpp"]
        for m in rule.candidates(Source(text))[:3]:
            new = apply_edits(text, m.edits)
            assert new != text and m.cls == cls
            for b in bug_spans(text, m):
                assert b["class"] == cls
                assert _region(text, b["line"], b["col"], b["end_line"], b["end_col"]) == b["original"]
                assert _region(new, b["mutated_line"], b["mutated_col"], b["mutated_end_line"],
                               b["mutated_end_col"]) == b["mutated"]
            found += 1
    assert found > 0, f"no classic kernel offers {cls}"


def test_oob_span_on_small_kernel():
    m = rules_for(["OOB"])["OOB"].candidates(Source(SMALL))
    assert len(m) == 1
    (b,) = bug_spans(SMALL, m[0])
    col = SMALL.split("\n")[5].index("< 16")  # 0-based column of the bound comparison
    assert (b["line"], b["col"], b["end_col"], b["original"], b["mutated"]) == (6, col, col + 1, "<", "<=")
    assert "i <= 16" in apply_edits(SMALL, m[0].edits)


def test_shift_and_fnd_on_small_kernel():
    (m,) = rules_for(["SHFT"])["SHFT"].candidates(Source(SMALL))
    assert "a[i] << s + 32" in apply_edits(SMALL, m.edits)
    (f,) = rules_for(["FND"])["FND"].candidates(Source(SMALL))
    viol = new_violations(SMALL, apply_edits(SMALL, f.edits))
    assert [v.message for v in viol] == ["ARRAY_PARTITION factor 5 does not divide dim 1 of 'a' (size 16)"]


def test_static_checker_rules():
    bad = SMALL.replace("mode=ap_memory port=a", "mode=ap_none port=a")
    assert [v.rule for v in check(bad)] == ["AMS"]
    block = SMALL.replace("cyclic factor=4", "block factor=4").replace("acc += a[i] << s;",
                                                                         "acc += a[i] + a[i + 1] + a[i + 2];")
    rules = [v.rule for v in check(block)]
    assert rules == ["APT/DID"]  # a[i], a[i+1], a[i+2] all in block 0
    assert check(SMALL) == []


def test_base_designs_break_no_static_rule():
    for d in _designs():
        assert check(d.files["src/kernel.cpp"], d.facts) == [], d.id


def test_plan_is_deterministic_per_seed():
    a = [plan_task(7, i, BUG_CLASSES) for i in range(12)]
    b = [plan_task(7, i, BUG_CLASSES) for i in range(12)]
    c = [plan_task(8, i, BUG_CLASSES) for i in range(12)]
    key = lambda plans: [(p[0].id, p[2], [(e.start, e.end, e.new) for m in p[1] for e in m.edits]) for p in plans if p]
    assert key(a) == key(b)
    assert key(a) != key(c)


def test_cli_user_errors(tmp_path):
    from click.testing import CliRunner

    from llm2hls.cli import main

    r = CliRunner().invoke(main, ["dataset", "verify", str(tmp_path / "missing")])
    assert r.exit_code == 2 and "does not exist" in r.output
    r = CliRunner().invoke(main, ["dataset", "generate", "--out", str(tmp_path / "d"), "--classes", "NOPE"])
    assert r.exit_code == 2 and "unknown bug class" in r.output
    assert not (tmp_path / "d" / "records.jsonl").exists()
    r = CliRunner().invoke(main, ["dataset", "generate", "--out", str(tmp_path / "d"), "--stop-after", "0"])
    assert r.exit_code == 2 and "--stop-after" in r.output and not (tmp_path / "d").exists()


def test_splits_hold_out_a_model_architecture():
    """Each split gets one architecture of the generated kernels, so test holds LLM kernels of an
    architecture never seen in training; classic kernels keep their family's split."""
    from llm2hls.dataset.generate import split_of

    gen = {a: split_of(f"gen-{a}") for a in ("gpt2", "gpt_neox", "llama")}
    assert sorted(gen.values()) == ["test", "train", "val"]
    assert {split_of(k.family or k.name) for k in KERNELS.values()} == {"train", "val", "test"}
    assert split_of("gemm") == split_of("gemm")  # a family has one split
