"""Predictions adapter: run the debugging loop over every item of a dataset and write the
PREDICTIONS.jsonl that ``llm2hls dataset evaluate`` scores (format in docs/dataset.md).

Per item the loop sees only what a user would: the (possibly buggy) kernel and its harness
(vector 0 and the static rules; never the base design's kernel, never the extra vectors).

* harness passes on the given kernel -> ``{"buggy": false}`` (no model call);
* otherwise ``buggy: true``; ``lines`` and ``classes`` are the model's, from the passing try
  first, then the other tries in order; ``fixes`` holds one fix, the passing one or else the last
  one that could be applied, so pass@1 = share of buggy items the loop repaired within its tries,
  as re-checked by the evaluator on every vector.

Predictions are appended one line per item and flushed, so an interrupted run resumes where it
stopped; ``<predictions>.transcripts.jsonl`` keeps every reply and harness verdict.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Callable

from ..dataset.items import Item, load_items
from ..dataset.toolchain import Builder
from .backends import ChatBackend
from .loop import Transcript, debug_kernel


def prediction(tr: Transcript) -> dict:
    """The evaluation prediction for one loop transcript."""
    if tr.initial.passed:
        return {"buggy": False}
    order = ([tr.fixed_try] if tr.fixed_try else []) + [t for t in tr.tries if t is not tr.fixed_try]
    lines = list(dict.fromkeys(l for t in order for l in t.parsed.lines))
    classes = list(dict.fromkeys(c for t in order for c in t.parsed.classes))
    applied = [t for t in tr.tries if t.parsed.fixed is not None]
    best = tr.fixed_try or (applied[-1] if applied else None)
    return {"buggy": True, "lines": [[tr.file, l] for l in lines], "classes": classes,
            "fixes": [{tr.file: best.parsed.fixed}] if best else []}


def predict_dataset(root: Path, backend: ChatBackend, out: Path, max_tries: int = 3, split: str | None = None,
                    limit: int | None = None, echo: Callable[[str], None] = print) -> int:
    """Append a prediction for every item of the dataset at ``root`` not yet in ``out``; return the count
    written by this call."""
    items = [it for it in load_items(root) if split is None or it.split == split][:limit]
    done = _done_ids(out)
    builder = Builder(root / ".cache")
    todo = [it for it in items if it.id not in done]
    echo(f"{len(items) - len(todo)} items already predicted, {len(todo)} to go")
    trans = out.with_name(out.name + ".transcripts.jsonl")
    with open(out, "a") as fp, open(trans, "a") as ft:
        for n, it in enumerate(todo, 1):
            t0 = time.time()
            tr = _debug_item(it, backend, builder, max_tries)
            fp.write(json.dumps({"id": it.id, **prediction(tr)}) + "\n")
            fp.flush()
            ft.write(json.dumps({"id": it.id, **tr.to_json(), "seconds": round(time.time() - t0, 1)}) + "\n")
            ft.flush()
            state = "passes" if tr.initial.passed else ("fixed" if tr.fixed else "not fixed") + \
                f" after {len(tr.tries)} tries"
            echo(f"[{n}/{len(todo)}] {it.id}: {tr.initial.status}, {state}")
    return len(todo)


def _debug_item(it: Item, backend: ChatBackend, builder: Builder, max_tries: int) -> Transcript:
    path = it.base.mutable[0]
    return debug_kernel(it.base, path, it.files.get(path, it.base.files[path]), backend, builder, max_tries)


def _done_ids(out: Path) -> set[str]:
    """Ids already predicted; a torn last line (interrupted write) is cut off."""
    if not out.exists():
        return set()
    data = out.read_bytes()
    ids, good = set(), 0
    for line in data.splitlines(keepends=True):
        try:
            ids.add(json.loads(line)["id"])
        except (json.JSONDecodeError, KeyError, TypeError):
            break
        good += len(line)
    if good != len(data):
        with open(out, "r+b") as f:
            f.truncate(good)
    return ids
