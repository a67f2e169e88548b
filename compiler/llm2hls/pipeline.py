"""The whole compiler: model -> verified Vitis HLS project.

``import -> canonicalize -> fuse -> calibrate + quantize -> parallelize -> forks -> beats -> FIFOs ->
emit -> C simulation -> report``. Everything is written into a temporary folder beside the target
and renamed at the end, so an error never leaves a half-written project.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .backends.hls import emit_project
from .errors import UserError
from .ops.base import op_kind
from .ir.graph import Graph
from .ir.serialize import save_graph
from .passes.canonicalize import clone
from .passes.fifo import size_fifos
from .passes.forks import insert_forks
from .passes.fuse import fuse, fused_overrides, parse_fusions
from .passes.beats import DEFAULT_WIDTH, assign_beats
from .passes.parallelize import DEFAULT_LANES, parallelize
from .passes.quantize import QuantConfig, calibrate, keep_8bit_overrides, quantize_graph
from .passes.smooth import smooth_graph
from .reference import dequantize_outputs, quantize_inputs, run_graph
from .report import build_report, write_report

Progress = Callable[[str], None]
CALIB_SAMPLES = 4
CSIM_MAX_MACS = 2_000_000_000
"""Above this many MACs per inference C simulation (ap_fixed emulation) would take hours: skipped."""
CSIM_MACS_PER_S = 1e6
"""A safe lower bound of the C simulation's speed (MACs per second), for its timeout."""
DEVICE_ONCHIP_BYTES = (5376 * 18 * 1024 + 1280 * 288 * 1024) // 8
"""BRAM18 + URAM bytes of the default part (Alveo U250, xcu250): ~54 MiB."""
CALIB_TEXT_WINDOWS = 8
"""At most this many windows of ``--calib-text`` calibrate a model."""
FLOAT_TOLERANCE = 1e-4
"""Relative tolerance of the float (unquantized) C simulation: float32 C++ vs float64 reference."""


@dataclass
class CompileResult:
    """Summary of one compilation (``to_json`` is the CLI's ``--json`` document)."""

    name: str
    out_dir: Path
    graph: Graph = field(repr=False)
    report: dict[str, Any] = field(repr=False)
    seconds: float = 0.0

    @property
    def csim(self) -> dict[str, Any] | None:
        return self.report.get("csim")

    def to_json(self) -> dict[str, Any]:
        t = self.report["totals"]
        return {
            "model": self.name,
            "out_dir": str(self.out_dir),
            "quant": self.report["quant"],
            "ops": len({n.op for n in self.graph.nodes.values()}),
            "stages": t["stages"],
            "parameters": t["parameters"],
            "param_bytes": t["param_bytes"],
            "macs": t["macs"],
            "interval_cycles": t["interval_cycles"],
            "dsp": t["dsp"],
            "bram18": t["bram18"],
            "csim": self.csim,
            "accuracy": self.report.get("accuracy"),
            "seconds": round(self.seconds, 3),
        }


def error_stats(got: np.ndarray, ref: np.ndarray) -> dict[str, float]:
    """Max absolute error and that error relative to the reference's max magnitude."""
    err = float(np.abs(np.asarray(got, np.float64) - np.asarray(ref, np.float64)).max(initial=0.0))
    scale = float(np.abs(ref).max(initial=0.0))
    return {"max_abs": err, "relative": err / scale if scale > 0 else err}


def random_inputs(graph: Graph, seed: int) -> dict[str, np.ndarray]:
    """Deterministic inputs: token ids below the vocabulary size, or N(0, 1) floats."""
    from .frontend.model import make_example_inputs

    return make_example_inputs(graph, seed)


