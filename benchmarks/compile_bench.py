"""Compile-time benchmark of the tiny zoo: compile time, C simulation build/run time, peak memory.

Usage: python benchmarks/compile_bench.py [MODEL ...]   (default: every zoo model)
Writes benchmarks/results/compile.json with the command and the machine. C simulation builds are
cached by source hash; set LLM2HLS_CACHE to an empty folder to measure cold builds.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))


def machine() -> dict:
    import torch

    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")), platform.processor())
    return {"nproc": os.cpu_count(), "cpu": cpu, "python": platform.python_version(), "torch": torch.__version__}


def bench(name: str, factory, seq: int, out_root: Path) -> dict:
    from llm2hls.pipeline import compile_model

    tracemalloc.start()
    start = time.perf_counter()
    res = compile_model(factory(), out_dir=out_root / name, seq_len=seq, name=name)
    total = time.perf_counter() - start
    _, peak_py = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    cs = res.csim
    return {
        "model": name, "seq_len": seq, "stages": res.report["totals"]["stages"],
        "parameters": res.report["totals"]["parameters"],
        "compile_s": round(total - cs["build_s"] - cs["run_s"], 3),
        "csim_build_s": cs["build_s"], "csim_cached": cs["cached"], "csim_run_s": cs["run_s"],
        "csim_mismatches": cs["mismatches"], "total_s": round(total, 3),
        "peak_python_mb": round(peak_py / 2**20, 1),
        "max_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def main(argv: list[str]) -> None:
    from models import tiny_model_zoo

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, factory, seq in tiny_model_zoo():
            if argv and name not in argv:
                continue
            row = bench(name, factory, seq, Path(tmp))
            print(json.dumps(row), flush=True)
            rows.append(row)
    doc = {"command": " ".join([Path(sys.executable).name, *sys.argv]), "machine": machine(), "results": rows}
    out = ROOT / "benchmarks" / "results" / "compile.json"
    out.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main(sys.argv[1:])
