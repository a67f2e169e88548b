"""``llm2hls eval``: accuracy of a scheme on real text, three ways on the same tokens.

(a) the float PyTorch model, (b) fake-quantization of the same scheme (eval/fakequant.py): the IR
graph in float with every tensor rounded onto its type (``fake_quant``), and the conventional PyTorch
fake-quant of the linears only (``fake_quant_linears``), (c) the compiler's integer pipeline (the reference interpreter in integer mode, which the HLS and
RTL backends reproduce bit for bit). Text is cut into windows of the compiled sequence length,
each evaluated on its own. Causal LMs: perplexity over every next-token prediction inside the
windows. Encoders: cosine similarity of the mean-pooled last hidden state to the float one
(sentence-transformers' pooling). The gap (c) vs (b) is the compiler's own error.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import UserError
from ..passes.canonicalize import clone
from ..passes.fuse import fuse_activation, fuse_residual
from ..ops.base import param_bytes
from ..passes.quantize import QuantConfig, keep_8bit_overrides, quantize_graph
from ..reference import dequantize_outputs, quantize_inputs, run_graph
from .fakequant import fake_quant_graph, fake_quant_model, run_module
from .text import load_tokenizer, read_text, tokenize, windows

DEFAULT_SEQ_LEN = 128
CALIB_WINDOWS = 8


def nll_sum(logits: np.ndarray, ids: np.ndarray) -> tuple[float, int]:
    """Summed negative log-likelihood of ``ids[1:]`` under ``logits[:-1]`` and the token count."""
    z = np.asarray(logits[:-1], dtype=np.float64)
    z = z - z.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return float(-logp[np.arange(len(ids) - 1), ids[1:]].sum()), len(ids) - 1


def paired_gap_stderr(a: list[tuple[float, int]], b: list[tuple[float, int]]) -> float:
    """Standard error of the perplexity ratio ``ppl(a) / ppl(b) - 1`` from per-window NLL pairs.

    Both pipelines see the same windows, so the per-window differences of mean NLL are paired; their
    spread over windows (``std / sqrt(windows)``, delta method) says how much of a measured gap is the
    sampling of the text rather than the pipelines (0 with one window).
    """
    d = np.array([(sa - sb) / max(na, 1) for (sa, na), (sb, _) in zip(a, b)])
    if d.size < 2:
        return 0.0
    ratio = math.exp(sum(s for s, _ in a) / sum(n for _, n in a) - sum(s for s, _ in b) / sum(n for _, n in b))
    return float(ratio * d.std(ddof=1) / math.sqrt(d.size))


def mean_pool_cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine similarity of the token means of two ``[S, C]`` hidden states."""
    u, v = np.asarray(a).mean(axis=0), np.asarray(b).mean(axis=0)
    return float(u @ v / (np.linalg.norm(u) * np.linalg.norm(v) + 1e-30))


def quantized_graph(graph, config: QuantConfig, calib: list[dict[str, np.ndarray]]):
    """The integer graph exactly as ``compile`` builds it (fusion, overrides, calibration,
    SmoothQuant, quantization), without forks/FIFOs (they do not change values)."""
    from ..pipeline import calibrate_and_smooth

    g, _ = fuse_activation(clone(graph))
    g, _ = fuse_residual(g)
    if config.keep_8bit:
        config.overrides.update(keep_8bit_overrides(g, config.keep_8bit))
    g = calibrate_and_smooth(g, calib, config)
    return quantize_graph(g, config)


