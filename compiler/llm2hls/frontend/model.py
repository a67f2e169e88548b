"""``import_model``: model file or module -> float, validated, canonicalized IR graph."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.utils._pytree as pytree

from ..ir.graph import Graph
from .capture import Captured, capture
from .load import load_model
from .lower import GraphInput, lower_program

EXAMPLE_SEED = 0


@dataclass
class ImportedModel:
    """The imported IR graph plus what is needed to check it against the original model."""

    name: str
    graph: Graph
    seq_len: int
    inputs: list[GraphInput]
    captured: Captured = field(repr=False)
    example_inputs: dict[str, np.ndarray] = field(default_factory=dict)

    def torch_outputs(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run the original PyTorch model (float) on ``inputs`` (by graph input name).

        Returns the graph's output (the model's first output) without the batch dimension.
        """
        tensors = []
        for gi in self.inputs:
            ex = gi.example
            tensors.append(torch.as_tensor(np.asarray(inputs[gi.ir_name])).reshape(ex.shape).to(ex.dtype))
        out = self.captured.run(tensors)
        first = next(x for x in pytree.tree_leaves(out) if isinstance(x, torch.Tensor))
        first = first.detach().to(torch.float64)
        (name,) = self.graph.outputs
        shape = self.graph.tensors[name].type.shape
        if first.dim() > len(shape) and first.shape[0] == 1:
            first = first[0]
        return {name: first.reshape(shape).numpy()}


def make_example_inputs(graph: Graph, seed: int = EXAMPLE_SEED) -> dict[str, np.ndarray]:
    """Deterministic inputs: random token ids below the vocabulary size, or N(0, 1) floats."""
    rng = np.random.default_rng(seed)
    out: dict[str, np.ndarray] = {}
    for name in graph.inputs:
        t = graph.tensors[name].type
        if t.dtype.is_fixed:
            users = [n for n in graph.nodes.values() if name in n.inputs and "weight" in n.params]
            vocab = min((n.param("weight").shape[0] for n in users), default=2)
            out[name] = rng.integers(0, vocab, size=t.shape, dtype=np.int64)
        else:
            out[name] = rng.standard_normal(t.shape)
    return out


def import_model(
    model_or_path: Any,
    seq_len: int | None = None,
    trust_pickle: bool = False,
    name: str | None = None,
    example_input: torch.Tensor | None = None,
) -> ImportedModel:
    """Import a model (``nn.Module``, ``.pt2``, trusted ``.pt``, HF folder) as a float IR graph.

    ``seq_len`` defaults to 16 for modules and to the exported length for a ``.pt2``;
    ``example_input`` overrides the token-id example for modules that take other inputs.
    """
    from ..passes.canonicalize import canonicalize

    loaded = load_model(model_or_path, trust_pickle=trust_pickle, name=name)
    captured = capture(loaded, seq_len, example_input)
    graph, inputs = lower_program(captured.program, captured.seq_len, loaded.name)
    graph = canonicalize(graph)
    graph.validate()
    return ImportedModel(
        name=loaded.name,
        graph=graph,
        seq_len=captured.seq_len,
        inputs=inputs,
        captured=captured,
        example_inputs=make_example_inputs(graph),
    )
