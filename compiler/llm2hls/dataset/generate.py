"""Generate a dataset: pick (base design, bug classes) per task deterministically from the seed,
mutate, verify in parallel, append records; resumable (finished task ids are skipped)."""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import resource
import time
import zlib
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from pathlib import Path

from ..errors import UserError
from .base import BaseDesign, rerun_command
from .classic import KERNELS, build_classic, param_grid
from .harness import Unstable, run_design
from .mutate.core import Source, apply_edits, bug_spans, edits_from_spans, rules_for, unified_diff
from .release import check_release, write_verify_log
from .static_check import check, new_violations
from .toolchain import CXXFLAGS, Builder, ToolFailure, exit_cleanly_on_sigterm, tool_versions
from .verify import classify

PAIR_RATE = 0.2
GENERATED_RATE = 0.5  # share of tasks that try generated base designs first (when there are any)
_BASES: dict[str, BaseDesign] = {}
_VALID: dict[str, bool] = {}


_GENERATED: list[str] = []  # JSON files of generated base designs (set by ``generate``)


def design_catalog() -> list[tuple[str, dict]]:
    """Every base design in a fixed order: classic (kernel name, params), then generated ones
    (``("@file", {"path": ...})``)."""
    return [(k, p) for k in sorted(KERNELS) for p in param_grid(KERNELS[k])] + \
        [("@file", {"path": f}) for f in _GENERATED]


def prepare_generated(out: Path, count: int, builder: Builder, echo=print) -> list[str]:
    """Compile the first ``count`` generated base designs into ``out/generated`` (once; resumable).
    Only designs whose harness passes are kept."""
    from .generated import GENERATED_CATALOG, catalog_base

    if count > len(GENERATED_CATALOG):
        raise UserError(f"--models {count}: only {len(GENERATED_CATALOG)} generated designs are defined")
    d = out / "generated"
    d.mkdir(exist_ok=True)
    paths = []
    for i in range(count):
        path = d / f"catalog-{i}.json"
        if not path.exists():
            echo(f"compiling generated base design {i + 1}/{count}: {GENERATED_CATALOG[i]}")
            design = catalog_base(i)
            try:
                res = run_design(design, builder)
            except Unstable as e:
                echo(f"  skipped: its harness is nondeterministic ({e})")
                continue
            if res.status != "pass":
                echo(f"  skipped: its harness does not pass ({res.status}: {res.detail[:100]})")
                continue
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps(design.to_json()))
            tmp.rename(path)
        paths.append(str(path))
    return paths


SPLIT_OF_FAMILY = {
    # kernels llm2hls generates: one model architecture per split, so the test split holds an
    # architecture a debugger was never trained on (a family hash put all three in train)
    "gen-gpt2": "train", "gen-gpt_neox": "val", "gen-llama": "test",
    # classic kernels: with the above, about 60/20/20 of the records of a --models 6 run
    "conv2d": "val", "sort": "test", "stencil": "test",
}


def split_of(family: str) -> str:
    """train/val/test by family, so no design or family crosses splits: the table above, else a
    stable hash of the family name (7/1/2)."""
    if family in SPLIT_OF_FAMILY:
        return SPLIT_OF_FAMILY[family]
    if family.startswith("gen-") or family in {k.family or k.name for k in KERNELS.values()}:
        return "train"
    h = zlib.crc32(family.encode()) % 10
    return "train" if h < 7 else "val" if h < 8 else "test"


def _base(kernel: str, params: dict) -> BaseDesign:
    key = kernel + json.dumps(params, sort_keys=True)
    if key not in _BASES:
        if kernel == "@file":
            _BASES[key] = BaseDesign.from_json(json.loads(Path(params["path"]).read_text()))
        else:
            _BASES[key] = build_classic(KERNELS[kernel], params)
    return _BASES[key]


def _valid(d: BaseDesign, builder: Builder) -> bool:
    """A base design is used only if it passes its harness on every vector (twice, the same way) and
    breaks no static rule.

    The answer is memoised per process and on disk (``cache/valid/``, keyed by the design and the
    toolchain), so each base design is built and run once per dataset, not once per task and worker.
    """
    if d.id not in _VALID:
        key = hashlib.sha1((json.dumps(d.to_json(), sort_keys=True) + " ".join(CXXFLAGS)
                            + json.dumps(tool_versions(), sort_keys=True)).encode()).hexdigest()[:20]
        memo = builder.cache / "valid" / key
        if memo.exists():
            _VALID[d.id] = memo.read_text() == "pass"
        else:
            try:
                ok = run_design(d, builder).status == "pass" and not check(d.files[d.mutable[0]], d.facts)
            except Unstable:  # a base design whose harness is nondeterministic proves nothing
                ok = False
            memo.parent.mkdir(exist_ok=True)
            tmp = memo.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text("pass" if ok else "fail")
            tmp.rename(memo)
            _VALID[d.id] = ok
    return _VALID[d.id]


