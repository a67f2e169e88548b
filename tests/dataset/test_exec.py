"""Execution side: harnesses pass on base designs, mutants get evidence, the sandbox holds."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

from llm2hls.dataset.classic import KERNELS, build_classic
from llm2hls.dataset.generate import generate, verify_dataset
from llm2hls.dataset.harness import run_design
from llm2hls.dataset.toolchain import run_limited
from llm2hls.dataset.verify import classify


def _gemm():
    return build_classic(KERNELS["gemm"], {"N": 4, "M": 4, "K": 8, "U": 2}, n_vectors=2)


def test_harness_catches_one_lsb(builder, tmp_path):
    d = _gemm()
    assert run_design(d, builder, workdir=tmp_path).status == "pass"
    # one golden value off by one LSB must fail with the first differing output named
    gold = d.vectors[0]["tb/golden.txt"].split()
    gold[5] = str(int(gold[5]) + 1)
    d.vectors[0]["tb/golden.txt"] = " ".join(gold) + "\n"
    out = run_design(d, builder, workdir=tmp_path)
    assert out.status == "mismatch" and out.detail.startswith("MISMATCH C[5]")
    assert list(tmp_path.iterdir()) == []  # sandbox dirs removed


def test_hanging_mutant_is_killed(builder, tmp_path):
    d = _gemm()
    src = d.files["src/kernel.cpp"].replace("for (int u = 0; u < 2; u++)", "for (int u = 0; u < 2; )")
    v = classify(d, {"src/kernel.cpp": src}, ["INF"], builder)
    assert v["label"] == "buggy" and v["kind"] == "timeout"
    assert "g++" in v["tools"]


def test_compile_timeout_is_no_evidence(builder, monkeypatch):
    """A compile killed by its time limit (an overloaded machine) must not become a compile_error
    verdict: the task is rejected as a tool failure instead."""
    from llm2hls.dataset import generate as gen
    from llm2hls.dataset.toolchain import RunResult, ToolFailure

    d = _gemm()
    src = d.files["src/kernel.cpp"].replace("C[", "C [", 1)  # a fresh source: no cached object
    monkeypatch.setattr(type(builder), "compile", lambda self, *a: RunResult(None, "", "", True))
    with pytest.raises(ToolFailure, match="timed out"):
        classify(d, {"src/kernel.cpp": src}, ["OOB"], builder)
    monkeypatch.setattr(gen, "make_task", lambda *a: (_ for _ in ()).throw(ToolFailure("compile of x timed out")))
    monkeypatch.setattr(gen, "_WORKER_BUILDER", None)  # _worker sets it: later forked pools must not inherit it
    res = gen._worker(("t-0", 0, 0, ["OOB"], str(builder.cache), []))
    assert res["status"] == "rejected" and res["reason"] == "tool failure: compile of x timed out"


def test_memory_limit_applies(tmp_path):
    r = run_limited([sys.executable, "-c", "x = bytearray(3 << 30)"], tmp_path, 20, 1 << 30)
    assert r.returncode != 0 and "MemoryError" in r.stderr


def test_static_only_bug_needs_a_rule(builder):
    d = build_classic(KERNELS["dataflow"], {"R": 2, "C": 8}, n_vectors=2)
    src = d.files["src/kernel.cpp"]
    shallow = src.replace("variable=b depth=8", "variable=b depth=2")
    v = classify(d, {"src/kernel.cpp": shallow}, ["FIFO"], builder)
    assert v["kind"] == "static_violation" and "depth=2 of 'b' is below the 8" in v["evidence"]
    harmless = src.replace("variable=a depth=2", "variable=a depth=1")
    assert classify(d, {"src/kernel.cpp": harmless}, ["FIFO"], builder)["label"] == "equivalent"


CLASSES = ["OOB", "SCNT", "FND", "NOSCALE"]  # fast verdicts, execution and static


@pytest.fixture(scope="module")
def small_dataset(tmp_path_factory, seed_cache):
    out = tmp_path_factory.mktemp("ds") / "ds"
    seed_cache(out / ".cache")
    table = generate(out, len(CLASSES), 2, 3, CLASSES, echo=lambda *_: None)
    return out, table


def test_generate_records_and_verify(small_dataset):
    out, table = small_dataset
    recs = [json.loads(l) for l in (out / "records.jsonl").read_text().splitlines()]
    assert len({r["id"] for r in recs}) == len(recs) >= len(CLASSES) - 1
    assert set(table) == set(CLASSES)
    for r in recs:
        assert r["verdict"]["label"] in ("buggy", "equivalent") and r["bugs"] and r["diff"].startswith("--- a/")
        assert (out / r["rerun"]["design"]).exists()
    assert "Yield per class" in (out / "DATASET.md").read_text()
    n, fails = verify_dataset(out, 2, echo=lambda *_: None)
    assert n == len(recs) and fails == []


def test_release_needs_a_clean_verify_and_freezes_the_files(small_dataset, tmp_path):
    import tarfile

    from llm2hls.dataset.release import check_release, release
    from llm2hls.errors import UserError

    d = tmp_path / "ds"
    shutil.copytree(small_dataset[0], d, symlinks=True)
    (d / "verify.json").unlink(missing_ok=True)
    with pytest.raises(UserError, match="were not verified; run 'llm2hls dataset verify"):
        release(d, "1.0.0")
    assert verify_dataset(d, 2, echo=lambda *_: None)[1] == []
    with pytest.raises(UserError, match="MAJOR.MINOR.PATCH"):
        release(d, "1.0")
    tar = release(d, "1.0.0", tmp_path / "rel.tar.gz")
    assert not (d / "release.json").exists()  # the working folder stays resumable
    manifest = json.loads((tmp_path / "rel.release.json").read_text())
    recs = (d / "records.jsonl").read_text().splitlines()
    assert manifest["version"] == "1.0.0" and manifest["records"] == len(recs) == manifest["verify"]["confirmed"]
    assert "records.jsonl" in manifest["files"] and any(f.startswith("bases/") for f in manifest["files"])
    with pytest.raises(UserError, match="exists: a version names one snapshot"):
        release(d, "1.0.0", tar)
    with tarfile.open(tar) as t:
        names = t.getnames()
        t.extractall(tmp_path / "unpacked")
    assert not any(".cache" in n or n.endswith("verify.json") for n in names)
    unpacked = tmp_path / "unpacked" / "llm2hls-hls-debug-1.0.0"
    assert json.loads((unpacked / "release.json").read_text()) == manifest and check_release(unpacked) == []
    shutil.copytree(d / ".cache", unpacked / ".cache", symlinks=True)  # only to keep the re-run cheap
    (unpacked / "DATASET.md").write_text("edited\n")  # verify reports a changed release file as a failure
    assert verify_dataset(unpacked, 2, echo=lambda *_: None)[1] == [
        "release: DATASET.md: differs from the release manifest"]
    (unpacked / "records.jsonl").write_text("\n".join(recs[1:]) + "\n")  # a record dropped
    assert "records.jsonl: differs from the release manifest" in check_release(unpacked)


def test_verify_reruns_cached_objects_or_rebuilds_all(small_dataset, monkeypatch):
    """verify re-links and re-runs every record; with the cache it compiles only what generate could
    not cache (failed compiles), with --no-cache everything, in a private cache removed afterwards."""
    from llm2hls.dataset.toolchain import Builder

    out, _ = small_dataset
    recs = [json.loads(l) for l in (out / "records.jsonl").read_text().splitlines()]
    assert all(r["cost"]["cpu_s"] > 0 for r in recs) and "CPU s per record" in (out / "DATASET.md").read_text()
    log = out.parent / "compiles.log"
    compile_ = Builder.compile

    def counted(self, src, obj, incs):
        with open(log, "a") as f:  # workers are forked: a file collects their calls
            f.write(f"{src}\n")
        return compile_(self, src, obj, incs)

    monkeypatch.setattr(Builder, "compile", counted)
    n, fails = verify_dataset(out, 2, echo=lambda *_: None)
    cached_compiles = len(log.read_text().splitlines()) if log.exists() else 0
    assert n == len(recs) and fails == []
    assert cached_compiles <= sum(r["verdict"]["kind"] == "compile_error" for r in recs)
    n, fails = verify_dataset(out, 2, echo=lambda *_: None, cache=False)
    assert fails == [] and len(log.read_text().splitlines()) - cached_compiles >= len(recs)
    assert not list(out.glob(".verify-cache-*"))


def test_time_budget_stops_then_resumes(small_dataset, tmp_path):
    out, _ = small_dataset
    copy = tmp_path / "ds"
    shutil.copytree(out / ".cache", copy / ".cache", symlinks=True)  # its objects: the same tasks run fast
    generate(copy, len(CLASSES), 1, 3, CLASSES, echo=lambda *_: None, stop_after=0)
    rows = lambda: [json.loads(l)["id"] for f in ("records.jsonl", "rejected.jsonl")
                    for l in (copy / f).read_text().splitlines()]
    assert len(rows()) == 2  # the two tasks in flight (2 x jobs) finished, none was started after
    generate(copy, len(CLASSES), 1, 3, CLASSES, echo=lambda *_: None)
    assert sorted(rows()) == [f"s3-{i:06d}" for i in range(len(CLASSES))]


def test_resume_after_interruption(small_dataset, tmp_path):
    out, _ = small_dataset
    copy = tmp_path / "ds"
    shutil.copytree(out, copy)
    lines = (copy / "records.jsonl").read_text().splitlines(True)
    # interruption: the last record was torn mid-write
    (copy / "records.jsonl").write_text("".join(lines[:-1]) + lines[-1][: len(lines[-1]) // 2])
    generate(copy, len(CLASSES), 2, 3, CLASSES, echo=lambda *_: None)
    again = (copy / "records.jsonl").read_text().splitlines()
    ids = [json.loads(l)["id"] for l in again]
    assert len(ids) == len(set(ids)) == len(lines)
    strip = lambda ls: sorted(json.dumps({**json.loads(l), "verdict": json.loads(l)["verdict"]["kind"], "cost": 0})
                              for l in ls)
    assert strip(again) == strip(lines)  # same records (and verdict kinds), deterministically re-made


def _write_preds(path, items, fn):
    path.write_text("".join(json.dumps({"id": it.id, **fn(it)}) + "\n" for it in items))


def test_evaluate_oracle_and_wrong_debuggers(small_dataset, tmp_path):
    from llm2hls.dataset.evaluate import evaluate
    from llm2hls.dataset.items import load_items

    out, _ = small_dataset
    items = load_items(out)
    buggy = [it for it in items if it.buggy]
    assert buggy and any(it.kind == "clean" for it in items)

    def oracle(it):  # knows the truth and restores the base file
        if not it.buggy:
            return {"buggy": False}
        return {"buggy": True, "classes": it.classes, "lines": [[f, min(ls)] for f, ls in it.lines.items()],
                "fixes": [{f: it.base.files[f] for f in it.files}]}

    _write_preds(tmp_path / "oracle.jsonl", items, oracle)
    m = evaluate(out, tmp_path / "oracle.jsonl", jobs=2)
    assert m["detection"]["recall"] == 1.0 and m["detection"]["fp"] == 0
    assert m["localization"]["top1"] == 1.0 and m["class_macro_f1"] == 1.0
    assert m["repair"]["pass@1"] == 1.0

    def wrong(it):  # says everything is buggy, points at line 1, "fixes" one item by changing nothing
        fixes = [dict(it.files)] if it is buggy[0] else []
        return {"buggy": True, "classes": ["ZERO"], "lines": [[f, 1] for f in it.files], "fixes": fixes}

    _write_preds(tmp_path / "wrong.jsonl", items, wrong)
    m = evaluate(out, tmp_path / "wrong.jsonl", jobs=2)
    assert m["detection"]["fpr_clean"] == 1.0 and m["localization"]["top1"] == 0.0
    assert m["repair"]["pass@1"] == 0.0  # the unchanged buggy code still fails its harness or rule


def test_harness_runs_see_a_fixed_address_layout(tmp_path):
    """Runs are deterministic even for programs that read uninitialised memory (INIT bugs)."""
    from llm2hls.dataset.toolchain import run_limited

    stack = lambda fixed: run_limited(["grep", "stack", "/proc/self/maps"], tmp_path, 5, None,
                                      fixed_layout=fixed).stdout
    assert stack(True) == stack(True)
    assert len({stack(False) for _ in range(3)}) > 1  # the default: randomised


def _outcome_or_unstable(d, files, builder) -> str:
    from llm2hls.dataset.harness import Unstable

    try:
        return str(run_design(d, builder, files).to_json())
    except Unstable as e:
        return f"unstable: {e}"


def test_harness_ignores_the_callers_environment(builder, monkeypatch):
    """An uninitialised ap_int (GCC's pattern-init skips class-typed locals) reads stack garbage;
    the caller's environment, whose size shifts the stack, must not change what the harness sees."""
    d = build_classic(KERNELS["layernorm"], {"C": 32, "EPS_VAL": 0.0009765625, "P": 2})
    src = d.files["src/kernel.cpp"].replace("var_t var = 0;", "var_t var;")  # dataset record s0-002445
    seen = set()
    for pad in range(0, 200, 28):  # without HARNESS_ENV: 3 different outcomes over these sizes
        monkeypatch.setenv("L2H_TEST_PAD", "x" * pad)
        seen.add(_outcome_or_unstable(d, {"src/kernel.cpp": src}, builder))
    assert len(seen) == 1


def test_an_outcome_that_changes_between_runs_is_no_evidence(builder, monkeypatch):
    """Every build runs twice, the second time with the stack shifted; a mutant that passes once and
    fails once is ``Unstable``: generation rejects it as nondeterministic instead of labelling it."""
    from llm2hls.dataset import generate as gen
    from llm2hls.dataset.harness import Unstable

    d = _gemm()
    # passes with the caller's layout, fails when the second run's environment moves the stack
    src = d.files["src/kernel.cpp"].replace('#include "kernel.h"', '#include "kernel.h"\n#include <cstdlib>') \
        .replace("C[i][j] = acc;", 'C[i][j] = acc + (std::getenv("L2H_STACK_SHIFT") != 0);')
    with pytest.raises(Unstable, match="passes, but mismatch at vector 0 with the stack shifted"):
        classify(d, {"src/kernel.cpp": src}, ["INIT"], builder)
    monkeypatch.setattr(gen, "make_task", lambda *a: (_ for _ in ()).throw(Unstable("x: passes, but ...")))
    monkeypatch.setattr(gen, "_WORKER_BUILDER", None)
    res = gen._worker(("t-0", 0, 0, ["INIT"], str(builder.cache), []))
    assert res["status"] == "rejected" and res["reason"] == "nondeterministic: x: passes, but ..."


def test_each_bug_of_a_pair_gets_its_own_verdict(builder, monkeypatch, tmp_path):
    """A paired record says, per bug, what that bug does on its own; verify re-derives it."""
    from llm2hls.dataset import generate as gen
    from llm2hls.dataset.mutate.core import apply_edits, edits_from_spans

    monkeypatch.setattr(gen, "PAIR_RATE", 1.0)
    res = next(r for i in range(8) if (r := gen.make_task(f"pair-{i}", 11, i, CLASSES, builder))["status"] == "record")
    rec, path = res["record"], next(iter(res["record"]["buggy_files"]))
    assert rec["paired"] and {b["class"] for b in rec["bugs"]} == set(rec["classes"])
    assert all(b["alone"]["label"] in ("buggy", "equivalent") and b["alone"]["kind"] for b in rec["bugs"])
    base_text = res["base"]["files"][path]
    assert apply_edits(base_text, edits_from_spans(base_text, rec["bugs"])) == rec["buggy_files"][path]
    base = tmp_path / "base.json"
    base.write_text(json.dumps(res["base"]))
    monkeypatch.setattr(gen, "_WORKER_BUILDER", builder)
    assert gen._reverify((rec, str(base), str(builder.cache))) == (rec["id"], True, "")
    for b in rec["bugs"]:
        if b["class"] == rec["classes"][0]:
            b["alone"] = {**b["alone"], "kind": "crash"}  # a per-bug verdict that does not hold
    ok, why = gen._reverify((rec, str(base), str(builder.cache)))[1:]
    assert not ok and why.startswith(f"{rec['classes'][0]} alone: recorded crash, now ")


def test_a_terminated_worker_removes_its_sandbox(tmp_path):
    """SIGTERM to a pool worker mid-run (e.g. `pkill -f 'llm2hls dataset'`) still removes its temp dir."""
    import os
    import signal
    import subprocess

    code = ("import sys, time\n"
            "from pathlib import Path\n"
            "from llm2hls.dataset.toolchain import exit_cleanly_on_sigterm\n"
            "exit_cleanly_on_sigterm()\n"
            "d = Path(sys.argv[1]) / 'mut-x'\n"
            "d.mkdir()\n"
            "try:\n"
            "    print('ready', flush=True)\n"
            "    time.sleep(30)\n"
            "finally:\n"
            "    d.rmdir()\n")
    p = subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "ready"
    os.kill(p.pid, signal.SIGTERM)
    assert p.wait(10) == 143 and list(tmp_path.iterdir()) == []
