"""Evaluation items of a dataset: every record (buggy or equivalent) plus each clean base design."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

from ..errors import UserError
from .base import BaseDesign


@dataclass
class Item:
    id: str
    base: BaseDesign
    files: dict[str, str]  # mutable files as the debugger sees them
    buggy: bool
    kind: str  # verdict kind, or "clean"
    classes: list[str]
    lines: dict[str, set[int]]  # file -> buggy lines in the shown text
    split: str


def _bug_lines(bugs: list[dict]) -> dict[str, set[int]]:
    out: dict[str, set[int]] = {}
    for b in bugs:
        out.setdefault(b["file"], set()).update(range(b["mutated_line"], b["mutated_end_line"] + 1))
    return out


def failing_first(base: BaseDesign, vector: int | None) -> BaseDesign:
    """``base`` with test vector ``vector`` moved to index 0, where a debugger's harness run looks
    (a record whose bug shows only on an extra random vector is then seen failing, as its verdict says)."""
    if not vector:
        return base
    order = [vector] + [i for i in range(len(base.vectors)) if i != vector]
    return dataclasses.replace(base, vectors=[base.vectors[i] for i in order])


def load_items(root: Path) -> list[Item]:
    """All items of the dataset at ``root`` in a fixed order (records, then clean bases)."""
    path = root / "records.jsonl"
    if not path.exists():
        raise UserError(f"{path} not found; create the dataset with 'llm2hls dataset generate --out {root}'")
    bases: dict[str, BaseDesign] = {}
    items = []
    for line in path.read_text().splitlines():
        r = json.loads(line)
        if r["base_design"] not in bases:
            bases[r["base_design"]] = BaseDesign.from_json(json.loads((root / r["rerun"]["design"]).read_text()))
        b = bases[r["base_design"]]
        buggy = r["verdict"]["label"] == "buggy"
        shown = failing_first(b, r["verdict"].get("vector")) if buggy else b
        items.append(Item(r["id"], shown, r["buggy_files"], buggy, r["verdict"]["kind"], r["classes"] if buggy else [],
                          _bug_lines(r["bugs"]) if buggy else {}, r["split"]))
    split = {json.loads(l)["base_design"]: json.loads(l)["split"] for l in path.read_text().splitlines()}
    for bid, b in sorted(bases.items()):
        items.append(Item(f"clean:{bid}", b, {f: b.files[f] for f in b.mutable}, False, "clean", [], {}, split[bid]))
    return items
