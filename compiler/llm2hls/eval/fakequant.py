"""Fake-quantization of a quantized IR graph's scheme: float arithmetic on the same quantization grid.

Two models, both with float scales (what the integer pipeline rounds to 16-bit multipliers):

* :func:`fake_quant_graph` (``fake_quant`` in ``llm2hls eval``) runs the IR graph in float and
  rounds every tensor onto its FixedType (the same quantization points as the scheme: every stream
  between stages, plus a linear's narrowed input ``in_type``, requantized output ``y_type`` and
  fused activation ``act_type``), with the dequantized weights. What it leaves out is exactly the
  compiler's own error: table nonlinearities, the integer norm / softmax / reciprocal, rounded
  multipliers and the attention score type.
* :func:`fake_quant_model` (``fake_quant_linears``): the conventional PyTorch fake-quant of the
  linears only, on the original model (norms, attention, residual stream in float).

The PyTorch model, in detail: every quantized ``linear`` stage maps back to its ``nn.Linear`` by ``node.source`` (the module
path). On a copy of the model, that module gets the weight the integer pipeline uses,
quantize-dequantized with the same scales, groups and zero points (float scales, and smoothed
columns where SmoothQuant applied; the bias too, which carries the smoothing of a value
projection), and hooks that fake-quantize at the stage's tensor
boundaries with the same fixed-point types: its input at the input stream's type after the same
smoothing (``x / s``), then at the narrowed matrix-input type (``in_type``, e.g. 8 bits), and its
output at the requantized type ``y_type``. Rounding is half up and saturating, as ``convert``.
"""

from __future__ import annotations

import copy
from typing import Callable

import numpy as np
import torch
from torch import nn

from ..errors import UserError
from ..ir.graph import Graph
from ..ir.types import FixedType, numtype_from_json
from ..ops.linear import dequantized_weight
from ..passes.quantize import QuantConfig


def fake_quant(x: torch.Tensor, t: FixedType) -> torch.Tensor:
    """``x`` rounded half up onto the grid of ``t`` and saturated to its range (float result)."""
    scale = 2.0 ** t.frac
    raw = torch.clamp(torch.floor(x * scale + 0.5), t.raw_min, t.raw_max)
    return raw / scale


def fake_quant_model(model: nn.Module, graph: Graph, config: QuantConfig) -> nn.Module:
    """A copy of ``model`` whose linears behave like the quantized graph's linear stages (see module doc)."""
    fq = copy.deepcopy(model).eval()
    for node in graph.topo_nodes():
        if node.op != "linear" or "q_weight" not in node.params:
            continue
        try:
            mod = fq.get_submodule(node.source or "")
        except AttributeError:
            mod = None
        if not isinstance(mod, nn.Linear):
            raise UserError(f"fake-quantization: stage {node.name} (module {node.source!r}) is not an nn.Linear "
                            "of the model; fake-quant needs one module per linear stage")
        cfg = config.for_node(node.name)
        w = torch.as_tensor(dequantized_weight(node, cfg), dtype=mod.weight.dtype)
        mod.weight = nn.Parameter(w, requires_grad=False)  # a new tensor: tied embeddings stay intact
        if mod.bias is not None and "bias" in node.params:  # a value projection's bias carries 1/s
            mod.bias = nn.Parameter(torch.as_tensor(node.param("bias"), dtype=mod.weight.dtype), requires_grad=False)
        x_t = graph.tensors[node.inputs[0]].type.dtype
        in_t = numtype_from_json(node.attrs["in_type"]) if "in_type" in node.attrs else None
        y_t = numtype_from_json(node.attrs["y_type"])
        smooth = torch.as_tensor(node.param("smooth"), dtype=mod.weight.dtype) if "smooth" in node.params else None
        mod.register_forward_pre_hook(_input_hook(x_t, in_t, smooth))
        mod.register_forward_hook(_output_hook(y_t))
    return fq


def _input_hook(x_t: FixedType, in_t: FixedType | None, smooth: torch.Tensor | None):
    def hook(_mod, args):
        x = args[0]
        if smooth is not None:
            x = x / smooth
        x = fake_quant(x, x_t)
        if in_t is not None:
            x = fake_quant(x, in_t)
        return (x, *args[1:])

    return hook


