"""``llm2hls eval MODEL``: perplexity / embedding cosine of float, fake-quant and the integer pipeline."""

from __future__ import annotations

import json

import click


@click.command("eval")
@click.argument("model")
@click.option("--quant", default="w8a16", show_default=True, help="Quantization scheme (see llm2hls compile --help).")
@click.option("--text", default="pydoc:eval", show_default=True,
              help="UTF-8 text file to evaluate on (pydoc:eval = held-out part of CPython's pydoc topics).")
@click.option("--calib-text", default="pydoc:calib", show_default=True, help="Text to calibrate on.")
@click.option("--max-tokens", type=click.IntRange(2), default=4096, show_default=True, help="Tokens of --text to use.")
@click.option("--seq-len", type=click.IntRange(2), default=128, show_default=True, help="Window (compiled sequence) length.")
@click.option("--group-size", type=click.IntRange(0, 65536), default=None, help="Input channels per weight scale.")
@click.option("--keep-8bit", default="", help="Linears kept at w8a16 (lm_head, first, last, module paths).")
@click.option("--smooth-alpha", type=click.FloatRange(0, 1), default=None, help="SmoothQuant strength.")
@click.option("--json", "as_json", is_flag=True, help="Print the result document on stdout.")
@click.option("--trust-pickle", is_flag=True, help="Allow loading a pickled .pt model (runs its code).")
def eval_cmd(model: str, quant: str, text: str, calib_text: str, max_tokens: int, seq_len: int,
             group_size: int | None, keep_8bit: str, smooth_alpha: float | None, as_json: bool,
             trust_pickle: bool) -> None:
    """Evaluate MODEL (HuggingFace folder, .gguf, .pt) under a quantization scheme on real text."""
    from ..eval.evaluate import evaluate

    res = evaluate(model, quant=quant, text=text, max_tokens=max_tokens, seq_len=seq_len, calib_text=calib_text,
                   group_size=group_size, keep_8bit=keep_8bit, smooth_alpha=smooth_alpha, progress=True,
                   trust_pickle=trust_pickle)
    click.echo(summary_text(res), err=True)
    if as_json:
        click.echo(json.dumps(res, indent=1))


def summary_text(r: dict) -> str:
    """Human summary of an eval result."""
    head = f"{r['model']} {r['quant']}: {r['windows']} windows x {r['seq_len']} tokens"
    if "perplexity" in r:
        p, g = r["perplexity"], r["gap"]
        return (f"{head}\n  perplexity float {p['float']:.4f}, fake-quant {p['fake_quant']:.4f} "
                f"({100 * g['fake_quant_vs_float']:+.2f}%), integer {p['integer']:.4f} "
                f"({100 * g['integer_vs_float']:+.2f}%; vs fake-quant {100 * g['integer_vs_fake_quant']:+.3f}%)")
    c = r["cosine"]
    return (f"{head}\n  embedding cosine to float: fake-quant {c['fake_quant']['mean']:.5f}, "
            f"integer {c['integer']['mean']:.5f} (min {c['integer']['min']:.5f})")