def _claim(builder: Builder, key: str, task_id: str) -> bool:
    """Claim near-duplicate key ``key`` for ``task_id`` across workers (an atomic file create), so a
    mutant whose normalised text another task already produced is never built. A task may re-claim
    its own key (resume after an interruption)."""
    path = builder.cache / "claims" / key
    path.parent.mkdir(exist_ok=True)
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return path.read_text() in ("", task_id)  # "" = the other writer has not written yet: rare, build
    with os.fdopen(fd, "w") as f:
        f.write(task_id)
    return True


def norm_key(text: str) -> str:
    """Near-duplicate key: the token sequence with numbers and whitespace/comments normalised."""
    text = re.sub(r"//[^\n]*", "", text)
    toks = re.findall(r"[A-Za-z_]\w*|\d+|\S", text)
    return hashlib.sha1(" ".join("N" if t.isdigit() else t for t in toks).encode()).hexdigest()[:16]


def plan_task(seed: int, index: int, classes: list[str]) -> tuple[BaseDesign, list, list[str]] | None:
    """Pick the base design and mutations of task ``index`` (pure: no build, same seed -> same plan).

    The class comes round-robin from ``classes`` (so every class gets tried); with probability
    PAIR_RATE a second, different class is injected at a non-overlapping place.
    """
    rng = random.Random(f"{seed}:{index}")
    rules = rules_for(classes)
    wanted = [classes[index % len(classes)]]
    if rng.random() < PAIR_RATE and len(classes) > 1:
        wanted.append(rng.choice([c for c in classes if c != wanted[0]]))
    catalog = design_catalog()
    order = list(range(len(catalog)))
    rng.shuffle(order)
    if _GENERATED and rng.random() < GENERATED_RATE:  # generated designs first for this task
        order.sort(key=lambda i: catalog[i][0] != "@file")
    for di in order:
        design = _base(*catalog[di])
        path = design.mutable[0]
        src = Source(design.files[path], path)
        muts: list = []
        taken: list[tuple[int, int]] = []
        for c in wanted:
            cands = [m for m in rules[c].candidates(src) if not any(_overlap(e, t) for e in m.edits for t in taken)]
            if not cands:
                break
            if rules[c].verdict_kind == "static":  # aim synthesis-only bugs where a rule can see them
                m = _first_breaking(design, path, cands, rng)
            else:
                m = rng.choice(cands)
            muts.append(m)
            taken += [(e.start, e.end) for e in m.edits]
        if len(muts) == len(wanted):
            return design, muts, wanted
    return None


STATIC_TRIES = 8
"""Candidates of a synthesis-only class checked against the static rules per design; checking every
one cost ~2 minutes per FIFO task on the multi-layer generated kernels (~0.4 s per rule check)."""


def _first_breaking(design: BaseDesign, path: str, cands: list, rng: random.Random):
    """The first of up to STATIC_TRIES randomly ordered candidates that breaks a static rule, else
    the first one (execution or the RTL path may still show it)."""
    order = list(cands)
    rng.shuffle(order)
    return next((m for m in order[:STATIC_TRIES] if _breaks_rule(design, path, m)), order[0])


def _breaks_rule(design: BaseDesign, path: str, m) -> bool:
    text = design.files[path]
    return bool(new_violations(text, apply_edits(text, m.edits), design.facts))


def _overlap(e, span: tuple[int, int]) -> bool:
    a, b = span
    return e.start < max(b, a + 1) and a < max(e.end, e.start + 1)


