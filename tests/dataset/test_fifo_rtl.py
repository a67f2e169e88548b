"""FIFO-depth bugs of a generated design get a hardware verdict from RTL simulation (slow: compiles a
tiny model and builds its RTL with Verilator three times)."""

from __future__ import annotations

import pytest

from llm2hls.dataset.generated import catalog_base
from llm2hls.dataset.mutate.core import Source, apply_edits, rules_for
from llm2hls.dataset.static_check import check
from llm2hls.dataset.toolchain import Builder
from llm2hls.dataset.verify import classify


@pytest.mark.slow
def test_shallow_fifo_deadlocks_on_rtl_and_harmless_one_is_equivalent(tmp_path):
    d = catalog_base(0)
    path = d.mutable[0]
    need = d.facts["fifo_min_depth"]  # the depths the FIFO pass raised for reconvergent paths
    assert need and not check(d.files[path], d.facts)
    cands = rules_for(["FIFO"])["FIFO"].candidates(Source(d.files[path], path))
    var = next(iter(need))
    deep = next(m for m in cands if f"'{var}' {need[var]} -> 1" in m.note)
    shallow_ok = next(m for m in cands if m.note.endswith("2 -> 1"))
    b = Builder(tmp_path / "cache")
    v = classify(d, {path: apply_edits(d.files[path], deep.edits)}, ["FIFO"], b)
    assert v["label"] == "buggy" and v["kind"] == "rtl_deadlock" and "has not finished" in v["evidence"]
    assert "verilator" in v["tools"] and len(v["tools"]["llm2hls_rtl_sha256"]) == 16  # which RTL library ruled
    v = classify(d, {path: apply_edits(d.files[path], shallow_ok.edits)}, ["FIFO"], b)
    assert v["kind"] == "equivalent" and "passes bit-exact" in v["evidence"]


@pytest.mark.slow
def test_rtl_build_is_cached_and_the_bench_runs_again(tmp_path):
    from llm2hls.dataset.rtl_check import simulate_depths

    d = catalog_base(0)
    var = next(iter(d.facts["fifo_min_depth"]))
    depths = {d.facts["rtl"]["streams"][var]: 2}
    first = simulate_depths(d, depths, workdir=tmp_path, build_cache=tmp_path / "builds")
    again = simulate_depths(d, depths, workdir=tmp_path, build_cache=tmp_path / "builds")
    assert first["built"] and not again["built"]  # the second run simulated the cached model
    assert len(list((tmp_path / "builds").iterdir())) == 1
    assert {k: again[k] for k in ("passed", "all_cycles", "mismatches")} == \
        {k: first[k] for k in ("passed", "all_cycles", "mismatches")}


def test_design_the_rtl_backend_refuses_gets_no_rtl_verdict_and_no_crash(tmp_path):
    """A FIFO mutant of a design with group-wise weight scales (no RTL support) is judged by the static
    rules instead of aborting the dataset run with the backend's UserError."""
    from llm2hls.dataset.rtl_check import fifo_verdict

    d = catalog_base(3)  # GPT-2, w4a16: group-wise scales
    path = d.mutable[0]
    cands = rules_for(["FIFO"])["FIFO"].candidates(Source(d.files[path], path))
    files = {path: apply_edits(d.files[path], cands[0].edits)}
    v = fifo_verdict(d, files, tmp_path)
    assert v["status"] == "unsupported" and "RTL backend does not" in v["detail"]
    assert fifo_verdict(d, files, tmp_path) == v  # memoised: the refusal is not re-derived per mutant
    v = classify(d, files, ["FIFO"], Builder(tmp_path / "cache"))
    assert v["kind"] in ("static_violation", "equivalent") and "verilator" not in v["tools"]
