"""Decode step: the one-token graph of position ``pos`` derived from a graph quantized at ``T`` tokens.

Every stage except attention works row by row, and attention is causal, so row ``pos`` of a
``T``-token run equals one decode step at ``pos`` whose attention also sees the keys and values
of tokens ``0..pos-1`` (the KV cache). :func:`decode_step` rewrites the graph accordingly:

* every ``[T, ...]`` tensor becomes ``[1, ...]`` (token ids ``[T]`` become ``[1]``);
* per-position constants (``[T, C]`` eltwise operands: GPT-2's position embedding, rotary
  cos/sin tables) are sliced at row ``pos``;
* attention gets ``attrs['kv_cache'] = {"length": pos}``.

It is pure (graph in, graph out) and changes no arithmetic: types, tables and quantization plans
are those of the ``T``-token graph. :func:`load_kv_cache` fills the cache of one prompt (the
integer reference's K/V rows, params ``q_k_cache`` / ``q_v_cache``), and :func:`step_golden` gives
the golden outputs of a step: row ``pos`` of the integer reference on the whole sequence.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Callable

import numpy as np

from ..errors import UserError
from ..ir.graph import Graph, Param
from .canonicalize import clone


def sequence_length(graph: Graph) -> int:
    """Tokens ``T`` of a graph (the first dimension of its first input)."""
    return int(graph.tensors[graph.inputs[0]].type.shape[0])


def decode_step(graph: Graph, pos: int) -> Graph:
    """The one-token graph of decode step ``pos`` (``0 <= pos < T``) of quantized ``graph``."""
    T = sequence_length(graph)
    if not 0 <= pos < T:
        raise UserError(f"decode position {pos} outside the graph's {T} tokens; use 0..{T - 1}")
    g = clone(graph)
    g.name = f"{graph.name}_step{pos}"
    for t in g.tensors.values():
        shape = tuple(t.type.shape)
        if shape and shape[0] == T:
            t.type = replace(t.type, shape=(1, *shape[1:]))
    for node in g.nodes.values():
        if node.op == "attention":
            if "mask" in node.params or "q_mask" in node.params or not node.attrs.get("causal"):
                raise UserError(f"attention {node.name}: a decode step needs causal attention "
                                "without an explicit mask (this one is not causal or has a mask)")
            node.attrs["kv_cache"] = {"length": pos}
            continue
        for key in ("const", "q_const"):
            p = node.params.get(key)
            if p is not None and np.ndim(p.data) == 2 and np.shape(p.data)[0] == T:
                node.params[key] = Param(np.asarray(p.data)[pos:pos + 1], p.placement)
    return g


def load_kv_cache(step: Graph, graph: Graph, inputs: dict[str, np.ndarray]) -> Graph:
    """``step`` with the KV cache of prompt ``inputs`` (raw integer inputs of ``graph``): every
    attention gets ``q_k_cache`` / ``q_v_cache`` [pos, kv_heads*head_dim], the rows ``0..pos-1``
    of its key and value inputs in the integer reference run of ``graph``."""
    from ..reference import run_graph

    env = run_graph(graph, inputs, "int", keep_all=True)
    g = clone(step)
    for node in g.nodes.values():
        if node.op != "attention":
            continue
        pos = int(node.attrs["kv_cache"]["length"])
        for key, tensor in (("q_k_cache", node.inputs[1]), ("q_v_cache", node.inputs[2])):
            node.params[key] = Param(np.asarray(env[tensor], dtype=np.int64)[:pos])
            node.attrs.setdefault("param_types", {})[key] = g.tensors[tensor].type.dtype.to_json()
    return g


def step_golden(graph: Graph, prompt: dict[str, np.ndarray], pos: int
                ) -> Callable[[Graph, dict[str, np.ndarray]], dict[str, np.ndarray]]:
    """Golden outputs of a decode step: run ``graph`` on ``prompt`` with row ``pos`` of every
    input replaced by the step's input, and keep row ``pos`` of every output."""
    from ..reference import run_graph

    def golden(step: Graph, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        full = {k: np.array(v, copy=True) for k, v in prompt.items()}
        for k, v in inputs.items():
            full[k][pos] = np.asarray(v)[0]
        outs = run_graph(graph, full, "int")
        return {k: np.asarray(outs[k])[pos:pos + 1] for k in step.outputs}

    return golden