def make_task(task_id: str, seed: int, index: int, classes: list[str], builder: Builder) -> dict:
    """Build one record (or a rejection) for task ``index``; deterministic given seed and classes."""
    plan = plan_task(seed, index, classes)
    if plan is None:
        wanted = [classes[index % len(classes)]]
        return {"id": task_id, "status": "rejected", "reason": f"no base design offers {'+'.join(wanted)}",
                "classes": wanted}
    design, muts, wanted = plan
    path = design.mutable[0]
    text = design.files[path]
    if not _valid(design, builder):
        return {"id": task_id, "status": "rejected", "reason": f"base design {design.id} fails its harness",
                "classes": wanted}
    new = apply_edits(text, [e for m in muts for e in m.edits])
    if not _claim(builder, norm_key(new), task_id):
        return {"id": task_id, "status": "rejected", "reason": "near-duplicate", "classes": wanted}
    bugs = [b for m in muts for b in bug_spans(text, m)]
    verdict = classify(design, {path: new}, wanted, builder)
    if len(muts) > 1:  # each bug of a pair on its own: which of them the pair's evidence stands for
        for m in muts:
            alone = brief(classify(design, {path: apply_edits(text, m.edits)}, [m.cls], builder))
            for b in bugs:
                if b["class"] == m.cls:
                    b["alone"] = alone
    return {"id": task_id, "status": "record", "record": {
        "id": task_id, "base_design": design.id, "family": design.family,
        "provenance": {**design.provenance, "seed": seed, "task": index},
        "split": split_of(design.family), "classes": wanted, "paired": len(wanted) > 1,
        "buggy_files": {path: new}, "diff": unified_diff(path, text, new), "bugs": bugs,
        "verdict": verdict, "dedup_key": norm_key(new),
        "rerun": {"design": f"bases/{design.id}.json", "command": rerun_command(design)}},
        "base": design.to_json()}


def brief(verdict: dict) -> dict:
    """The part of a verdict kept for one bug of a pair tried on its own."""
    return {"label": verdict["label"], "kind": verdict["kind"], "evidence": verdict["evidence"][:300]}


_WORKER_BUILDER: Builder | None = None


def _worker(args) -> dict:
    global _WORKER_BUILDER
    task_id, seed, index, classes, cache, generated = args
    _GENERATED[:] = generated
    if _WORKER_BUILDER is None:
        _WORKER_BUILDER = Builder(Path(cache))
    t0, c0 = time.perf_counter(), _cpu_seconds()
    try:
        res = make_task(task_id, seed, index, classes, _WORKER_BUILDER)
    except UserError:
        raise
    except Unstable as e:  # two runs disagree: no evidence, and a resumed run would not settle it
        res = {"id": task_id, "status": "rejected", "reason": f"nondeterministic: {e}",
               "classes": [classes[index % len(classes)]]}
    except ToolFailure as e:  # no evidence either way: rejected (a resumed run does not retry it)
        res = {"id": task_id, "status": "rejected", "reason": f"tool failure: {e}",
               "classes": [classes[index % len(classes)]]}
    except Exception as e:  # a tool failure must not kill the run; it is logged as a rejection
        res = {"id": task_id, "status": "rejected", "reason": f"internal error: {type(e).__name__}: {e}",
               "classes": [classes[index % len(classes)]]}
    cost = {"wall_s": round(time.perf_counter() - t0, 2), "cpu_s": round(_cpu_seconds() - c0, 2)}
    (res["record"] if res["status"] == "record" else res)["cost"] = cost
    return res


def _cpu_seconds() -> float:
    """CPU seconds (user + system) of this process and its finished children: one task's cost is
    the difference, as a worker runs one task at a time."""
    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


def _read_jsonl(path: Path) -> list[dict]:
    """Read a JSONL file, dropping (and truncating away) a torn last line from an interruption."""
    if not path.exists():
        return []
    rows, good = [], 0
    data = path.read_bytes()
    for line in data.splitlines(keepends=True):
        try:
            rows.append(json.loads(line))
            good += len(line)
        except json.JSONDecodeError:
            break
    if good != len(data):
        with open(path, "r+b") as f:
            f.truncate(good)
    return rows


