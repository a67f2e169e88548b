"""The fast paths of verification give the verdicts of the slow ones: the precompiled header is
really used, unit builds equal whole-file builds, base validity is memoised, FIFO depths reach the
RTL path, and a debugger sees a record's failing vector."""

from __future__ import annotations

import json

import pytest

import llm2hls.dataset.harness as harness
from llm2hls.dataset.classic import KERNELS, build_classic
from llm2hls.dataset.items import failing_first
from llm2hls.dataset.mutate.core import Source, apply_edits, rules_for
from llm2hls.dataset.rtl_check import changed_depths, stream_depths
from llm2hls.dataset.units import affected_functions, layout


def test_precompiled_header_is_used(builder):
    assert builder.pch_used()  # a .gch built with other flags (or not at all) would be ignored silently


def _dataflow():
    return build_classic(KERNELS["dataflow"], {"R": 2, "C": 8}, n_vectors=2)


def test_unit_build_gives_the_whole_file_verdict(builder, monkeypatch):
    d = _dataflow()
    path = d.mutable[0]
    text = d.files[path] = d.files[path].replace("static void", "void")  # stages like a generated kernel's
    lay = layout(text, path)
    assert lay is not None and len(lay.functions) >= 3 and lay.unit(set(lay.functions)) == text
    src = Source(text, path)
    muts = [m for c in ("OOB", "SCNT", "USE") for m in rules_for([c])[c].candidates(src)[:1]]
    planned = [affected_functions(lay, apply_edits(text, m.edits), path) for m in muts]
    assert any(p is not None and 0 < len(p[1]) < len(lay.functions) for p in planned)  # the split helps
    fast = [harness.run_design(d, builder, {path: apply_edits(text, m.edits)}).to_json() for m in muts]
    monkeypatch.setattr(harness, "_layout", lambda *_: None)  # force whole-file builds
    whole = [harness.run_design(d, builder, {path: apply_edits(text, m.edits)}).to_json() for m in muts]
    assert fast == whole and {o["status"] for o in fast} - {"pass"}


def test_change_to_a_shared_item_rebuilds_its_users():
    text = ("typedef int acc_t;\nstatic int helper(int x) { return x + 1; }\n"
            "void a(int* p) { p[0] = helper(p[0]); }\nvoid b(int* p) { acc_t s = p[0]; p[0] = s; }\n"
            "void c(int* p) { p[0] = 3; }\n")
    lay = layout(text, "k.cpp")
    assert affected_functions(lay, text.replace("x + 1", "x + 2"), "k.cpp")[1] == {"a"}
    assert affected_functions(lay, text.replace("typedef int", "typedef short"), "k.cpp")[1] == {"b"}
    assert affected_functions(lay, text.replace("p[0] = 3", "p[1] = 3"), "k.cpp")[1] == {"c"}
    assert layout("int counter;\n" + text, "k.cpp") is None  # mutable file-scope state: build whole


def test_base_validity_is_memoised_on_disk(builder, monkeypatch):
    import llm2hls.dataset.generate as gen

    d = _dataflow()
    gen._VALID.clear()
    assert gen._valid(d, builder)
    gen._VALID.clear()
    monkeypatch.setattr(gen, "run_design", lambda *_a, **_k: pytest.fail("base design rebuilt"))
    assert gen._valid(d, builder)


def test_stream_depth_changes_map_to_ir_tensors():
    d = _dataflow()
    path = d.mutable[0]
    assert stream_depths(d.files[path]) == {"a": 2, "b": 8, "m": 2}
    shallow = d.files[path].replace("variable=b depth=8", "variable=b depth=2")
    assert changed_depths(d, {path: shallow}) == {}  # no RTL facts: the static rule decides
    d.facts["rtl"] = {"streams": {"a": "t_a", "b": "t_b", "m": "t_m"}}
    assert changed_depths(d, {path: shallow}) == {"t_b": 2}


def test_debugger_sees_the_failing_vector():
    d = _dataflow()
    shown = failing_first(d, 1)
    assert shown.vectors[0] == d.vectors[1] and shown.vectors[1] == d.vectors[0]
    assert failing_first(d, None) is d and failing_first(d, 0) is d
