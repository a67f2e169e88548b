"""DATASET.md, the dataset card written into every dataset folder."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from .toolchain import tool_versions

SCHEMA = """\
## Record schema (`records.jsonl`, one JSON object per line)
| field | meaning |
|---|---|
| `id` | `s<seed>-<task>`; stable across resumed runs |
| `base_design`, `family` | base design id and its family (the split key); `bases/<id>.json` holds its files, harness data and facts |
| `provenance` | `source` (`classic` or `generated`), kernel + params (or model/op/scheme/lanes), `compiler_version`, `seed`, `task` |
| `split` | `train` / `val` / `test`, by family: no design or family crosses splits |
| `classes`, `paired` | injected bug classes (one, or two for a paired bug) |
| `buggy_files` | path -> full mutated text |
| `diff` | unified diff base -> buggy |
| `bugs[]` | per edit: `class`, `file`, `line`..`end_line`, `col`..`end_col` (original, 1-based lines, 0-based columns), `mutated_line`.. (same in the buggy file), `original`, `mutated`, `note`; in a paired record `alone` (`label`, `kind`, `evidence`: the verdict of that bug on its own) |
| `verdict` | `label` (`buggy` or `equivalent`), `kind` (`compile_error`, `sanitizer`, `timeout`, `mismatch`, `underflow`, `crash`, `rtl_deadlock`, `rtl_mismatch`, `static_violation`, `equivalent`), `method`, `evidence` (first differing output, sanitizer report, RTL cycle counts and stalled stages, or the static rule broken), `vector`, `vectors_run`, `tools` (g++ / ap_types / tree-sitter versions; cocotb / Verilator / the RTL templates' hash for RTL verdicts) |
| `dedup_key` | hash of the normalised token sequence (near-duplicates are dropped) |
| `rerun` | base design file and the shell command that builds and runs the harness |

`rejected.jsonl` lists tasks that produced no record (no applicable base design, near-duplicate, tool failure,
nondeterministic outcome).
"""


def cost_summary(records: list[dict], rejected: list[dict]) -> dict | None:
    """CPU cost of the tasks that carry one (``cost``, measured per task by the worker): CPU seconds
    per record (rejected tasks' CPU included) and per verified-buggy record, and per first class."""
    rows = [r for r in records + rejected if "cost" in r]
    if not rows:
        return None
    cpu = sum(r["cost"]["cpu_s"] for r in rows)
    recs = [r for r in records if "cost" in r]
    buggy = sum(r["verdict"]["label"] == "buggy" for r in recs)
    per_class: dict[str, list[float]] = {}
    for r in recs:
        per_class.setdefault(r["classes"][0], []).append(r["cost"]["cpu_s"])
    return {"tasks": len(rows), "records": len(recs), "buggy": buggy, "cpu_seconds": round(cpu, 1),
            "cpu_s_per_record": round(cpu / max(1, len(recs)), 2),
            "cpu_s_per_buggy": round(cpu / max(1, buggy), 2),
            "buggy_per_cpu_hour": round(buggy * 3600 / cpu) if cpu else 0,
            "per_class_cpu_s": {c: round(sum(v) / len(v), 2) for c, v in sorted(per_class.items())}}


def write_card(out: Path, records: list[dict], table: dict, run: dict | None = None,
               rejected: list[dict] | None = None) -> None:
    """Write ``out/DATASET.md``: counts, yield per class, throughput and CPU cost, schema."""
    kinds = Counter(r["verdict"]["kind"] for r in records)
    splits = Counter(r["split"] for r in records)
    lines = ["# llm2hls HLS debugging dataset", "",
             f"{len(records)} records ({sum(r['verdict']['label'] == 'buggy' for r in records)} verified buggy, "
             f"{kinds.get('equivalent', 0)} equivalent negatives) from "
             f"{len({r['base_design'] for r in records})} base designs.", "",
             "Every record was executed before labelling: g++ build, run under ASan/UBSan with time and memory limits, "
             "bit-exact output compare against golden outputs from an independent numpy oracle, on the harness vector "
             "and extra random vectors. Every binary runs twice, the second time with the stack shifted; a mutant "
             "whose outcome changes (it reads uninitialised memory) is rejected as nondeterministic. FIFO depths of generated designs are checked by cycle-accurate RTL simulation "
             "(cocotb + Verilator, llm2hls's own RTL with the mutant's depths: `rtl_deadlock` / `rtl_mismatch`); other "
             "bugs that C simulation cannot show are labelled only by a named static rule.", "",
             "## Yield per class", "", "| class | tried | verified buggy | equivalent | rejected |", "|---|---|---|---|---|"]
    cost = cost_summary(records, rejected or [])
    per = cost["per_class_cpu_s"] if cost else {}
    lines[-2:] = ["| class | tried | verified buggy | equivalent | rejected | yield (buggy/tried) | CPU s/record |",
                  "|---|---|---|---|---|---|---|"]
    for c, row in table.items():
        y = f"{row['buggy'] / row['tried']:.0%}" if row["tried"] else "-"
        lines.append(f"| {c} | {row['tried']} | {row['buggy']} | {row['equivalent']} | {row['rejected']} | {y} | "
                     f"{per.get(c, '-')} |")
    lines += ["", "A paired record counts for both classes; CPU s/record is the mean over records whose first "
              "class it is (build + runs + RTL simulation, measured per task)."]
    if cost:
        lines += ["", f"CPU cost over the {cost['tasks']} timed tasks: {cost['cpu_seconds']} CPU s = "
                  f"{cost['cpu_s_per_record']} CPU s per record, {cost['cpu_s_per_buggy']} per verified-buggy record "
                  f"({cost['buggy_per_cpu_hour']} verified-buggy records per CPU hour; rejected tasks' CPU included)."]
    if run:
        lines += ["", f"Throughput of the last (resumed) session: {run['records']} records from {run['tasks']} tasks in "
                  f"{run['seconds']} s with {run['jobs']} jobs = {run['records_per_hour']} records/hour"
                  + (f" ({run['buggy_per_hour']} verified buggy/hour)" if "buggy_per_hour" in run else "") + "."]
    pairs = [r for r in records if r["paired"] and any("alone" in b for b in r["bugs"])]
    if pairs:
        shown = Counter(len({b["class"] for b in r["bugs"] if b.get("alone", {}).get("label") == "buggy"})
                        for r in pairs)
        lines += ["", f"Paired records whose bugs were also tried one at a time: {len(pairs)}; both bugs buggy "
                  f"on their own: {shown[2]}, one: {shown[1]}, neither (the pair's failure needs both): {shown[0]}."]
    lines += ["", "## Verdict kinds", ""] + [f"- {k}: {v}" for k, v in sorted(kinds.items())]
    lines += ["", "## Splits", ""] + [f"- {k}: {v}" for k, v in sorted(splits.items())]
    lines += ["", "## Tools", ""] + [f"- {k}: {v}" for k, v in tool_versions().items()]
    lines += ["", SCHEMA, "## Re-running a harness", "",
              "Write the base design's `files` and `data` (from `bases/<id>.json`) into a folder, replace the "
              "record's `buggy_files`, and run `rerun.command` there; `llm2hls dataset verify DIR` does this for "
              "every record.", ""]
    (out / "DATASET.md").write_text("\n".join(lines))