def evaluate(
    model: Any,
    quant: str = "w8a16",
    text: str | Path = "pydoc:eval",
    max_tokens: int | None = 4096,
    seq_len: int = DEFAULT_SEQ_LEN,
    calib_text: str | Path = "pydoc:calib",
    group_size: int | None = None,
    keep_8bit: str = "",
    smooth_alpha: float | None = None,
    tokenizer: Any = None,
    progress: bool = False,
    trust_pickle: bool = False,
) -> dict[str, Any]:
    """Evaluate ``model`` (path or ``nn.Module``) under ``quant`` on ``text``; returns the result document."""
    from torch import nn

    from ..frontend import import_model
    from ..frontend.load import load_model

    start = time.perf_counter()
    config = QuantConfig.from_scheme(quant, None, group_size, smooth_alpha)
    config.keep_8bit = keep_8bit
    loaded = load_model(model, trust_pickle=trust_pickle)
    if loaded.module is None:
        raise UserError("eval needs the PyTorch model itself (a HuggingFace folder, .gguf, .pt or nn.Module), not a .pt2")
    tok = tokenizer or load_tokenizer(model)
    if tok is None:
        raise UserError(f"{model}: this model has no tokenizer (eval needs a HuggingFace folder with tokenizer "
                        "files or a .gguf)")
    module: nn.Module = loaded.module
    imported = import_model(module, seq_len=seq_len, name=loaded.name)
    graph = imported.graph
    ids_name = next((n for n in graph.inputs if graph.tensors[n].type.dtype.is_fixed), None)
    if ids_name is None or len(graph.inputs) != 1:
        raise UserError("eval supports models taking token ids only")
    causal = loaded.causal_lm
    calib = [{ids_name: w} for w in windows(tokenize(tok, read_text(calib_text)), seq_len, CALIB_WINDOWS)]
    eval_windows = windows(tokenize(tok, read_text(text), max_tokens), seq_len)

    t_quant = time.perf_counter()
    qgraph = quantized_graph(graph, config, calib) if not config.is_float else None
    quantize_s = time.perf_counter() - t_quant
    fq = fake_quant_model(module, qgraph, config) if qgraph is not None else module
    fq_graph = fake_quant_graph(qgraph, config) if qgraph is not None else None
    out_name = graph.outputs[0]
    q_out = qgraph.outputs[0] if qgraph is not None else None

    stats = {k: [] for k in ("float", "fake_quant", "fake_quant_linears", "integer")}
    it = windows_progress(eval_windows, progress)
    for w in it:
        ref = run_module(module, w, causal)
        fql = run_module(fq, w, causal) if qgraph is not None else ref
        if qgraph is not None:
            fqo = fq_graph({ids_name: w})[q_out]
            raw = run_graph(qgraph, quantize_inputs(qgraph, {ids_name: w}), mode="int")
            into = dequantize_outputs(qgraph, raw)[q_out]
        else:
            fqo = into = run_graph(graph, {ids_name: w}, mode="float")[out_name]
        for key, o in (("float", ref), ("fake_quant", fqo), ("fake_quant_linears", fql), ("integer", into)):
            stats[key].append(nll_sum(o, w) if causal else mean_pool_cosine(o, ref))

    result: dict[str, Any] = {
        "model": loaded.name, "quant": config.scheme, "group_size": config.group_size,
        "weight_sym": config.weight_sym, "in_bits": config.linear_in_bits, "smooth_alpha": config.smooth_alpha,
        "keep_8bit": keep_8bit, "text": str(text), "calib_text": str(calib_text), "seq_len": seq_len,
        "windows": len(eval_windows), "tokens": len(eval_windows) * seq_len, "kind": "causal_lm" if causal else "encoder",
    }
    if causal:
        ppl = {k: math.exp(sum(s for s, _ in v) / sum(n for _, n in v)) for k, v in stats.items()}
        result["perplexity"] = ppl
        result["gap"] = {
            "fake_quant_vs_float": ppl["fake_quant"] / ppl["float"] - 1,
            "fake_quant_linears_vs_float": ppl["fake_quant_linears"] / ppl["float"] - 1,
            "integer_vs_float": ppl["integer"] / ppl["float"] - 1,
            "integer_vs_fake_quant": ppl["integer"] / ppl["fake_quant"] - 1,
        }
        result["window_nll"] = {k: [round(s, 6) for s, _ in v] for k, v in stats.items()}  # subsets, re-analysis
        result["gap_stderr"] = {
            "fake_quant_vs_float": paired_gap_stderr(stats["fake_quant"], stats["float"]),
            "integer_vs_float": paired_gap_stderr(stats["integer"], stats["float"]),
            "integer_vs_fake_quant": paired_gap_stderr(stats["integer"], stats["fake_quant"]),
        }
    else:
        result["cosine"] = {k: {"mean": float(np.mean(v)), "min": float(np.min(v))} for k, v in stats.items()}
    if qgraph is not None:
        result["weight_bytes"] = int(sum(param_bytes(n) for n in qgraph.nodes.values()))
        result["resources"] = estimated_resources(qgraph)
        result["quantize_seconds"] = round(quantize_s, 1)
        result["wide_stages"] = qgraph.meta["quant"].get("wide", {})
    result["seconds"] = round(time.perf_counter() - start, 2)
    return result


def estimated_resources(graph) -> dict[str, int]:
    """Sum of the op kinds' analytical estimates (one lane per stage): DSP, BRAM18, LUT."""
    from ..ops.base import op_kind

    costs = [op_kind(n.op).cost(n, graph) for n in graph.topo_nodes()]
    return {k: int(sum(getattr(c, k) for c in costs)) for k in ("dsp", "bram18", "lut")}


def windows_progress(items: list, show: bool):
    """``items`` with a progress bar on stderr when ``show`` (tqdm)."""
    if not show:
        return items
    from tqdm import tqdm

    return tqdm(items, desc="eval windows", unit="win")
