"""PyTorch fake-quantization of a quantized IR graph's scheme, on the original model.

Every quantized ``linear`` stage maps back to its ``nn.Linear`` by ``node.source`` (the module
path). On a copy of the model, that module gets the weight the integer pipeline uses,
quantize-dequantized with the same scales, groups and zero points (float scales, and smoothed
columns where SmoothQuant applied), and hooks that fake-quantize at the stage's tensor
boundaries with the same fixed-point types: its input at the input stream's type after the same
smoothing (``x / s``), then at the narrowed matrix-input type (``in_type``, e.g. 8 bits), and its
output at the requantized type ``y_type``. Rounding is half up and saturating, as ``convert``.
"""

from __future__ import annotations

import copy

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


def run_module(model: nn.Module, ids: np.ndarray, causal: bool) -> np.ndarray:
    """Logits (causal LM) or last hidden state (encoder) of one window, float64 ``[S, C]``."""
    with torch.no_grad():
        x = torch.as_tensor(ids, dtype=torch.long)[None]
        out = model(input_ids=x, use_cache=False) if causal else model(input_ids=x)
        first = out.logits if hasattr(out, "logits") else (
            out.last_hidden_state if hasattr(out, "last_hidden_state") else out[0])
    return first[0].to(torch.float64).numpy()