def generate(out: Path, count: int, jobs: int, seed: int, classes: list[str] | None, echo=print,
             models: int = 0, stop_after: float | None = None) -> dict:
    """Generate ``count`` tasks into ``out`` (resuming if it already holds some); return the yield table.

    ``models`` > 0 adds that many base designs compiled by the llm2hls pipeline from tiny models.
    ``stop_after`` (seconds): start no task after that time; running ones finish, the card is written,
    and rerunning the same command resumes with the tasks left.
    """
    classes = list(rules_for(classes))  # validates names
    out.mkdir(parents=True, exist_ok=True)
    (out / "bases").mkdir(exist_ok=True)
    rec_path, rej_path = out / "records.jsonl", out / "rejected.jsonl"
    records, rejected = _read_jsonl(rec_path), _read_jsonl(rej_path)
    done = {r["id"] for r in records} | {r["id"] for r in rejected}
    keys = {r["dedup_key"] for r in records}
    config = {"seed": seed, "classes": classes, "models": models}
    cfg_path = out / "config.json"
    if cfg_path.exists() and json.loads(cfg_path.read_text()) != config:
        raise UserError(f"{out} was generated with {cfg_path.read_text().strip()}; resume it with the same "
                        f"--seed/--classes/--models or use another --out")
    cfg_path.write_text(json.dumps(config))
    builder = Builder(out / ".cache")  # builds the precompiled header once before the workers start
    generated = prepare_generated(out, models, builder, echo) if models else []
    todo = [(f"s{seed}-{i:06d}", seed, i, classes, str(out / ".cache"), generated) for i in range(count)
            if f"s{seed}-{i:06d}" not in done]
    echo(f"{len(done)} tasks already done, {len(todo)} to go ({jobs} jobs)")
    t0, n_before = time.perf_counter(), len(records)
    with open(rec_path, "a") as fr, open(rej_path, "a") as fj, ProcessPoolExecutor(jobs, initializer=exit_cleanly_on_sigterm) as pool:
        n = 0
        for res, n in _run_tasks(pool, todo, 2 * jobs, t0, stop_after, echo):
            if res["status"] == "record" and res["record"]["dedup_key"] in keys:
                res = {"id": res["id"], "status": "rejected", "reason": "near-duplicate",
                       "classes": res["record"]["classes"], "cost": res["record"]["cost"]}
            if res["status"] == "record":
                rec = res["record"]
                bp = out / "bases" / f"{rec['base_design']}.json"
                if not bp.exists():
                    tmp = bp.with_suffix(f".{os.getpid()}.tmp")
                    tmp.write_text(json.dumps(res["base"]))
                    tmp.rename(bp)
                keys.add(rec["dedup_key"])
                fr.write(json.dumps(rec) + "\n")
                fr.flush()
                records.append(rec)
                tag = f"{'+'.join(rec['classes'])}: {rec['verdict']['kind']}"
            else:
                fj.write(json.dumps(res) + "\n")
                fj.flush()
                rejected.append(res)
                tag = f"{'+'.join(res['classes'])}: rejected ({res['reason'][:60]})"
            echo(f"[{n}/{len(todo)} {time.perf_counter() - t0:.0f}s] {res['id']} {tag}")
    table = yield_table(records, rejected, classes)
    from .card import write_card

    secs = time.perf_counter() - t0
    new_buggy = sum(r["verdict"]["label"] == "buggy" for r in records[n_before:])
    run = {"records": len(records) - n_before, "tasks": n, "seconds": round(secs, 1), "jobs": jobs,
           "records_per_hour": round((len(records) - n_before) * 3600 / secs) if secs > 0 else 0,
           "buggy_per_hour": round(new_buggy * 3600 / secs) if secs > 0 else 0}
    write_card(out, records, table, run, rejected)
    return table


def _run_tasks(pool: ProcessPoolExecutor, todo: list, window: int, t0: float, stop_after: float | None, echo):
    """Yield (result, n) of the tasks as they finish, keeping ``window`` of them in flight; once
    ``stop_after`` seconds have passed since ``t0`` no task is started (the running ones finish)."""
    queue, running, n, spent = iter(todo), set(), 0, False
    while True:
        while not spent and len(running) < window:
            task = next(queue, None)
            if task is None:
                break
            running.add(pool.submit(_worker, task))
        if not running:
            if spent:
                echo(f"time budget spent: {len(todo) - n} tasks left for a resumed run")
            return
        done, running = wait(running, return_when=FIRST_COMPLETED)
        for fut in done:
            n += 1
            yield fut.result(), n
        spent = spent or (stop_after is not None and time.perf_counter() - t0 > stop_after)


