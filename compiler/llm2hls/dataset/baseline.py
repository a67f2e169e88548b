"""A trivial baseline debugger (no model): the static rule checker, then one fixed guess.

It reports the first static-rule violation if there is one (with its class and line); otherwise
it always says "buggy, OOB" at the first ``<=`` loop bound and proposes turning it into ``<``.
It exists to exercise ``dataset evaluate`` end to end and to give a floor for real debuggers.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from .items import load_items
from .static_check import check


def predict(files: dict[str, str], facts: dict) -> dict:
    """One prediction for the mutable ``files`` of an item."""
    for f, text in files.items():
        viol = check(text, facts)
        if viol:
            cls = viol[0].rule.split("/")[0]
            return {"buggy": True, "classes": [cls], "lines": [[f, viol[0].line]], "fixes": []}
    for f, text in files.items():
        lines = text.split("\n")
        hits = [i for i, l in enumerate(lines) if re.search(r"for\s*\(.*<=", l)]
        if hits:
            fixed = list(lines)
            fixed[hits[0]] = re.sub(r"<=", "<", lines[hits[0]], count=1)
            return {"buggy": True, "classes": ["OOB"], "lines": [[f, i + 1] for i in hits[:3]],
                    "fixes": [{f: "\n".join(fixed)}]}
        return {"buggy": True, "classes": ["OOB"], "lines": [[f, 1]], "fixes": []}
    return {"buggy": False}


def run_baseline(root: Path, out: Path) -> int:
    """Write PREDICTIONS.jsonl for every item of the dataset at ``root``; return the item count."""
    items = load_items(root)
    with open(out, "w") as fh:
        for it in items:
            fh.write(json.dumps({"id": it.id, **predict(it.files, it.base.facts)}) + "\n")
    return len(items)
