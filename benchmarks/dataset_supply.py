"""How many distinct verified-buggy records the base-design catalog can supply, per bug class.

    python benchmarks/dataset_supply.py --dataset DIR [--models 0,6,16,21] [--work DIR]

A dataset run stops growing when every new mutant is a near-duplicate of one it already has, so
the reachable size is a property of the base designs, not of the number of tasks. This script
measures it without building any mutant: it enumerates every candidate single-bug mutation of
every base design (the same rules and the same near-duplicate key as ``dataset generate``),
counts the distinct keys per class for the classic kernels plus the first M generated designs,
and multiplies each class's count by its measured yield in an existing dataset (verified buggy /
mutants built, near-duplicates excluded). Paired bugs are not counted (they only add supply), so
the estimate is a floor for single bugs at the measured yields.

The generated designs are compiled once into ``--work`` (reused on later runs). Appends one JSON
line to ``benchmarks/results/dataset_supply.jsonl`` and writes ``dataset_supply.md`` beside it.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

from dataset_bench import _complete_lines, machine

from llm2hls.dataset.classic import KERNELS, build_classic, param_grid
from llm2hls.dataset.generate import norm_key, prepare_generated
from llm2hls.dataset.base import BaseDesign
from llm2hls.dataset.mutate.core import Source, apply_edits, rules_for
from llm2hls.dataset.toolchain import Builder

RESULTS = Path(__file__).resolve().parent / "results"


def measured_yield(dataset: Path) -> dict[str, float]:
    """Per class: verified-buggy records / mutants that were built (near-duplicates never are).
    A paired record counts for both of its classes."""
    built: Counter = Counter()
    buggy: Counter = Counter()
    for rec in _complete_lines(dataset / "records.jsonl"):
        for c in rec["classes"]:
            built[c] += 1
            buggy[c] += rec["verdict"]["label"] == "buggy"
    for rej in _complete_lines(dataset / "rejected.jsonl"):
        if rej.get("reason") != "near-duplicate" and not rej.get("reason", "").startswith("no base design"):
            for c in rej.get("classes", []):
                built[c] += 1
    return {c: buggy[c] / built[c] for c in built if built[c]}


def distinct_keys(design: BaseDesign, rules: dict) -> dict[str, set[str]]:
    """Near-duplicate keys of every candidate single-bug mutant of ``design``, per class."""
    path = design.mutable[0]
    text = design.files[path]
    src = Source(text, path)
    return {c: {norm_key(apply_edits(text, m.edits)) for m in rule.candidates(src)} for c, rule in rules.items()}


def census(tiers: list[int], work: Path, echo=print) -> dict[int, dict[str, int]]:
    """Distinct candidate mutants per class for the classic kernels plus the first M generated
    designs, for each M in ``tiers``."""
    rules = rules_for(None)
    keys: dict[str, set[str]] = defaultdict(set)
    classic = [build_classic(KERNELS[k], p) for k in sorted(KERNELS) for p in param_grid(KERNELS[k])]
    echo(f"classic: {len(classic)} base designs")
    for d in classic:
        for c, ks in distinct_keys(d, rules).items():
            keys[c] |= ks
    generated = prepare_generated(work, max(tiers), Builder(work / "cache"), echo) if max(tiers) else []
    out: dict[int, dict[str, int]] = {}
    done = 0
    for m in sorted(tiers):
        for path in generated[done:m]:
            design = BaseDesign.from_json(json.loads(Path(path).read_text()))
            for c, ks in distinct_keys(design, rules).items():
                keys[c] |= ks
        done = max(done, m)
        out[m] = {c: len(keys[c]) for c in rules}
        echo(f"classic + {m} generated: {sum(out[m].values())} distinct candidate mutants")
    return out


def table(counts: dict[int, dict[str, int]], yields: dict[str, float]) -> list[str]:
    tiers = sorted(counts)
    lines = ["| class | measured yield | " + " | ".join(f"distinct mutants (models {m}) | expected buggy (models {m})"
                                                     for m in tiers) + " |",
             "|---|---|" + "---|---|" * len(tiers)]
    for c in counts[tiers[0]]:
        y = yields.get(c, 0.0)
        lines.append(f"| {c} | {y:.2f} | " + " | ".join(f"{counts[m][c]:,} | {counts[m][c] * y:,.0f}" for m in tiers) + " |")
    lines.append("| **all** | | " + " | ".join(
        f"{sum(counts[m].values()):,} | **{sum(n * yields.get(c, 0.0) for c, n in counts[m].items()):,.0f}**"
        for m in tiers) + " |")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", type=Path, required=True, help="dataset whose per-class yields are used")
    ap.add_argument("--models", default="0,6,16,21", help="comma-separated counts of generated designs")
    ap.add_argument("--work", type=Path, default=Path("/tmp/llm2hls-supply"))
    args = ap.parse_args()
    t0 = time.time()
    tiers = sorted({int(m) for m in args.models.split(",")})
    yields = measured_yield(args.dataset)
    counts = census(tiers, args.work)
    rows = table(counts, yields)
    print("\n".join(rows))
    cmd = "python benchmarks/dataset_supply.py " + " ".join(sys.argv[1:])
    RESULTS.mkdir(exist_ok=True)
    with open(RESULTS / "dataset_supply.jsonl", "a") as f:
        f.write(json.dumps({"date": time.strftime("%Y-%m-%d %H:%M:%S"), "command": cmd, "machine": machine(),
                            "yield_from": str(args.dataset), "yields": yields,
                            "distinct": {str(m): c for m, c in counts.items()},
                            "seconds": round(time.time() - t0, 1)}) + "\n")
    (RESULTS / "dataset_supply.md").write_text(
        "# Supply of distinct single-bug mutants per class (census, no mutant built)\n\n"
        f"Command: `{cmd}`, {machine()['cpu']}, {time.time() - t0:.0f} s. Yields measured in `{args.dataset}` "
        "(verified buggy / mutants built). Expected buggy = distinct mutants x yield; paired bugs not counted.\n\n"
        + "\n".join(rows) + "\n")


if __name__ == "__main__":
    main()