def yield_table(records: list[dict], rejected: list[dict], classes: list[str]) -> dict:
    """Per class: tried, verified buggy, equivalent, rejected (a paired record counts for both)."""
    t = {c: {"tried": 0, "buggy": 0, "equivalent": 0, "rejected": 0} for c in classes}
    for r in records:
        for c in r["classes"]:
            row = t.setdefault(c, {"tried": 0, "buggy": 0, "equivalent": 0, "rejected": 0})
            row["tried"] += 1
            row["buggy" if r["verdict"]["label"] == "buggy" else "equivalent"] += 1
    for r in rejected:
        for c in r["classes"]:
            row = t.setdefault(c, {"tried": 0, "buggy": 0, "equivalent": 0, "rejected": 0})
            row["tried"] += 1
            row["rejected"] += 1
    return t


def verify_dataset(out: Path, jobs: int, echo=print, cache: bool = True) -> tuple[int, list[str]]:
    """Re-run every record's harness and re-derive its verdict; return (checked, failures) and
    record them in ``out/verify.json`` (what ``release`` requires). An unpacked release is first
    checked against its manifest: a changed, missing or extra file is a failure too.

    Every binary is linked and run again on every vector (and every RTL bench simulated again).
    With ``cache`` the objects of sources ``generate`` compiled are taken from ``OUT/.cache/obj``
    (content-addressed, so an identical source gives its own object); without it everything (the
    precompiled header, base units, mutants, RTL builds) is rebuilt from scratch in a private cache.
    """
    import shutil
    import tempfile

    records = _read_jsonl(out / "records.jsonl")
    if not records:
        raise UserError(f"no records in {out / 'records.jsonl'}; run 'llm2hls dataset generate --out {out}' first")
    fails = [f"release: {p}" for p in check_release(out)]  # an unpacked release must match its manifest
    cache_dir = out / ".cache" if cache else Path(tempfile.mkdtemp(prefix=".verify-cache-", dir=out))
    try:
        Builder(cache_dir)  # the precompiled header, once, before the workers start
        args = [(r, str(out / "bases" / f"{r['base_design']}.json"), str(cache_dir)) for r in records]
        with ProcessPoolExecutor(jobs, initializer=exit_cleanly_on_sigterm) as pool:
            for n, (rid, ok, why) in enumerate(pool.map(_reverify, args), 1):
                echo(f"[{n}/{len(records)}] {rid} {'ok' if ok else 'FAILED: ' + why}")
                if not ok:
                    fails.append(f"{rid}: {why}")
    finally:
        if not cache:
            shutil.rmtree(cache_dir, ignore_errors=True)
    write_verify_log(out, len(records), fails)
    return len(records), fails


def _alone_failure(rec: dict, design: BaseDesign) -> str:
    """Why a recorded per-bug verdict of a pair (``bugs[].alone``) no longer holds; "" if all hold."""
    for cls in dict.fromkeys(b["class"] for b in rec["bugs"] if "alone" in b):
        mine = [b for b in rec["bugs"] if b["class"] == cls]
        base = design.files[mine[0]["file"]]
        try:
            now = classify(design, {mine[0]["file"]: apply_edits(base, edits_from_spans(base, mine))}, [cls],
                           _WORKER_BUILDER)
        except ToolFailure as e:
            return f"{cls} alone not confirmed: {e}"
        if (now["label"], now["kind"]) != (mine[0]["alone"]["label"], mine[0]["alone"]["kind"]):
            return f"{cls} alone: recorded {mine[0]['alone']['kind']}, now {now['kind']}"
    return ""


def _reverify(args) -> tuple[str, bool, str]:
    global _WORKER_BUILDER
    rec, base_path, cache = args
    if _WORKER_BUILDER is None:
        _WORKER_BUILDER = Builder(Path(cache))
    design = BaseDesign.from_json(json.loads(Path(base_path).read_text()))
    try:
        v = classify(design, rec["buggy_files"], rec["classes"], _WORKER_BUILDER)
    except ToolFailure as e:  # includes Unstable: two runs disagreed
        return rec["id"], False, f"not confirmed: {e}"
    same = v["label"] == rec["verdict"]["label"] and v["kind"] == rec["verdict"]["kind"]
    if same:
        why = _alone_failure(rec, design)
        return rec["id"], not why, why
    was, now = rec["verdict"]["tools"].get("llm2hls_rtl_sha256"), v["tools"].get("llm2hls_rtl_sha256")
    rtl = f" (RTL templates changed: {was} -> {now})" if was and now and was != now else ""
    return rec["id"], False, f"recorded {rec['verdict']['kind']}, now {v['kind']}{rtl}: {v['evidence'][:200]}"
