"""``llm2hls explore``: model a transformer on a board and search for the best design."""

from __future__ import annotations

import json

import click

from ..dse import STREAM_WIDTHS
from ..errors import UserError
from ..perf.model import BACKEND_STREAM_WIDTH, WIDTH_NOTE


@click.command("explore")
@click.argument("model", required=False)
@click.option("--preset", "preset_name", default=None,
              help="A known architecture instead of MODEL: gpt2, gpt2-medium, smollm2-135m, pythia-1.4b, llama-1b.")
@click.option("--target", "target_name", default="U280", show_default=True, help="Board (see docs/targets.md).")
@click.option("--quant", default="w4a8", show_default=True, help="Scheme: wXaY or wXaYgG (group-wise scales).")
@click.option("--prompt", type=click.IntRange(1, 1 << 20), default=128, show_default=True, help="Prompt tokens.")
@click.option("--generate", type=click.IntRange(1, 1 << 20), default=128, show_default=True, help="Generated tokens.")
@click.option("--objective", type=click.Choice(["throughput", "latency"]), default="throughput", show_default=True)
@click.option("--eta", type=click.FloatRange(0.05, 1.0), default=None, help="Burst efficiency (default: the board's).")
@click.option("--clock-mhz", type=float, default=None, help="Kernel clock (default: the board's).")
@click.option("--plots", "plots_dir", type=click.Path(file_okay=False), default=None, help="Write PNG plots here.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON on stdout.")
@click.option("--stream-width", type=click.Choice([str(w) for w in STREAM_WIDTHS]), default=None,
              help="Explore only this stream width (default: every width).")
@click.option("--save-design", "design_path", type=click.Path(dir_okay=False), default=None,
              help="Write the best design as JSON for `llm2hls compile --design FILE`.")
def explore_cmd(model, preset_name, target_name, quant, prompt, generate, objective, eta,
                clock_mhz, plots_dir, as_json, stream_width, design_path) -> None:
    """Model MODEL (an HF folder or config.json) on a board; print the best design and Pareto front."""
    from ..dse import explore
    from ..perf import Operating, Scheme, load_shape, preset, stages_from_shape
    from ..targets import get_target

    if (model is None) == (preset_name is None):
        raise UserError("give either MODEL (an HF folder or config.json) or --preset NAME, not both or neither")
    shape = preset(preset_name) if preset_name else load_shape(model)
    scheme = Scheme.parse(quant)
    target = get_target(target_name, clock_mhz)
    op = Operating(prompt, generate)
    stages = stages_from_shape(shape, scheme)
    widths = (int(stream_width),) if stream_width else STREAM_WIDTHS
    ex = explore(stages, scheme, target, op, objective, eta, widths)
    doc = {
        "model": shape.name, "params": shape.params(), "target": target.name, "scheme": scheme.name,
        "operating": {"prompt": prompt, "generate": generate, "decode_context": op.decode_context},
        "eta": eta if eta is not None else target.memory.burst_efficiency, "clock_mhz": target.clock_mhz,
        "objective": objective, "evaluated": ex.evaluated, "feasible": ex.feasible,
        "seconds": round(ex.seconds, 3),
        "best": {**ex.best.summary(), "placement": ex.best.design.reasons,
                 "performance": ex.best.perf.to_json(), "lanes": ex.best.design.lanes},
        "pareto_front": [p.summary() for p in ex.front],
        "engines": {str(e): p.summary() for e, p in ex.by_engines.items()},
        "stream_widths": {str(w): p.summary() for w, p in ex.by_width.items()},
        "backend_stream_width": BACKEND_STREAM_WIDTH,
        "note": WIDTH_NOTE,
    }
    if plots_dir:
        from ..perf.plots import write_plots

        doc["plots"] = {k: str(v) for k, v in write_plots(ex.best.perf, target, plots_dir,
                                                          f"{shape.name} {scheme.name} on {target.name}").items()}
    if design_path:
        from dataclasses import asdict

        from ..dse.design_file import design_document, write_design

        saved = design_document(ex, stages, scheme, target, op, doc["eta"], shape.name, asdict(shape))
        doc["design_file"] = str(write_design(saved, design_path))
    if as_json:
        click.echo(json.dumps(doc, indent=1, default=str))
    else:
        click.echo(_text(doc, ex))
        if design_path:
            click.echo(f"design written to {design_path}: llm2hls compile MODEL --design {design_path}")


def _text(doc, ex) -> str:
    b, p = doc["best"], ex.best.perf
    lines = [
        f"{doc['model']} ({doc['params'] / 1e6:.1f} M params) {doc['scheme']} on {doc['target']} "
        f"@ {doc['clock_mhz']:.0f} MHz, eta {doc['eta']:.2f}; {doc['evaluated']} designs in {doc['seconds']} s",
        f"best ({doc['objective']}): {b['decode_tps']:.1f} tok/s decode, TTFT {b['ttft_ms']:.2f} ms "
        f"(prompt {doc['operating']['prompt']}), {b['power_w']:.1f} W, {b['tokens_per_j']:.2f} tok/J",
        f"  roofline {p.roofline_tps:.1f} tok/s at {p.offchip_bytes_per_token / 1e6:.2f} MB/token off-chip "
        f"-> {p.fraction_of_roofline:.1%} of it ({p.fraction_of_all_offchip_roofline:.1%} of the all-off-chip roofline "
        f"{p.roofline_all_offchip_tps:.1f})",
        f"  stream width {b['stream_width']} element(s) per beat; {WIDTH_NOTE}",
        f"  {b['channels']} channels, linear lanes {b['linear_lanes']}, attention lanes {b['attention_lanes']}, "
        f"{_engines_text(b['engines'])}; DSP {b['dsp']}, BRAM18 {b['bram18']}, "
        f"URAM {b['uram']}, LUT {b['lut']}",
        "  placement:", *(f"    {r}" for r in b["placement"]),
        "  batch: " + ", ".join(f"B={c['batch']}: {c['tokens_per_s']:.0f} tok/s" for c in p.batch_curve),
        "best design per stream width (elements per beat):",
        *(f"  W={w:>2}: {q['decode_tps']:9.1f} tok/s, {q['fraction_of_roofline']:.1%} of the roofline, "
          f"DSP {q['dsp']:6d}, resource share {q['resource_share']:.2f}" for w, q in doc["stream_widths"].items()),
        "block engines (1 = one reused engine, per-layer weight offsets; more = replicated, weights on chip):",
        *(f"  {e:>3}: best {q['decode_tps']:9.1f} tok/s, TTFT {q['ttft_ms']:8.2f} ms, DSP {q['dsp']:6d}, "
          f"resource share {q['resource_share']:.2f}" for e, q in doc["engines"].items()),
        "Pareto front (tokens/s, resource share, power):",
        f"  {'tok/s':>9} {'TTFT ms':>9} {'watt':>6} {'share':>6} {'ch':>3} {'lanes':>6} {'eng':>4} {'width':>5} {'DSP':>6} {'URAM':>5}",
    ]
    for q in doc["pareto_front"]:
        lines.append(f"  {q['decode_tps']:9.1f} {q['ttft_ms']:9.2f} {q['power_w']:6.1f} {q['resource_share']:6.2f} "
                     f"{q['channels']:3d} {q['linear_lanes']:6d} {q['engines']:4d} {q['stream_width']:5d} {q['dsp']:6d} {q['uram']:5d}")
    return "\n".join(lines)


def _engines_text(engines: int) -> str:
    return "one reused block engine" if engines == 1 else f"{engines} block engines (replicated)"