def compile_model(
    model_or_path: Any,
    out_dir: Path | str | None = None,
    seq_len: int | None = None,
    quant: str = "w8a16",
    weight_bits: int | None = None,
    lanes: int = DEFAULT_LANES,
    csim: bool = True,
    trust_pickle: bool = False,
    progress: Progress | None = None,
    name: str | None = None,
    group_size: int | None = None,
    keep_8bit: str = "",
    calib_text: str | Path | None = None,
    smooth_alpha: float | None = None,
    share_layers: bool = False,
    engine: bool = False,
    fusions: str | None = None,
    decode: bool = False,
    max_context: int | None = None,
    prompt: list[int] | None = None,
    new_tokens: int | None = None,
    stream_width: int = DEFAULT_WIDTH,
    design: Any = None,
) -> CompileResult:
    """Compile a model (``nn.Module``, ``.pt2``, trusted ``.pt``, HF folder) into an HLS project.

    Default ``out_dir``: ``hls_out/<model name>``. Returns the summary; the project, its report and
    the C simulation result are in ``out_dir``. With ``decode`` the project is a prefill/decode
    accelerator with KV caches for ``max_context`` positions (default ``seq_len``) whose C
    simulation generates ``new_tokens`` greedily from ``prompt`` (docs/decode.md).
    """
    from .frontend import import_model

    say = progress or (lambda _msg: None)
    start = time.perf_counter()
    config = QuantConfig.from_scheme(quant, weight_bits, group_size, smooth_alpha)
    config.keep_8bit = keep_8bit
    parse_fusions(fusions)  # a bad --fuse fails before the slow import
    say(f"importing {model_or_path if isinstance(model_or_path, (str, Path)) else type(model_or_path).__name__}")
    if decode and max_context is not None:
        seq_len = max_context
    imported = import_model(model_or_path, seq_len=seq_len, trust_pickle=trust_pickle, name=name)
    graph = imported.graph
    say(f"imported {imported.name}: {len(graph.nodes)} stages, sequence length {imported.seq_len}")
    test_inputs = imported.example_inputs
    torch_out = imported.torch_outputs(test_inputs)
    if calib_text is not None:
        calib_inputs = text_calibration_inputs(model_or_path, graph, calib_text) + [test_inputs]
        say(f"calibrating on {len(calib_inputs) - 1} windows of {calib_text}")
    else:
        calib_inputs = [random_inputs(graph, seed) for seed in range(1, CALIB_SAMPLES + 1)] + [test_inputs]
    out = Path(out_dir) if out_dir is not None else Path("hls_out") / _safe_name(imported.name)
    request = None
    if decode:
        from .backends.hls.decode import DEFAULT_NEW_TOKENS, default_prompt, max_context as context_of

        ids = prompt if prompt is not None else default_prompt(graph, test_inputs[graph.inputs[0]])
        request = (ids, new_tokens or min(DEFAULT_NEW_TOKENS, context_of(graph) - len(ids) + 1))
    return compile_graph(graph, out, config, calib_inputs, test_inputs, lanes=lanes, csim=csim,
                         share_layers=share_layers, engine=engine, fusions=fusions,
                         torch_outputs=torch_out, progress=say, start=start, decode=request,
                         stream_width=stream_width, design=design)


