"""Throughput of ``llm2hls dataset generate``: verified records per hour on this machine.

    python benchmarks/dataset_bench.py [--count 40] [--jobs 2] [--seed 0] [--models 0] [--out FILE]
    python benchmarks/dataset_bench.py --summarize DIR [--verify-log LOG]   # figures of a finished run
                                        # (LOG: output of `/usr/bin/time -v llm2hls dataset verify DIR`)

Runs a fresh generate into a temp folder (cold: the precompiled header and every base design's
harness are built inside the measured time), then appends one JSON line (command, machine, counts,
seconds, records/hour) to ``benchmarks/results/dataset_bench.jsonl``. The machine is shared, so
the CPU seconds of all child processes are recorded too; ``records_per_hour_2_idle_cores`` =
records / (CPU hours / 2) is what two idle cores would reach.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def machine() -> dict:
    cpu = next((l.split(":", 1)[1].strip() for l in Path("/proc/cpuinfo").read_text().splitlines()
                if l.startswith("model name")), platform.processor())
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(),
            "g++": subprocess.run(["g++", "--version"], capture_output=True, text=True).stdout.splitlines()[0],
            "load_avg_1m_at_start": load}


def _child_cpu() -> float:
    """User + system CPU seconds of all finished child processes (and theirs)."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _complete_lines(path: Path) -> list[dict]:
    """Rows of a JSONL file, read only (a run may still be appending: a torn last line is skipped)."""
    rows = []
    for line in path.read_text().splitlines() if path.exists() else []:
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            break
    return rows


def summarize(root: Path, verify_log: Path | None) -> dict:
    """Figures of an existing dataset: yield per class, verdict kinds, the card's throughput line,
    and the ``dataset verify`` result (last line of its log: ``confirmed/total verdicts confirmed``)."""
    from collections import Counter

    from llm2hls.dataset.card import cost_summary
    from llm2hls.dataset.generate import yield_table

    recs, rej = _complete_lines(root / "records.jsonl"), _complete_lines(root / "rejected.jsonl")
    cfg = json.loads((root / "config.json").read_text())
    card = (root / "DATASET.md").read_text() if (root / "DATASET.md").exists() else ""
    verified, verify_cpu, verify_wall = None, None, None
    if verify_log and verify_log.exists():
        log = verify_log.read_text()
        last = [l for l in log.splitlines() if l.endswith("verdicts confirmed")]
        verified = last[-1] if last else "verify did not finish"
        verify_cpu, verify_wall = _time_v(log)
    return {"date": time.strftime("%Y-%m-%d %H:%M:%S"), "dataset": str(root), "config": cfg,
            "records": len(recs), "verified_buggy": sum(r["verdict"]["label"] == "buggy" for r in recs),
            "equivalent": sum(r["verdict"]["label"] == "equivalent" for r in recs), "rejected": len(rej),
            "base_designs": len({r["base_design"] for r in recs}),
            "kinds": dict(Counter(r["verdict"]["kind"] for r in recs)),
            "yield_per_class": yield_table(recs, rej, cfg["classes"]),
            "card_throughput": next((l for l in card.splitlines() if l.startswith("Throughput")), None),
            "cost": cost_summary(recs, rej), "verify": verified, "verify_cpu_seconds": verify_cpu,
            "verify_wall": verify_wall}


def _time_v(log: str) -> tuple[float | None, str | None]:
    """CPU seconds (user + system, children included) and wall time from ``/usr/bin/time -v`` output."""
    import re

    user = re.search(r"User time \(seconds\): ([\d.]+)", log)
    system = re.search(r"System time \(seconds\): ([\d.]+)", log)
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)", log)
    cpu = round(float(user.group(1)) + float(system.group(1)), 1) if user and system else None
    return cpu, wall.group(1) if wall else None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--summarize", metavar="DIR", help="summarize an existing dataset instead of benchmarking")
    ap.add_argument("--verify-log", metavar="LOG", help="log of 'llm2hls dataset verify DIR' (with --summarize)")
    ap.add_argument("--count", type=int, default=40)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--models", type=int, default=0)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "dataset_bench.jsonl"))
    a = ap.parse_args()
    if a.summarize:
        row = summarize(Path(a.summarize), Path(a.verify_log) if a.verify_log else None)
        with open(Path(a.out).with_name("dataset_full_run.jsonl"), "a") as f:
            f.write(json.dumps(row) + "\n")
        json.dump(row, sys.stdout, indent=1)
        print()
        return
    tmp = Path(tempfile.mkdtemp(prefix="dataset-bench-"))
    cmd = ["llm2hls", "dataset", "generate", "--out", str(tmp / "ds"), "--count", str(a.count),
           "--jobs", str(a.jobs), "--seed", str(a.seed), "--models", str(a.models)]
    info = machine()
    try:
        t0, c0 = time.perf_counter(), _child_cpu()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        secs, cpu = time.perf_counter() - t0, _child_cpu() - c0
        recs = [json.loads(l) for l in (tmp / "ds" / "records.jsonl").read_text().splitlines()]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    buggy = sum(r["verdict"]["label"] == "buggy" for r in recs)
    row = {"date": time.strftime("%Y-%m-%d %H:%M:%S"), "command": " ".join(cmd[:3] + ["--out", "TMP"] + cmd[5:]),
           "machine": info, "tasks": a.count, "records": len(recs), "verified_buggy": buggy,
           "equivalent": len(recs) - buggy, "seconds": round(secs, 1), "cpu_seconds": round(cpu, 1),
           "cpu_seconds_per_record": round(cpu / max(1, len(recs)), 2),
           "records_per_hour_2_idle_cores": round(len(recs) * 3600 * 2 / cpu),
           "records_per_hour": round(len(recs) * 3600 / secs), "buggy_per_hour": round(buggy * 3600 / secs)}
    with open(a.out, "a") as f:
        f.write(json.dumps(row) + "\n")
    json.dump(row, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
