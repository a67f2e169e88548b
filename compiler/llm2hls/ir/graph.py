"""The spatial-dataflow IR: stages (nodes) joined by typed streams (tensors).

A :class:`Graph` is a directed acyclic graph (``networkx.DiGraph``) whose nodes are
:class:`Node` stages and whose edges are the :class:`Tensor` streams between them. Every stage
becomes one hardware process (an HLS function inside ``#pragma HLS DATAFLOW``, or one RTL
module); every tensor becomes one FIFO with exactly one producer and one consumer once the
``insert_forks`` pass has run.

Room for LLM-scale designs is part of the data model from the start:

* tensors are token-major ``[tokens, channels]`` streams, so a decode step is the same graph at
  ``tokens == 1`` with attention reading a KV cache (``Node.attrs['kv_cache']``);
* parameters carry a ``placement`` (``"onchip"`` or ``"offchip"``) so weights can be streamed
  from off-chip memory without changing stage semantics;
* every node records the transformer ``layer`` it came from and a ``block`` signature, so
  identical blocks can share one engine invoked once per layer with per-layer weight offsets.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterator

import networkx as nx
import numpy as np

from .types import TensorType


@dataclass
class Tensor:
    """A stream between stages (or a graph input/output)."""

    name: str
    type: TensorType
    # Calibration statistics and quantization decisions (e.g. {"max_abs": 3.2}).
    meta: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type.to_json(), "meta": _jsonable(self.meta)}


@dataclass
class Param:
    """A constant array owned by one stage (weights, biases, tables, scales)."""

    data: np.ndarray
    placement: str = "onchip"  # or "offchip": streamed from external memory

    @property
    def nbytes_at(self) -> int:
        return int(self.data.nbytes)


@dataclass
class Node:
    """One dataflow stage.

    ``op`` names an op kind registered in :mod:`llm2hls.ops`; its class defines what the stage
    means (reference semantics), what it costs and which template realizes it.
    """

    name: str
    op: str
    inputs: list[str]
    outputs: list[str]
    attrs: dict[str, Any] = field(default_factory=dict)
    params: dict[str, Param] = field(default_factory=dict)
    source: str = ""  # PyTorch module path it came from, e.g. "transformer.h.0.attn"
    lanes: int = 1  # parallel lanes (PE count); set by the parallelize pass
    layer: int | None = None  # transformer block index, when known
    block: str = ""  # structural signature shared by identical blocks

    def param(self, key: str) -> np.ndarray:
        return self.params[key].data


class Graph:
    """A dataflow graph. Nodes are kept in insertion order, which is always topological."""

    def __init__(self, name: str = "model") -> None:
        self.name = name
        self.tensors: dict[str, Tensor] = {}
        self.nodes: dict[str, Node] = {}
        self.inputs: list[str] = []
        self.outputs: list[str] = []
        self.meta: dict[str, Any] = {}

    # ---- construction -------------------------------------------------------------------
    def add_tensor(self, name: str, ttype: TensorType, **meta: Any) -> Tensor:
        if name in self.tensors:
            raise ValueError(f"tensor {name!r} already exists")
        t = Tensor(name, ttype, dict(meta))
        self.tensors[name] = t
        return t

    def add_node(self, node: Node) -> Node:
        if node.name in self.nodes:
            raise ValueError(f"node {node.name!r} already exists")
        for t in node.inputs + node.outputs:
            if t not in self.tensors:
                raise ValueError(f"node {node.name!r} refers to unknown tensor {t!r}")
        self.nodes[node.name] = node
        return node

    def unique_name(self, base: str) -> str:
        """A node/tensor name derived from ``base`` that is a valid C identifier and unused."""
        clean = "".join(c if c.isalnum() else "_" for c in base).strip("_") or "t"
        if clean[0].isdigit():
            clean = "t_" + clean
        name, i = clean, 1
        while name in self.nodes or name in self.tensors:
            i += 1
            name = f"{clean}_{i}"
        return name

    def remove_node(self, name: str) -> None:
        del self.nodes[name]

    # ---- queries ------------------------------------------------------------------------
    def producer(self, tensor: str) -> Node | None:
        for n in self.nodes.values():
            if tensor in n.outputs:
                return n
        return None

    def consumers(self, tensor: str) -> list[Node]:
        return [n for n in self.nodes.values() if tensor in n.inputs]

    def topo_nodes(self) -> list[Node]:
        """Nodes in a topological order (stable: insertion order where free)."""
        order = nx.lexicographical_topological_sort(
            self.to_networkx(), key=lambda n: self._order[n]
        )
        return [self.nodes[n] for n in order]

    @property
    def _order(self) -> dict[str, int]:
        return {name: i for i, name in enumerate(self.nodes)}

    def to_networkx(self) -> nx.DiGraph:
        """The stage graph: one edge per tensor from its producer to each consumer."""
        g = nx.DiGraph()
        for n in self.nodes.values():
            g.add_node(n.name, op=n.op)
        producers = {t: n.name for n in self.nodes.values() for t in n.outputs}
        for n in self.nodes.values():
            for t in n.inputs:
                if t in producers:
                    g.add_edge(producers[t], n.name, tensor=t)
        return g

    def sort(self) -> None:
        """Re-order ``self.nodes`` topologically (after passes that insert nodes)."""
        self.nodes = {n.name: n for n in self.topo_nodes()}

    def __iter__(self) -> Iterator[Node]:
        return iter(list(self.nodes.values()))

    def validate(self) -> None:
        """Check structural invariants; raises ``ValueError`` naming the first violation."""
        produced: dict[str, str] = {}
        for n in self.nodes.values():
            for t in n.outputs:
                if t in produced:
                    raise ValueError(f"tensor {t!r} produced by both {produced[t]} and {n.name}")
                produced[t] = n.name
        for n in self.nodes.values():
            for t in n.inputs:
                if t not in produced and t not in self.inputs:
                    raise ValueError(f"node {n.name} reads {t!r}, which nothing produces")
        for t in self.outputs:
            if t not in produced and t not in self.inputs:
                raise ValueError(f"graph output {t!r} is never produced")
        if not nx.is_directed_acyclic_graph(self.to_networkx()):
            raise ValueError("the graph has a cycle")

    # ---- printing -----------------------------------------------------------------------
    def __str__(self) -> str:
        lines = [f"graph {self.name}("]
        lines += [f"    {t}: {self.tensors[t].type}," for t in self.inputs]
        lines.append(") {")
        for n in self.topo_nodes():
            outs = ", ".join(f"{t}: {self.tensors[t].type}" for t in n.outputs)
            attrs = ", ".join(f"{k}={_short(v)}" for k, v in n.attrs.items())
            params = ", ".join(f"{k}{list(p.data.shape)}" for k, p in n.params.items())
            extra = "; ".join(x for x in (attrs, params) if x)
            lanes = f" lanes={n.lanes}" if n.lanes != 1 else ""
            src = f"  # {n.source}" if n.source else ""
            lines.append(
                f"    {outs} = {n.op}({', '.join(n.inputs)}){lanes} {{{extra}}}{src}".rstrip()
            )
        lines.append(f"    return {', '.join(self.outputs)}")
        lines.append("}")
        return "\n".join(lines)


def _short(v: Any) -> str:
    if isinstance(v, (list, tuple)) and len(v) > 8:
        return f"[{len(v)} items]"
    return repr(v)


def _jsonable(v: Any) -> Any:
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, np.generic):
        return v.item()
    if hasattr(v, "to_json"):
        return v.to_json()
    return v