def _output_hook(y_t: FixedType):
    def hook(_mod, _args, out):
        return fake_quant(out, y_t)

    return hook


def fake_quant_graph(graph: Graph, config: QuantConfig, keep_all: bool = False
                     ) -> Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]]:
    """A runner: graph inputs -> outputs of the quantized ``graph`` in float arithmetic with every
    tensor rounded onto its type (see the module doc); ``keep_all``: every tensor, not only outputs.

    Linear stages use the dequantized weights (float scales, computed once here) and round at
    ``in_type``, ``y_type`` and ``act_type`` like the integer stage; every other stage is its float
    function followed by rounding onto the output tensor's type. Token ids pass unchanged.
    """
    stage = fake_quant_stages(graph, config)

    def run(inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        env = {t: np.asarray(inputs[t]) for t in graph.inputs}
        for t, v in env.items():  # float inputs onto their types; token ids stay integers
            if np.issubdtype(v.dtype, np.floating):
                env[t] = _fq(v, graph.tensors[t].type.dtype)
        for node in graph.topo_nodes():
            env.update(zip(node.outputs, stage(node, [env[t] for t in node.inputs])))
        return env if keep_all else {t: env[t] for t in graph.outputs}

    return run


def fake_quant_stages(graph: Graph, config: QuantConfig) -> Callable[[object, list[np.ndarray]], list[np.ndarray]]:
    """``stage(node, inputs) -> outputs``: one stage of :func:`fake_quant_graph` on given (float)
    inputs, its outputs rounded onto their types (error attribution runs stages one by one)."""
    from ..ops import op_kind
    from ..ops.functions import FUNCTIONS

    weights = {n.name: dequantized_weight(n, config.for_node(n.name)) for n in graph.topo_nodes()
               if n.op == "linear" and "q_weight" in n.params}

    def stage(node, args: list[np.ndarray]) -> list[np.ndarray]:
        if node.name in weights:
            outs = [_linear_fq(node, args, weights[node.name], FUNCTIONS)]
        else:
            outs = op_kind(node.op).run_float(node, args)
        types = [graph.tensors[t].type.dtype for t in node.outputs]
        return [_fq(v, ty) if isinstance(ty, FixedType) else np.asarray(v) for v, ty in zip(outs, types)]

    return stage


def _fq(x: np.ndarray, t: FixedType) -> np.ndarray:
    """``x`` rounded half up onto ``t`` and saturated, float64 (numpy twin of :func:`fake_quant`)."""
    scale = 2.0 ** t.frac
    return np.clip(np.floor(np.asarray(x, dtype=np.float64) * scale + 0.5), t.raw_min, t.raw_max) / scale


def _linear_fq(node, args: list[np.ndarray], weight: np.ndarray, functions) -> np.ndarray:
    """One linear stage in float on its quantization grid (see :func:`fake_quant_graph`)."""
    x = args[0]
    if "in_type" in node.attrs:
        x = _fq(x, numtype_from_json(node.attrs["in_type"]))
    y = x @ weight.T
    if "bias" in node.params:
        y = y + node.param("bias")
    y = _fq(y, numtype_from_json(node.attrs["y_type"]))
    if node.attrs.get("act"):
        y = _fq(functions[node.attrs["act"]](y), numtype_from_json(node.attrs["act_type"]))
    if node.attrs.get("residual"):
        y = y + args[1]  # rounded onto the output type by the caller
    return y


def run_module(model: nn.Module, ids: np.ndarray, causal: bool) -> np.ndarray:
    """Logits (causal LM) or last hidden state (encoder) of one window, float64 ``[S, C]``."""
    with torch.no_grad():
        x = torch.as_tensor(ids, dtype=torch.long)[None]
        out = model(input_ids=x, use_cache=False) if causal else model(input_ids=x)
        first = out.logits if hasattr(out, "logits") else (
            out.last_hidden_state if hasattr(out, "last_hidden_state") else out[0])
    return first[0].to(torch.float64).numpy()
