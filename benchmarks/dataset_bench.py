"""Throughput of ``llm2hls dataset generate``: verified records per hour on this machine.

    python benchmarks/dataset_bench.py [--count 40] [--jobs 2] [--seed 0] [--models 0] [--out FILE]

Runs a fresh generate into a temp folder, then appends one JSON line (command, machine, counts,
seconds, records/hour) to ``benchmarks/results/dataset_bench.jsonl``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=40)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--models", type=int, default=0)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "dataset_bench.jsonl"))
    a = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="dataset-bench-"))
    cmd = ["llm2hls", "dataset", "generate", "--out", str(tmp / "ds"), "--count", str(a.count),
           "--jobs", str(a.jobs), "--seed", str(a.seed), "--models", str(a.models)]
    info = machine()
    try:
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        secs = time.perf_counter() - t0
        recs = [json.loads(l) for l in (tmp / "ds" / "records.jsonl").read_text().splitlines()]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    buggy = sum(r["verdict"]["label"] == "buggy" for r in recs)
    row = {"date": time.strftime("%Y-%m-%d %H:%M:%S"), "command": " ".join(cmd[:3] + ["--out", "TMP"] + cmd[5:]),
           "machine": info, "tasks": a.count, "records": len(recs), "verified_buggy": buggy,
           "equivalent": len(recs) - buggy, "seconds": round(secs, 1),
           "records_per_hour": round(len(recs) * 3600 / secs), "buggy_per_hour": round(buggy * 3600 / secs)}
    with open(a.out, "a") as f:
        f.write(json.dumps(row) + "\n")
    json.dump(row, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
