"""The reference interpreter: runs an IR graph in float or bit-exact integer mode.

Float mode checks the frontend against PyTorch. Integer mode is the golden model: it defines what
every quantized stage computes, and the HLS and RTL backends must reproduce it bit for bit.
Integer-mode tensors are raw fixed-point values (int64) of their tensor's :class:`FixedType`.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from ..ir.graph import Graph
from ..numerics import dequantize, quantize
from ..ops import op_kind

Mode = Literal["float", "int"]


def run_graph(
    graph: Graph,
    inputs: dict[str, np.ndarray],
    mode: Mode = "float",
    keep_all: bool = False,
) -> dict[str, np.ndarray]:
    """Evaluate ``graph`` on ``inputs`` (by graph input name).

    Returns the graph outputs, or with ``keep_all`` every tensor (used by calibration).
    """
    missing = [t for t in graph.inputs if t not in inputs]
    if missing:
        raise ValueError(f"missing graph inputs: {missing}")
    env: dict[str, np.ndarray] = {t: np.asarray(inputs[t]) for t in graph.inputs}
    for node in graph.topo_nodes():
        kind = op_kind(node.op)
        args = [env[t] for t in node.inputs]
        outs = kind.run_float(node, args) if mode == "float" else kind.run_int(node, args, graph)
        if len(outs) != len(node.outputs):
            raise RuntimeError(f"{node.name} ({node.op}) returned {len(outs)} outputs")
        for t, v in zip(node.outputs, outs):
            env[t] = v
    if keep_all:
        return env
    return {t: env[t] for t in graph.outputs}


def quantize_inputs(graph: Graph, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Raw integer inputs for integer mode (integer-typed inputs such as token ids pass as-is)."""
    out = {}
    for name in graph.inputs:
        t = graph.tensors[name].type.dtype
        x = np.asarray(inputs[name])
        out[name] = x.astype(np.int64) if (not t.is_fixed or t.frac == 0) else quantize(x, t)
    return out


def dequantize_outputs(graph: Graph, outputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Real values of integer-mode outputs."""
    return {
        name: dequantize(v, graph.tensors[name].type.dtype)
        if graph.tensors[name].type.dtype.is_fixed
        else v
        for name, v in outputs.items()
    }
