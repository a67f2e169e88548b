"""Export a dataset as chat prompt/target pairs (one JSONL per split) for fine-tuning or evaluation."""

from __future__ import annotations

import json
import re
from pathlib import Path

from .items import Item, load_items
from .mutate.core import rules_for

SYSTEM = ("You are an expert Vitis HLS engineer. Given an HLS C++ kernel, decide whether it has a bug "
          "(functional, or a pragma/interface problem that synthesis or hardware would reveal). Answer with "
          "JSON: {\"buggy\": bool, \"classes\": [...], \"lines\": [[file, line], ...], \"fix\": {file: full fixed text}}.")


def _numbered(text: str) -> str:
    return "\n".join(f"{i:4d} | {l}" for i, l in enumerate(text.split("\n"), 1))


def _prompt(it: Item) -> str:
    classes = ", ".join(f"{c} ({' '.join(re.split(r'[:.]', r.__doc__ or '')[0].split())})"
                        for c, r in rules_for().items())
    parts = [f"Bug classes: {classes}.", ""]
    for f, t in it.files.items():
        parts += [f"File {f}:", "```cpp", _numbered(t), "```"]
    return "\n".join(parts)


def _target(it: Item) -> str:
    fix = {f: it.base.files[f] for f in it.files} if it.buggy else {}
    lines = sorted([f, l] for f, ls in it.lines.items() for l in ls)
    return json.dumps({"buggy": it.buggy, "classes": it.classes, "lines": lines, "fix": fix})


def export_chat(root: Path, out: Path) -> dict[str, int]:
    """Write ``out/<split>.jsonl`` chat records; returns the count per split."""
    out.mkdir(parents=True, exist_ok=True)
    counts: dict[str, int] = {}
    handles = {}
    try:
        for it in load_items(root):
            if it.split not in handles:
                handles[it.split] = open(out / f"{it.split}.jsonl", "w")
            rec = {"id": it.id, "messages": [{"role": "system", "content": SYSTEM},
                                             {"role": "user", "content": _prompt(it)},
                                             {"role": "assistant", "content": _target(it)}]}
            handles[it.split].write(json.dumps(rec) + "\n")
            counts[it.split] = counts.get(it.split, 0) + 1
    finally:
        for h in handles.values():
            h.close()
    return counts
