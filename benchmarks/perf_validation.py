"""Performance model vs RTL simulation: tiny GPT-2 and Llama, prefill and decode, weights on chip
and off chip (bench memory model at a low bandwidth), a few lane settings, stream widths
W = 1, 2, 4, 8 (``compile_model(..., stream_width=W)``: every stream carries gcd(W, row) elements
per beat).

    python benchmarks/perf_validation.py [--jobs 2]  ->  benchmarks/results/perf_validation.{json,md}

Every row: predicted cycles (perf.validate.predict: the per-stage model composed over the graph)
vs simulated cycles (Icarus, first input to last output, outputs bit-exact). Lanes "wide": every
linear gets ``n x W`` lanes, i.e. all its output channels and one input beat per cycle (the
outputs x inputs split of perf.model.linear_lanes_split), so the streams, not the MACs, set the
pace.

Attention taking P keys per cycle (``node.lanes``): ``KEYS_CONFIGS`` run 12 tokens so the keys
matter, weights on chip (off chip the memory sets the pace); ``--only keys`` runs just those and
replaces their rows in the results (the others kept).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from models import tiny_gpt2, tiny_llama  # noqa: E402

from llm2hls.passes.decode_step import decode_step, load_kv_cache, step_golden  # noqa: E402
from llm2hls.perf.model import MemoryModel  # noqa: E402
from llm2hls.perf.validate import measure, place_offchip, predict, with_keys_per_cycle  # noqa: E402
from llm2hls.pipeline import compile_model  # noqa: E402

MODELS = {
    "gpt2": lambda: tiny_gpt2(hidden=32, heads=2, layers=1, vocab=50),
    "llama": lambda: tiny_llama(hidden=32, heads=4, kv_heads=2, layers=1, intermediate=48, vocab=50),
}
TOKENS = 4
MEMORY = MemoryModel(channels=1, bytes_per_cycle_per_channel=1.0, eta=1.0, latency_cycles=40)


# (model, lanes, stream widths): lanes 4 and 2 are MAC-bound linears (as before), "wide" ones
# are stream-bound; each at every width of the table
CONFIGS = [("gpt2", 4, (1, 2, 4, 8)), ("gpt2", 2, (1, 4)), ("llama", 4, (1, 2, 4, 8)),
           ("gpt2", "wide", (1, 2, 4, 8)), ("llama", "wide", (2, 8))]
# (model, lanes, stream width, attention keys per cycle), at KEYS_TOKENS tokens
KEYS_CONFIGS = [("gpt2", "wide", 1, 2), ("gpt2", "wide", 1, 3), ("gpt2", "wide", 2, 2), ("llama", "wide", 1, 2)]
KEYS_TOKENS = 12


def rows_for(name: str, lanes: int | str, width: int, work: Path, keys: int = 1,
             tokens: int = TOKENS, placements: tuple[bool, ...] = (False, True)) -> list[dict]:
    tag = f"{name}_l{lanes}_w{width}_p{keys}"
    g0 = compile_model(MODELS[name](), work / tag, seq_len=tokens, lanes=4 if lanes == "wide" else lanes,
                       csim=False, name=name, stream_width=width).graph
    g0 = with_keys_per_cycle(g0, keys)
    if lanes == "wide":
        for n in g0.nodes.values():
            if n.op == "linear":
                n.lanes = int(n.param("q_weight").shape[0]) * width
    prompt = {g0.inputs[0]: np.random.default_rng(0).integers(0, 50, size=tokens)}
    out = []
    for offchip in placements:
        g = place_offchip(g0, offchip)
        pos = tokens - 1
        cases = [("prefill", g, tokens, 0, [prompt], None),
                 ("decode", load_kv_cache(decode_step(g, pos), g, prompt), 1, pos,
                  [{g.inputs[0]: prompt[g.inputs[0]][pos:pos + 1]}], step_golden(g, prompt, pos))]
        for phase, graph, tokens, ctx, inputs, golden in cases:
            t = time.time()
            p = predict(graph, MEMORY, tokens, ctx)
            m = measure(graph, MEMORY, work / f"{tag}_{offchip}_{phase}", inputs, golden)
            out.append({"model": name, "lanes": lanes, "width": width, "keys": keys,
                        "weights": "off-chip" if offchip else "on-chip",
                        "phase": phase, "tokens": tokens, "context": ctx, "predicted": p["cycles"],
                        "simulated": m["cycles"], "ratio": p["cycles"] / m["cycles"] if m["cycles"] else None,
                        "bound": p["bound"],
                        "bit_exact": m["passed"], "seconds": round(time.time() - t, 1)})
            print(out[-1], flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=1, help="configurations simulated in parallel")
    ap.add_argument("--only", choices=["keys"], help="run only the attention keys-per-cycle cases")
    args = ap.parse_args()
    jobs = [] if args.only else [(name, lanes, w, 1, TOKENS, (False, True)) for name, lanes, widths in CONFIGS
                                 for w in widths]
    jobs += [(name, lanes, w, p, KEYS_TOKENS, (False,)) for name, lanes, w, p in KEYS_CONFIGS]
    t0 = time.time()
    with tempfile.TemporaryDirectory() as tmp, ProcessPoolExecutor(args.jobs) as pool:
        parts = pool.map(rows_for, *zip(*[(n, ln, w, Path(tmp), p, t, on) for n, ln, w, p, t, on in jobs]))
        rows = [r for part in parts for r in part]
    seconds = round(time.time() - t0)
    if args.only:  # keep the other rows of the last full run
        old = json.loads((ROOT / "benchmarks" / "results" / "perf_validation.json").read_text())
        rows = [r for r in old["rows"] if r.get("keys", 1) == 1] + rows
        seconds += old["seconds"]
    write_results(rows, seconds)


def write_results(rows: list[dict], seconds: int) -> None:
    """``benchmarks/results/perf_validation.{json,md}`` from the rows."""
    doc = {"command": "python benchmarks/perf_validation.py", "machine": f"{platform.node()} "
           f"{os.cpu_count()} cores, Python {platform.python_version()}", "memory": MEMORY.__dict__,
           "rows": rows, "max_abs_error": max(abs(r["ratio"] - 1) if r["ratio"] else 1.0 for r in rows),
           "all_bit_exact": all(r["bit_exact"] for r in rows), "seconds": seconds}
    res = ROOT / "benchmarks" / "results"
    res.mkdir(parents=True, exist_ok=True)
    (res / "perf_validation.json").write_text(json.dumps(doc, indent=1) + "\n")
    lines = ["| model | lanes | W | P | weights | phase | tokens | predicted | simulated | ratio | bound | bit-exact |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    lines += [f"| {r['model']} | {r['lanes']} | {r['width']} | {r.get('keys', 1)} | {r['weights']} | {r['phase']} | "
              f"{r['tokens']} | "
              f"{r['predicted']:,} | {r['simulated'] or 0:,} | {r['ratio'] or 0:.3f} | {r['bound']} | {r['bit_exact']} |"
              for r in rows]
    (res / "perf_validation.md").write_text(
        f"# Performance model vs RTL cycles\n\n`{doc['command']}` on {doc['machine']}; memory "
        f"{MEMORY.channels} channel, {MEMORY.bytes_per_cycle_per_channel} B/cycle, latency "
        f"{MEMORY.latency_cycles} cycles (bench memory model); {len(rows)} cases, all outputs "
        f"bit-exact: {doc['all_bit_exact']}; max |error| {doc['max_abs_error']:.1%}; "
        f"{doc['seconds']} s.\n\n" + "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
