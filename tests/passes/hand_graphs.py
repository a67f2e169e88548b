"""Small hand-built float graphs for the quantization / fusion / backend tests."""

from __future__ import annotations

import numpy as np

from llm2hls.ir import FloatType, Graph, Node, Param, TensorType, int_type

S, V, C, H = 5, 11, 12, 8


def hand_graph(seed: int = 0, act: str | None = None, residual: bool = True) -> Graph:
    """ids -> embedding -> linear(+bias) [-> act] -> add const -> linear [-> add residual]
    -> route (rotate-half with neg) -> mul -> linear."""
    rng = np.random.default_rng(seed)
    g = Graph("hand")
    g.add_tensor("ids", TensorType((S,), int_type(32)))
    g.inputs = ["ids"]

    def t(name: str, c: int) -> str:
        g.add_tensor(name, TensorType((S, c), FloatType()))
        return name

    def p(*shape, std=0.3):
        return Param(rng.normal(0.0, std, shape))

    g.add_node(Node("emb", "embedding", ["ids"], [t("e", C)], params={"weight": p(V, C, std=1.0)}, source="wte"))
    g.add_node(Node("fc1", "linear", ["e"], [t("h", H)], params={"weight": p(H, C), "bias": p(H, std=0.1)},
                    source="mlp.fc1"))
    h = "h"
    if act:
        g.add_node(Node("act", "act", ["h"], [t("ha", H)], attrs={"fn": act}, source="mlp.act"))
        h = "ha"
    g.add_node(Node("addc", "eltwise", [h], [t("h2", H)], attrs={"fn": "add"}, params={"const": p(S, H, std=1.0)},
                    source="pos"))
    g.add_node(Node("fc2", "linear", ["h2"], [t("y", C)], params={"weight": p(C, H)}, source="mlp.fc2"))
    r = "y"
    if residual:
        g.add_node(Node("res", "eltwise", ["y", "e"], [t("r", C)], attrs={"fn": "add"}, source="residual"))
        r = "r"
    half = C // 2
    rot = [[[0, c + half, -1] for c in range(half)] + [[0, c, 1] for c in range(half)]]
    g.add_node(Node("rot", "route", [r], [t("rr", C)], attrs={"map": rot}, source="rotate_half"))
    g.add_node(Node("mul", "eltwise", ["rr", r], [t("m", C)], attrs={"fn": "mul"}, source="mul"))
    g.add_node(Node("head", "linear", ["m"], [t("out", 7)], params={"weight": p(7, C), "bias": p(7, std=0.1)},
                    source="lm_head"))
    g.outputs = ["out"]
    g.validate()
    return g


def id_inputs(seed: int) -> dict[str, np.ndarray]:
    return {"ids": np.random.default_rng(seed).integers(0, V, S)}


def calib_inputs(n: int = 4) -> list[dict[str, np.ndarray]]:
    return [id_inputs(100 + i) for i in range(n)]
