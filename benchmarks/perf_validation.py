"""Performance model vs RTL simulation: tiny GPT-2 and Llama, prefill and decode, weights on chip
and off chip (bench memory model at a low bandwidth), a few lane settings.

    python benchmarks/perf_validation.py   ->  benchmarks/results/perf_validation.{json,md}

Every row: predicted cycles (perf.validate.predict: the per-stage model composed over the graph)
vs simulated cycles (Icarus, first input to last output, outputs bit-exact).
"""

from __future__ import annotations

import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from models import tiny_gpt2, tiny_llama  # noqa: E402

from llm2hls.passes.decode_step import decode_step, load_kv_cache, step_golden  # noqa: E402
from llm2hls.perf.model import MemoryModel  # noqa: E402
from llm2hls.perf.validate import measure, place_offchip, predict  # noqa: E402
from llm2hls.pipeline import compile_model  # noqa: E402

MODELS = {
    "gpt2": lambda: tiny_gpt2(hidden=32, heads=2, layers=1, vocab=50),
    "llama": lambda: tiny_llama(hidden=32, heads=4, kv_heads=2, layers=1, intermediate=48, vocab=50),
}
TOKENS = 4
MEMORY = MemoryModel(channels=1, bytes_per_cycle_per_channel=1.0, eta=1.0, latency_cycles=40)


def rows_for(name: str, lanes: int, work: Path) -> list[dict]:
    g0 = compile_model(MODELS[name](), work / f"{name}_l{lanes}", seq_len=TOKENS, lanes=lanes,
                       csim=False, name=name).graph
    prompt = {g0.inputs[0]: np.random.default_rng(0).integers(0, 50, size=TOKENS)}
    out = []
    for offchip in (False, True):
        g = place_offchip(g0, offchip)
        pos = TOKENS - 1
        cases = [("prefill", g, TOKENS, 0, [prompt], None),
                 ("decode", load_kv_cache(decode_step(g, pos), g, prompt), 1, pos,
                  [{g.inputs[0]: prompt[g.inputs[0]][pos:pos + 1]}], step_golden(g, prompt, pos))]
        for phase, graph, tokens, ctx, inputs, golden in cases:
            t = time.time()
            p = predict(graph, MEMORY, tokens, ctx)
            m = measure(graph, MEMORY, work / f"{name}_{lanes}_{offchip}_{phase}", inputs, golden)
            out.append({"model": name, "lanes": lanes, "weights": "off-chip" if offchip else "on-chip",
                        "phase": phase, "tokens": tokens, "context": ctx, "predicted": p["cycles"],
                        "simulated": m["cycles"], "ratio": p["cycles"] / m["cycles"], "bound": p["bound"],
                        "bit_exact": m["passed"], "seconds": round(time.time() - t, 1)})
            print(out[-1], flush=True)
    return out


def main() -> None:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, lanes in (("gpt2", 4), ("gpt2", 2), ("llama", 4)):
            rows += rows_for(name, lanes, Path(tmp))
    doc = {"command": "python benchmarks/perf_validation.py", "machine": f"{platform.node()} "
           f"{os.cpu_count()} cores, Python {platform.python_version()}", "memory": MEMORY.__dict__,
           "rows": rows, "max_abs_error": max(abs(r["ratio"] - 1) for r in rows)}
    res = ROOT / "benchmarks" / "results"
    res.mkdir(parents=True, exist_ok=True)
    (res / "perf_validation.json").write_text(json.dumps(doc, indent=1) + "\n")
    lines = ["| model | lanes | weights | phase | predicted | simulated | ratio | bound | bit-exact |",
             "|---|---|---|---|---|---|---|---|---|"]
    lines += [f"| {r['model']} | {r['lanes']} | {r['weights']} | {r['phase']} | {r['predicted']:,} | "
              f"{r['simulated']:,} | {r['ratio']:.3f} | {r['bound']} | {r['bit_exact']} |" for r in rows]
    (res / "perf_validation.md").write_text(
        f"# Performance model vs RTL cycles\n\n`{doc['command']}` on {doc['machine']}; memory "
        f"{MEMORY.channels} channel, {MEMORY.bytes_per_cycle_per_channel} B/cycle, latency "
        f"{MEMORY.latency_cycles} cycles (bench memory model). Max |error| "
        f"{doc['max_abs_error']:.1%}.\n\n" + "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
