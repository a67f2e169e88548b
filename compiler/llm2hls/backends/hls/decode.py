"""Prefill/decode projects: which graphs qualify, and the reference's greedy generation (the oracle).

A ``--decode`` project is the graph captured at ``T`` tokens, run with a runtime token window
(``pos0``, ``n_tokens``) and KV caches (docs/decode.md). It is exact because attention is causal
and every other stage computes row by row: row ``i`` of the graph's output depends only on tokens
``0..i``. So the integer reference on the first ``L`` tokens padded to ``T`` (pad ids arbitrary)
gives rows ``0..L-1`` exactly, and greedy generation by full recomputation is the oracle.
"""

from __future__ import annotations

import numpy as np

from ...errors import UserError
from ...ir.graph import Graph
from ...ops.attention import streams_causally
from ...reference import run_graph
from .emit import DecodeBench

DEFAULT_PROMPT_TOKENS = 4
DEFAULT_NEW_TOKENS = 6
PAD_ID = 0


def check_decodable(graph: Graph) -> None:
    """Raise a UserError unless ``graph`` is a causal decoder: token ids ``[T]`` in, logits ``[T, V]`` out,
    every attention causal (no query sees a later key)."""
    where = f"model {graph.name}"
    if len(graph.inputs) != 1 or len(graph.outputs) != 1:
        raise UserError(f"--decode needs one token-id input and one logits output; {where} has "
                        f"{len(graph.inputs)} inputs and {len(graph.outputs)} outputs")
    ids, logits = (graph.tensors[t].type for t in (graph.inputs[0], graph.outputs[0]))
    if len(ids.shape) != 1 or not ids.dtype.is_fixed or len(logits.shape) != 2:
        raise UserError(f"--decode needs token ids [T] in and logits [T, V] out; {where} maps "
                        f"{list(ids.shape)} {ids.dtype} to {list(logits.shape)}")
    attention = [n for n in graph.topo_nodes() if n.op == "attention"]
    for n in attention:
        if not streams_causally(n, ids.shape[0]):
            raise UserError(f"--decode needs causal (decoder-only) attention; {n.name} "
                            f"({n.source or 'attention'}) lets a token see later tokens; compile without --decode")


def parse_prompt(text: str) -> list[int]:
    """``"1, 2,3"`` -> ``[1, 2, 3]`` (a UserError for anything else)."""
    try:
        ids = [int(t) for t in text.replace(",", " ").split()]
    except ValueError:
        raise UserError(f"--prompt {text!r}: give token ids separated by commas, e.g. --prompt 1,2,3") from None
    if not ids:
        raise UserError("--prompt is empty: give at least one token id, e.g. --prompt 1,2,3")
    return ids


def max_context(graph: Graph) -> int:
    """``T``: positions of the KV cache (the captured sequence length)."""
    return graph.tensors[graph.inputs[0]].type.shape[0]


def default_prompt(graph: Graph, example_ids: np.ndarray) -> list[int]:
    """The first few ids of the example input (at most half the context)."""
    n = max(1, min(DEFAULT_PROMPT_TOKENS, max_context(graph) // 2))
    return [int(t) for t in np.asarray(example_ids).reshape(-1)[:n]]


def check_request(graph: Graph, prompt: list[int], new_tokens: int) -> None:
    """The prompt ids are in the vocabulary and prompt + generated tokens fit the context."""
    t, vocab = max_context(graph), graph.tensors[graph.outputs[0]].type.shape[-1]
    bad = [i for i in prompt if not 0 <= i < vocab]
    if bad:
        raise UserError(f"prompt token id {bad[0]} is outside the vocabulary 0..{vocab - 1}")
    if new_tokens < 1:
        raise UserError(f"generate at least one token (got {new_tokens})")
    if len(prompt) + new_tokens - 1 > t:
        raise UserError(f"prompt of {len(prompt)} tokens + {new_tokens} new tokens needs "
                        f"{len(prompt) + new_tokens - 1} positions, the project has {t}; "
                        "shorten them or recompile with a larger --max-context")


def greedy_reference(graph: Graph, prompt: list[int], new_tokens: int,
                     progress=None) -> DecodeBench:
    """Greedy generation by the integer reference, recomputing the full (padded) sequence per token.

    Returns the testbench data: the prompt, the ``new_tokens`` generated ids (argmax of the last
    row, ties -> lowest id) and the raw logits rows of every position the accelerator computes.
    """
    check_request(graph, prompt, new_tokens)
    inp, out, t = graph.inputs[0], graph.outputs[0], max_context(graph)
    seq = list(prompt)
    logits = None
    for k in range(new_tokens):
        ids = np.full(t, PAD_ID, dtype=np.int64)
        ids[:len(seq)] = seq
        logits = run_graph(graph, {inp: ids}, mode="int")[out]
        seq.append(int(np.argmax(logits[len(seq) - 1])))
        if progress:
            progress(f"reference token {k + 1}/{new_tokens}: {seq[-1]}")
    rows = len(prompt) + new_tokens - 1
    return DecodeBench(prompt=list(prompt), tokens=seq[len(prompt):], logits=np.asarray(logits)[:rows])
