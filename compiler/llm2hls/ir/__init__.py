"""The llm2hls intermediate representation: typed streams between dataflow stages."""

from .graph import Graph, Node, Param, Tensor
from .serialize import load_graph, save_graph
from .types import FixedType, FloatType, NumType, TensorType, int_type

__all__ = [
    "FixedType", "FloatType", "Graph", "Node", "NumType", "Param", "Tensor", "TensorType",
    "int_type", "load_graph", "save_graph",
]
