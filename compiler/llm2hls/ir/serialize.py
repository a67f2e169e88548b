"""Save and load the IR: ``ir.json`` (structure, types, attributes) + ``ir_params.npz`` (arrays).

Node attributes must be JSON values (numbers, strings, lists, dicts); arrays belong in params.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from .graph import Graph, Node, Param, Tensor, _jsonable
from .types import TensorType

FORMAT_VERSION = 1


def graph_to_json(g: Graph) -> dict[str, Any]:
    """The JSON document of ``g`` (params listed by shape and dtype, data kept separately)."""
    return {
        "format": "llm2hls-ir",
        "version": FORMAT_VERSION,
        "name": g.name,
        "inputs": list(g.inputs),
        "outputs": list(g.outputs),
        "meta": _jsonable(g.meta),
        "tensors": [t.to_json() for t in g.tensors.values()],
        "nodes": [
            {
                "name": n.name,
                "op": n.op,
                "inputs": n.inputs,
                "outputs": n.outputs,
                "attrs": _jsonable(n.attrs),
                "params": {
                    k: {"shape": list(p.data.shape), "dtype": str(p.data.dtype), "placement": p.placement}
                    for k, p in n.params.items()
                },
                "source": n.source,
                "lanes": n.lanes,
                "layer": n.layer,
                "block": n.block,
            }
            for n in g.nodes.values()
        ],
    }


def save_graph(g: Graph, json_path: Path, params_path: Path | None = None) -> None:
    """Write ``ir.json`` and, beside it, ``ir_params.npz`` holding every param array."""
    json_path = Path(json_path)
    params_path = params_path or json_path.with_name("ir_params.npz")
    doc = graph_to_json(g)
    doc["params_file"] = params_path.name
    json_path.write_text(json.dumps(doc, indent=1) + "\n")
    arrays = {f"{n.name}/{k}": p.data for n in g.nodes.values() for k, p in n.params.items()}
    np.savez(params_path, **arrays)


def load_graph(json_path: Path) -> Graph:
    """Load a graph saved by :func:`save_graph`."""
    json_path = Path(json_path)
    doc = json.loads(json_path.read_text())
    if doc.get("format") != "llm2hls-ir":
        raise ValueError(f"{json_path} is not an llm2hls IR file")
    arrays = np.load(json_path.with_name(doc.get("params_file", "ir_params.npz")))
    g = Graph(doc["name"])
    g.meta = doc.get("meta", {})
    for t in doc["tensors"]:
        g.tensors[t["name"]] = Tensor(t["name"], TensorType.from_json(t["type"]), t.get("meta", {}))
    for nd in doc["nodes"]:
        params = {
            k: Param(arrays[f"{nd['name']}/{k}"], spec.get("placement", "onchip"))
            for k, spec in nd["params"].items()
        }
        g.nodes[nd["name"]] = Node(
            nd["name"], nd["op"], nd["inputs"], nd["outputs"], nd["attrs"], params,
            nd.get("source", ""), nd.get("lanes", 1), nd.get("layer"), nd.get("block", ""),
        )
    g.inputs, g.outputs = doc["inputs"], doc["outputs"]
    return g