def compile_graph(
    graph: Graph,
    out_dir: Path | str,
    config: QuantConfig,
    calib_inputs: list[dict[str, np.ndarray]],
    test_inputs: dict[str, np.ndarray],
    lanes: int = DEFAULT_LANES,
    csim: bool = True,
    torch_outputs: dict[str, np.ndarray] | None = None,
    progress: Progress | None = None,
    start: float | None = None,
    offchip_min_elements: int | None = None,
    share_layers: bool = False,
    engine: bool = False,
    fusions: str | None = None,
    decode: tuple[list[int], int] | None = None,
    kv_onchip_max_bytes: int | None = None,
    stream_width: int = DEFAULT_WIDTH,
    design: Any = None,
) -> CompileResult:
    """Compile an imported float IR graph (the part of :func:`compile_model` after the frontend).

    ``decode = (prompt ids, new tokens)`` makes a prefill/decode project (docs/decode.md).
    ``fusions``: the fusions to apply, a comma list of ``passes.fuse.FUSIONS`` (None: all; "none":
    every stage kept apart, for debugging).
    ``design``: a saved exploration design (dse/design_file.py ``SavedDesign``) that fixes the
    engine, stream width, lanes per stage, weight and KV placement and memory channels.
    """
    say = progress or (lambda _msg: None)
    if design is not None:
        engine, stream_width, kv_onchip_max_bytes = design.engine, design.stream_width, design.kv_onchip_max_bytes
    start = time.perf_counter() if start is None else start
    out = Path(out_dir)
    _check_target(out)
    if decode is not None:
        from .backends.hls.decode import check_decodable, check_request

        if config.is_float:
            raise UserError("--decode needs an integer scheme (greedy tokens are compared bit-exactly); drop --quant float")
        check_decodable(graph)
        check_request(graph, *decode)
    if engine and config.is_float:
        raise UserError("--engine stacks integer parameters per layer; it needs an integer scheme (drop --quant float)")
    share_layers = share_layers or engine
    float_graph = clone(graph)

    g = graph
    # a fused activation is a table: only the integer build has one (and so has a gated MLP).
    # An engine keeps residual+norm apart: that fusion can join one layer's last add to the next
    # layer's first norm, and an engine's stages must not cross a layer boundary.
    skip = {"act", "glu"} if config.is_float else set()
    skip |= {"norm"} if engine else set()
    g = fuse(g, [f for f in parse_fusions(fusions) if f not in skip], config.overrides)
    config.overrides.update(fused_overrides(g, config.overrides))
    say(f"fused: {len(graph.nodes)} -> {len(g.nodes)} stages")
    if design is not None:
        design.resolve(g)  # refuse a design made for another model before the slow calibration
    if config.keep_8bit:
        config.overrides.update(keep_8bit_overrides(g, config.keep_8bit))
    g = calibrate_and_smooth(g, calib_inputs, config)
    if share_layers:  # one set of C types for every layer (passes/share_types.py)
        from .passes.share_types import quantize_shared

        quantize_shared(g, config)
    else:
        quantize_graph(g, config)
    say(f"quantized ({config.scheme}) on {len(calib_inputs)} calibration inputs")
    g = design.apply(g) if design is not None else parallelize(g, lanes)[0]
    g, _ = insert_forks(g)
    g, _ = assign_beats(g, stream_width)
    g, _ = size_fifos(g)

    ref_float = run_graph(float_graph, test_inputs, mode="float")
    if config.is_float:
        tb_in = {k: np.asarray(v) for k, v in test_inputs.items()}
        golden = run_graph(g, tb_in, mode="float")
        real_out = golden
    else:
        tb_in = quantize_inputs(g, test_inputs)
        golden = run_graph(g, tb_in, mode="int")
        real_out = dequantize_outputs(g, golden)
    accuracy = _accuracy(g, float_graph, real_out, ref_float, torch_outputs)
    bench = None
    if decode is not None:
        from .backends.hls.decode import greedy_reference

        bench = greedy_reference(g, *decode)
        say(f"reference greedy generation: prompt {bench.prompt} -> {bench.tokens}")

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        options = {"offchip_min_elements": offchip_min_elements, "kv_onchip_max_bytes": kv_onchip_max_bytes}
        project = emit_project(g, tmp, tb_in, golden, tolerance=FLOAT_TOLERANCE, decode=bench, engine=engine,
                               **{k: v for k, v in options.items() if v is not None})
        say(f"emitted {len(g.nodes)} stages into {out}")
        save_graph(g, tmp / "ir.json")
        extra: dict[str, Any] = {"accuracy": accuracy, "top": project.top, "memory": memory_fit(g)}
        macs = sum(op_kind(n.op).cost(n, g).macs for n in g.nodes.values())
        if bench is not None:  # decode: ~ one row's share per computed position (attention is small)
            macs = macs * len(bench.logits) // g.tensors[g.inputs[0]].type.shape[0]
            extra["decode"] = decode_summary(bench, project.kv_caches)
        if csim and macs > CSIM_MAX_MACS:
            csim = False
            extra["csim_skipped"] = f"{macs:,} MACs per inference: C simulation would take hours (limit {CSIM_MAX_MACS:,})"
            say(f"C simulation skipped: {extra['csim_skipped']}")
        if csim:
            from .sim.csim import run_csim

            say("C simulation: building with g++ (cached when unchanged) ...")
            res = run_csim(tmp, project.top, timeout=max(600.0, macs / CSIM_MACS_PER_S))
            extra["csim"] = {**res.to_json(), "bit_exact": not config.is_float}
            del extra["csim"]["log"]
            if bench is not None:
                extra["csim"]["tokens"] = read_tokens(tmp)
            say(f"C simulation: {res.mismatches} mismatches in {res.elements} elements "
                f"(build {res.build_s:.1f} s{' cached' if res.cached else ''}, run {res.run_s:.2f} s)")
        report = build_report(g, extra)
        write_report(report, tmp)
        _replace_dir(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return CompileResult(graph.name, out, g, report, time.perf_counter() - start)


def decode_summary(bench: Any, kv_caches: list[dict[str, Any]]) -> dict[str, Any]:
    """The ``decode`` section of the report: the generation test and where each KV cache lives."""
    return {
        "prompt": bench.prompt,
        "reference_tokens": bench.tokens,
        "kv_caches": [{"stage": c["node"], "placement": "onchip" if c["onchip"] else "offchip",
                       "bytes": c["bytes"], "positions": c["rows"], "ports": c.get("ports", 1)} for c in kv_caches],
    }


def read_tokens(root: Path) -> list[int] | None:
    """The ids a decode testbench generated (``tb/tokens.txt``), or None if it wrote none."""
    f = Path(root) / "tb" / "tokens.txt"
    return [int(t) for t in f.read_text().split()] if f.exists() else None


def memory_fit(g: Graph) -> dict[str, Any]:
    """On-chip vs off-chip parameter bytes and whether all params would fit the device's BRAM+URAM."""
    from .ops.base import param_bytes

    on = off = 0
    for n in g.nodes.values():
        total = param_bytes(n)
        p = n.params.get("q_weight")
        moved = (p.data.size * n.attrs["param_bits"]["q_weight"] + 7) // 8 if p is not None and p.placement == "offchip" else 0
        on, off = on + total - moved, off + moved
    fits = on + off <= DEVICE_ONCHIP_BYTES
    return {
        "onchip_param_bytes": on, "offchip_param_bytes": off, "device_onchip_bytes": DEVICE_ONCHIP_BYTES,
        "all_params_fit_on_chip": fits,
        "note": "all weights fit in BRAM/URAM" if fits else
        "the weights do NOT fit on chip: large matrices are m_axi (DRAM) arguments; throughput is bounded by DRAM bandwidth",
    }


def calibrate_and_smooth(g: Graph, calib_inputs: list[dict[str, np.ndarray]], config: QuantConfig) -> Graph:
    """Calibrate; with SmoothQuant on, smooth the norms feeding narrow matrix inputs and recalibrate."""
    calibrate(g, calib_inputs, config)
    if config.smooth_alpha is None:
        return g
    g, changed = smooth_graph(g, config.smooth_alpha,
                              lambda n: config.for_node(n.name).linear_in_bits < config.act_bits)
    if changed:
        calibrate(g, calib_inputs, config)
    return g


def text_calibration_inputs(model: Any, graph: Graph, text_file: str | Path) -> list[dict[str, np.ndarray]]:
    """Calibration inputs from real text: windows of the sequence length, tokenized with the model's
    tokenizer, in the graph's (single) token-id input; other inputs keep their example values."""
    from .eval.text import load_tokenizer, read_text, tokenize, windows

    ids_inputs = [n for n in graph.inputs if graph.tensors[n].type.dtype.is_fixed]
    if not ids_inputs:
        raise UserError("--calib-text needs a model that takes token ids")
    seq = graph.tensors[ids_inputs[0]].type.shape[0]
    toks = tokenize(load_tokenizer(model), read_text(text_file))
    out = []
    for i, w in enumerate(windows(toks, seq, CALIB_TEXT_WINDOWS)):
        inputs = random_inputs(graph, 100 + i)
        inputs[ids_inputs[0]] = w
        out.append(inputs)
    return out


def _accuracy(g, float_graph, real_out, ref_float, torch_outputs) -> dict[str, Any]:
    (name,) = g.outputs[:1]
    fname = float_graph.outputs[0]
    acc: dict[str, Any] = {"vs_reference_float": error_stats(real_out[name], ref_float[fname])}
    if torch_outputs:
        acc["vs_torch"] = error_stats(real_out[name], next(iter(torch_outputs.values())))
    return acc


def _safe_name(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name) or "model"


MARKERS = ("ir.json", "report.json")


def _check_target(out: Path) -> None:
    """Refuse to replace a folder that is not an llm2hls project (never delete user data)."""
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not all((out / m).exists() for m in MARKERS))):
        raise UserError(f"output folder {out} exists and is not an llm2hls project; choose another --out")


def _replace_dir(tmp: Path, out: Path) -> None:
    """Move the finished project into place (replacing an older llm2hls project)."""
    old = None
    if out.exists():
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        os.replace(out, old)
    os.replace(tmp, out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
