"""Score a debugger's PREDICTIONS.jsonl by running it: detection, localization, class F1, repair.

One prediction per item id (see :mod:`.items`):
``{"id", "buggy": bool, "lines": [[file, line], ...] ranked, "classes": [class, ...],
"fixes": [{file: full fixed text}, ...]}``. Missing predictions count as "not buggy".
A fix passes when the patched design passes its harness on every vector and, for bugs labelled
by a static rule, breaks no rule its base design does not break.
"""

from __future__ import annotations

import json
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor
from math import comb
from pathlib import Path

from ..errors import UserError
from .harness import Unstable, run_design
from .items import load_items
from .static_check import new_violations
from .toolchain import Builder, exit_cleanly_on_sigterm


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k from ``n`` samples with ``c`` correct (Chen et al., 2021).

    With fewer samples than ``k`` the estimate uses all ``n`` (pass@n): a debugger that gave one
    failing fix has pass@3 = 0, not 1.
    """
    if c <= 0:
        return 0.0
    k = min(k, n)
    if n - c < k:
        return 1.0
    return 1.0 - comb(n - c, k) / comb(n, k)


def _load_predictions(path: Path) -> dict[str, dict]:
    preds = {}
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            p = json.loads(line)
            preds[p["id"]] = p
        except (json.JSONDecodeError, KeyError, TypeError):
            raise UserError(f"{path}:{n}: not a JSON object with an 'id'; see docs/dataset.md for the format")
    return preds


_B: Builder | None = None


def _fix_passes(args) -> bool:
    global _B
    item, fix, cache = args
    if _B is None:
        _B = Builder(Path(cache))
    files = {f: t for f, t in fix.items() if f in item.base.mutable}
    try:
        if not files or run_design(item.base, _B, files).status != "pass":
            return False
    except Unstable:  # a fix whose outcome changes from run to run is not shown to pass
        return False
    return not any(new_violations(item.base.files[f], t, item.base.facts) for f, t in files.items())


def evaluate(root: Path, predictions: Path, jobs: int = 2, ks: tuple[int, ...] = (1, 3)) -> dict:
    """All metrics, overall and per class."""
    items, preds = load_items(root), _load_predictions(predictions)
    det = {"tp": 0, "fp": 0, "fn": 0, "tn": 0, "fp_clean": 0, "n_clean": 0, "fp_equivalent": 0, "n_equivalent": 0}
    per = defaultdict(lambda: {"n": 0, "detected": 0, "top1": 0, "top3": 0, "tp": 0, "fp": 0, "fn": 0,
                               "fixes": []})
    repair_jobs = []
    for it in items:
        p = preds.get(it.id, {})
        said = bool(p.get("buggy", False))
        if it.buggy:
            det["tp" if said else "fn"] += 1
        else:
            det["fp" if said else "tn"] += 1
            key = "clean" if it.kind == "clean" else "equivalent"
            det[f"n_{key}"] += 1
            det[f"fp_{key}"] += int(said)
        pred_cls = set(p.get("classes", [])[: max(1, len(it.classes))]) if said else set()
        for c in pred_cls - set(it.classes):
            per[c]["fp"] += 1
        if not it.buggy:
            continue
        ranked = [(f, int(l)) for f, l in p.get("lines", [])] if said else []
        hit = [any(l in it.lines.get(f, ()) for f, l in ranked[:k]) for k in (1, 3)]
        det["loc1"] = det.get("loc1", 0) + int(hit[0])
        det["loc3"] = det.get("loc3", 0) + int(hit[1])
        for c in it.classes:
            row = per[c]
            row["n"] += 1
            row["detected"] += int(said)
            row["top1"] += int(hit[0])
            row["top3"] += int(hit[1])
            row["tp" if c in pred_cls else "fn"] += 1
        for j, fix in enumerate(p.get("fixes", []) if said else []):
            repair_jobs.append((it, j, fix))
    results = []
    if repair_jobs:
        with ProcessPoolExecutor(jobs, initializer=exit_cleanly_on_sigterm) as pool:
            results = list(pool.map(_fix_passes, [(it, fix, str(root / ".cache")) for it, _, fix in repair_jobs]))
    fixes = defaultdict(list)
    for (it, _, _), ok in zip(repair_jobs, results):
        fixes[it.id].append(ok)
    buggy = [it for it in items if it.buggy]
    repair = {f"pass@{k}": _mean([pass_at_k(len(fixes[it.id]), sum(fixes[it.id]), k) for it in buggy]) for k in ks}
    classes = {}
    for c, row in sorted(per.items()):
        prec = row["tp"] / (row["tp"] + row["fp"]) if row["tp"] + row["fp"] else 0.0
        rec = row["tp"] / (row["tp"] + row["fn"]) if row["tp"] + row["fn"] else 0.0
        its = [it for it in buggy if c in it.classes]
        classes[c] = {"n": row["n"], "detection_recall": _div(row["detected"], row["n"]),
                      "top1": _div(row["top1"], row["n"]), "top3": _div(row["top3"], row["n"]),
                      "f1": 2 * prec * rec / (prec + rec) if prec + rec else 0.0,
                      **{f"pass@{k}": _mean([pass_at_k(len(fixes[i.id]), sum(fixes[i.id]), k) for i in its]) for k in ks}}
    true_classes = [c for c, r in classes.items() if r["n"] > 0]
    loc = {"top1": _div(det.pop("loc1", 0), len(buggy)), "top3": _div(det.pop("loc3", 0), len(buggy))}
    return {
        "items": len(items), "buggy": len(buggy),
        "detection": {"precision": _div(det["tp"], det["tp"] + det["fp"]), "recall": _div(det["tp"], len(buggy)),
                      "fpr_clean": _div(det["fp_clean"], det["n_clean"]),
                      "fpr_equivalent": _div(det["fp_equivalent"], det["n_equivalent"]), **det},
        "localization": loc,
        "class_macro_f1": _mean([classes[c]["f1"] for c in true_classes]),
        "repair": repair, "per_class": classes,
    }


def _div(a: float, b: float) -> float:
    return a / b if b else 0.0


def _mean(xs: list[float]) -> float:
    return sum(xs) / len(xs) if xs else 0.0
