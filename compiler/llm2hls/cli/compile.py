"""``llm2hls compile MODEL``: model -> verified Vitis HLS project (see docs/cli.md)."""

from __future__ import annotations

import json
import sys
import time

import click

from ..errors import UserError
from ..passes.parallelize import DEFAULT_LANES


@click.command("compile")
@click.argument("model")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default=None,
              help="Output folder (default: hls_out/<model name>).")
@click.option("--seq-len", type=int, default=None, help="Tokens per inference (default: 16, or the .pt2's).")
@click.option("--quant", default="w8a16", show_default=True,
              help="Quantization scheme: w8a16, w8a8, w4a16, w4a8, w4a16-asym, w4a8-asym, float "
                   "(w<B>a<A>[-asym][-g<G>]; docs/quantization.md).")
@click.option("--weight-bits", type=click.IntRange(2, 8), default=None, help="Weight bits (overrides the scheme's).")
@click.option("--group-size", type=click.IntRange(0, 65536), default=None,
              help="Input channels per weight scale (0: per output channel; default 64 for <= 4-bit weights).")
@click.option("--keep-8bit", default="", help="Linears kept at w8a16: comma list of lm_head, first, last, or module paths.")
@click.option("--calib-text", type=click.Path(dir_okay=False), default=None,
              help="Calibrate on this text file (tokenized with the model's tokenizer; pydoc:calib = built-in).")
@click.option("--smooth-alpha", type=click.FloatRange(0, 1), default=None,
              help="SmoothQuant strength for 8-bit matrix inputs (default 0.5 there).")
@click.option("--lanes", type=click.IntRange(1, 1024), default=DEFAULT_LANES, show_default=True,
              help="Maximum parallel output channels per matrix stage.")
@click.option("--stream-width", type=int, default=1, show_default=True,
              help="Values per stream transfer (a power of two): a row of C values moves as beats of "
                   "gcd(W, C), one beat per cycle (docs/cli.md).")
@click.option("--share-layers", is_flag=True,
              help="One set of C types for every transformer layer (a reused block engine; docs/performance.md).")
@click.option("--engine", is_flag=True,
              help="Emit the layers as one block engine called once per layer (implies --share-layers; docs/engine.md).")
@click.option("--fuse", "fusions", default="all", show_default=True,
              help="Fusions to apply: comma list of act, glu, residual, siblings, norm (docs/numerics.md).")
@click.option("--no-fuse", is_flag=True, help="Keep every stage apart (debugging); same as --fuse none.")
@click.option("--decode", is_flag=True,
              help="Prefill/decode accelerator with KV caches; csim runs greedy generation (docs/decode.md).")
@click.option("--max-context", type=click.IntRange(2, 1 << 16), default=None,
              help="--decode: positions of the KV cache (default: --seq-len).")
@click.option("--prompt", default=None, help="--decode: prompt token ids of the csim test, e.g. 1,2,3.")
@click.option("--new-tokens", type=click.IntRange(1, 1 << 16), default=None,
              help="--decode: tokens the csim test generates (default 6).")
@click.option("--no-csim", is_flag=True, help="Skip the g++ C simulation.")
@click.option("--json", "as_json", is_flag=True, help="Print a machine-readable summary on stdout.")
@click.option("--trust-pickle", is_flag=True, help="Allow loading a pickled .pt model (runs its code).")
@click.option("--design", "design_file", type=click.Path(dir_okay=False), default=None,
              help="Apply a design saved by `llm2hls explore --save-design` (scheme, width, engine, lanes, placement).")
def compile_cmd(model: str, out_dir: str | None, seq_len: int | None, quant: str, weight_bits: int | None,
                group_size: int | None, keep_8bit: str, calib_text: str | None, smooth_alpha: float | None,
                lanes: int, stream_width: int, share_layers: bool, engine: bool, fusions: str, no_fuse: bool, decode: bool, max_context: int | None, prompt: str | None,
                new_tokens: int | None, no_csim: bool, as_json: bool, trust_pickle: bool,
                design_file: str | None = None) -> None:
    """Compile MODEL (.pt2, .pt, HuggingFace folder, .gguf) into a Vitis HLS project, proven by C simulation."""
    from ..backends.hls.decode import parse_prompt
    from ..pipeline import compile_model

    if not decode and (max_context or prompt or new_tokens):
        raise UserError("--max-context, --prompt and --new-tokens only apply with --decode")
    if stream_width < 1 or stream_width & (stream_width - 1):
        raise UserError(f"--stream-width must be a power of two >= 1 (got {stream_width}), e.g. --stream-width 4")

    design = None
    if design_file is not None:  # a saved exploration design (dse/design_file.py)
        from ..dse.design_file import explicit_options, read_design

        design = read_design(design_file)
        design.check_options(explicit_options(click.get_current_context()))
        quant, group_size, engine = design.quant, design.group_size, design.engine

    start = time.perf_counter()

    def progress(msg: str) -> None:
        click.echo(f"[{time.perf_counter() - start:6.1f}s] {msg}", err=True)

    result = compile_model(model, out_dir=out_dir, seq_len=seq_len, quant=quant, weight_bits=weight_bits,
                           lanes=lanes, csim=not no_csim, trust_pickle=trust_pickle, progress=progress,
                           group_size=group_size, keep_8bit=keep_8bit, calib_text=calib_text,
                           smooth_alpha=smooth_alpha, share_layers=share_layers or engine, engine=engine,
                           fusions="none" if no_fuse else fusions, decode=decode,
                           max_context=max_context, prompt=parse_prompt(prompt) if prompt else None,
                           new_tokens=new_tokens, design=design, stream_width=stream_width)
    summary = result.to_json()
    summary["stream_width"] = result.report.get("stream_width", stream_width)
    click.echo(summary_text(summary), err=True)
    if as_json:
        click.echo(json.dumps(summary, indent=1))
    cs = summary["csim"]
    if cs is not None and not cs["passed"]:
        sys.exit(1)


def summary_text(s: dict) -> str:
    """The short human summary printed at the end of a compile."""
    cs = s["csim"]
    if cs is None:
        csim = "skipped (--no-csim)"
    else:
        kind = "bit-exact" if cs.get("bit_exact") else "float, within tolerance"
        csim = (f"{'PASS' if cs['passed'] else 'FAIL'}: {cs['mismatches']} mismatches in "
                f"{cs['elements']} elements ({kind})")
    lines = [
        f"compiled {s['model']} -> {s['out_dir']}",
        f"  ops {s['ops']}, stages {s['stages']}, parameters {s['parameters']:,} "
        f"({s['param_bytes']:,} bytes, {s['quant']['scheme']})",
        f"  C simulation: {csim}",
    ]
    if s.get("stream_width", 1) > 1:
        lines.insert(2, f"  stream width {s['stream_width']}: up to {s['stream_width']} values per stream transfer")
    if cs is not None and cs.get("tokens") is not None:
        lines.append(f"  generated tokens (greedy, csim): {cs['tokens']}")
    acc = (s.get("accuracy") or {}).get("vs_torch") or (s.get("accuracy") or {}).get("vs_reference_float")
    if acc:
        ref = "PyTorch float" if (s["accuracy"] or {}).get("vs_torch") else "reference float"
        lines.append(f"  error vs {ref}: max abs {acc['max_abs']:.4g}, relative {acc['relative']:.4g}")
    lines.append(f"  time {s['seconds']:.1f} s")
    return "\n".join(lines)
