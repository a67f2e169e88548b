"""Hand-built quantized graphs for the RTL tests, and an independent integer oracle.

Until the quantize pass exists, the tests build small graphs with FixedType tensors and ``q_``
params exactly as docs/architecture.md describes. ``oracle`` computes the documented integer
semantics directly from ``llm2hls.numerics`` (independently of the ops' ``run_int``), so it can
stand in for ``reference.run_graph(..., "int")`` while that is missing and be compared with it
once it exists.
"""

from __future__ import annotations

import numpy as np

from llm2hls.ir.graph import Graph, Node, Param
from llm2hls.ir.types import FixedType, TensorType, int_type
from llm2hls.numerics import convert

A = 16


def act(frac: int, rounding: str = "RND", overflow: str = "SAT", width: int = A) -> FixedType:
    return FixedType(width, frac, True, rounding, overflow)


def add_param(node: Node, key: str, data: np.ndarray, t: FixedType) -> None:
    """A ``q_`` param with its recorded type, and its float twin (real values) as a real graph has."""
    node.params[key] = Param(np.asarray(data, dtype=np.int64))
    node.params[key[2:]] = Param(np.asarray(data, dtype=np.float64) * t.lsb)
    node.attrs.setdefault("param_types", {})[key] = t.to_json()
    node.attrs.setdefault("param_bits", {})[key] = t.width


def linear_node(g: Graph, rng, name, x, y, k, n, lanes, wb=8, mb=12, fm=14, bias=True) -> Node:
    node = g.add_node(Node(name, "linear", [x], [y], {"y_type": g.tensors[y].type.dtype.to_json()},
                           lanes=lanes, source=f"model.{name}"))
    lim = 2 ** (wb - 1) - 1
    add_param(node, "q_weight", rng.integers(-lim, lim + 1, size=(n, k)), FixedType(wb, 0, True, "TRN", "WRAP"))
    add_param(node, "q_scale", rng.integers(1, 2**mb, size=n), FixedType(mb, fm, False, "TRN", "WRAP"))
    if bias:
        fx = g.tensors[x].type.dtype.frac
        add_param(node, "q_bias", rng.integers(-(2**20), 2**20, size=n), FixedType(32, fx + fm, True, "TRN", "WRAP"))
    return node


def oracle(g: Graph, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Documented integer semantics of embedding / linear / eltwise / route."""
    env = {k: np.asarray(v, dtype=np.int64) for k, v in inputs.items()}
    for node in g.topo_nodes():
        ts = [g.tensors[t].type.dtype for t in node.inputs]
        yt = [g.tensors[t].type.dtype for t in node.outputs]
        xs = [env[t] for t in node.inputs]
        pt = {k: FixedType(**{a: b for a, b in v.items() if a != "kind"})
              for k, v in node.attrs.get("param_types", {}).items()}
        if node.op == "embedding":
            outs = [node.param("q_weight")[xs[0]]]
        elif node.op == "linear":
            acc = xs[0] @ node.param("q_weight").T
            v = acc * node.param("q_scale")
            if "q_bias" in node.params:
                v = v + node.param("q_bias")
            outs = [convert(v, ts[0].frac + pt["q_scale"].frac, yt[0])]
        elif node.op == "eltwise":
            a, at = xs[0], ts[0]
            if len(xs) > 1:
                b, bt = xs[1], ts[1]
            else:
                b, bt = np.broadcast_to(node.param("q_const"), a.shape), pt["q_const"]
            if node.attrs["fn"] == "mul":
                outs = [convert(a * b, at.frac + bt.frac, yt[0])]
            else:
                f = max(at.frac, bt.frac)
                a2, b2 = a << (f - at.frac), b << (f - bt.frac)
                outs = [convert(a2 + b2 if node.attrs["fn"] == "add" else a2 - b2, f, yt[0])]
        elif node.op == "route":
            outs = []
            for o, entries in enumerate(node.attrs["map"]):
                cols = [convert(sign * xs[src][:, ch], ts[src].frac, yt[o]) for src, ch, sign in entries]
                outs.append(np.stack(cols, axis=-1))
        else:
            raise NotImplementedError(node.op)
        env.update(zip(node.outputs, outs))
    return {t: env[t] for t in g.outputs}


def mixed_graph(seed: int = 1) -> Graph:
    """Every phase-1 operator, random odd sizes and lane counts, all rounding/overflow modes.

    ids -> embedding -> linear -> route (split + negate + reorder) -> eltwise add/sub/mul
    with stream and constant operands; plus a second input through linear(L=1, no bias).
    """
    rng = np.random.default_rng(seed)
    g = Graph(f"mixed{seed}")
    S, V, C = (int(v) for v in rng.integers([2, 3, 2], [7, 20, 9]))
    N, lanes = 7, int(rng.integers(1, 8))
    g.add_tensor("ids", TensorType((S,), int_type(5, signed=False)))
    g.inputs.append("ids")
    g.add_tensor("h", TensorType((S, C), act(11)))
    e = g.add_node(Node("wte", "embedding", ["ids"], ["h"], source="model.wte"))
    add_param(e, "q_weight", rng.integers(-3000, 3000, size=(V, C)), act(11))
    g.add_tensor("q", TensorType((S, N), act(9)))
    linear_node(g, rng, "fc1", "h", "q", C, N, lanes=lanes)
    g.add_tensor("qa", TensorType((S, 4), act(9)))
    g.add_tensor("qb", TensorType((S, 3), act(8, "TRN", "WRAP")))
    g.add_node(Node("split", "route", ["q"], ["qa", "qb"], {"map": [
        [[0, 3, 1], [0, 0, -1], [0, 1, 1], [0, 6, -1]],
        [[0, 2, -1], [0, 4, 1], [0, 5, 1]],
    ]}))
    g.add_tensor("x2", TensorType((S, 4), act(12)))
    g.inputs.append("x2")
    g.add_tensor("s1", TensorType((S, 4), act(10, "RND_CONV")))
    g.add_node(Node("add1", "eltwise", ["qa", "x2"], ["s1"], {"fn": "add"}))
    g.add_tensor("m1", TensorType((S, 4), act(13, "RND_ZERO", "SAT_SYM")))
    mul = g.add_node(Node("mul1", "eltwise", ["s1"], ["m1"], {"fn": "mul"}))
    add_param(mul, "q_const", rng.integers(-200, 200, size=4), act(6))
    g.add_tensor("d1", TensorType((S, 3), act(7, "TRN", "SAT")))
    sub = g.add_node(Node("sub1", "eltwise", ["qb"], ["d1"], {"fn": "sub"}))
    add_param(sub, "q_const", rng.integers(-9000, 9000, size=(S, 3)), act(10))
    g.add_tensor("z", TensorType((S, 5), act(10, "RND", "WRAP")))
    linear_node(g, rng, "fc2", "x2", "z", 4, 5, lanes=int(rng.integers(1, 6)), bias=False)
    g.outputs += ["m1", "d1", "z", "q"]
    g.validate()
    return g


# ---- phase 2: nonlinear kinds and fused linears, quantized by the real passes ------------------
def _float_linear(g: Graph, rng, name: str, ins: list[str], out: str, k: int, n: int, lanes: int,
                  act_fn: str | None = None, residual: bool = False) -> Node:
    node = g.add_node(Node(name, "linear", ins, [out], {"act": act_fn, "residual": residual},
                           lanes=lanes, source=f"model.{name}"))
    node.params["weight"] = Param(rng.normal(0, 0.4, size=(n, k)))
    node.params["bias"] = Param(rng.normal(0, 0.3, size=n))
    return node


def _quantize(g: Graph, rng, n_calib: int = 3) -> Graph:
    """Calibrate on normal inputs, quantize (w8a16), insert forks, size FIFOs: the real passes."""
    from llm2hls.passes.fifo import size_fifos
    from llm2hls.passes.forks import insert_forks
    from llm2hls.passes.quantize import QuantConfig, calibrate, quantize_graph

    calib = [{t: rng.normal(0, 1.0, size=g.tensors[t].type.shape) for t in g.inputs} for _ in range(n_calib)]
    config = QuantConfig()
    calibrate(g, calib, config)
    quantize_graph(g, config)
    g, _ = insert_forks(g)
    g, _ = size_fifos(g)
    g.validate()
    return g


def norm_act_graph(seed: int = 0, act_fn: str = "silu") -> Graph:
    """x -> LayerNorm -> linear+gelu_tanh (fused) -> linear+residual(x) (fused) -> act -> RMSNorm,
    odd sizes and lane counts; x is forked (a skip path around two token-buffering stages)."""
    rng = np.random.default_rng(seed)
    S, C, H = 5, 12, 20
    g = Graph(f"normact{seed}")
    g.add_tensor("x", TensorType((S, C)))
    g.inputs.append("x")
    for t, c in (("ln", C), ("h", H), ("r", C), ("a", C), ("y", C)):
        g.add_tensor(t, TensorType((S, c)))
    ln = g.add_node(Node("ln", "layernorm", ["x"], ["ln"], {"kind": "layer", "eps": 1e-5}, source="model.ln"))
    ln.params["weight"] = Param(1.0 + 0.3 * rng.normal(size=C))
    ln.params["bias"] = Param(0.2 * rng.normal(size=C))
    _float_linear(g, rng, "fc1", ["ln"], "h", C, H, lanes=3, act_fn="gelu_tanh")
    _float_linear(g, rng, "fc2", ["h", "x"], "r", H, C, lanes=2, residual=True)
    g.add_node(Node("act", "act", ["r"], ["a"], {"fn": act_fn}, source="model.act"))
    rms = g.add_node(Node("rms", "layernorm", ["a"], ["y"], {"kind": "rms", "eps": 1e-6}, source="model.rms"))
    rms.params["weight"] = Param(1.0 + 0.3 * rng.normal(size=C))
    g.outputs.append("y")
    return _quantize(g, rng)


def attention_graph(seed: int = 0) -> Graph:
    """Two attention stages on their own q/k/v inputs: causal GQA (streams rows as tokens
    arrive) and non-causal with a padding mask (buffers the whole sequence first)."""
    rng = np.random.default_rng(seed)
    S, HQ, HK, D = 7, 4, 2, 6
    g = Graph(f"attn{seed}")
    for p, hq, hk, causal in (("a", HQ, HK, True), ("b", 3, 3, False)):
        for t, h in (("q", hq), ("k", hk), ("v", hk)):
            g.add_tensor(f"{p}{t}", TensorType((S, h * D)))
            g.inputs.append(f"{p}{t}")
        g.add_tensor(f"{p}o", TensorType((S, hq * D)))
        node = g.add_node(Node(f"{p}_attn", "attention", [f"{p}q", f"{p}k", f"{p}v"], [f"{p}o"],
                               {"heads": hq, "kv_heads": hk, "head_dim": D, "scale": D ** -0.5,
                                "causal": causal}, source=f"model.{p}.attn"))
        if not causal:  # padding: the last two keys are masked out for every query
            mask = np.ones((S, S), dtype=bool)
            mask[:, S - 2:] = False
            node.params["mask"] = Param(mask)
        g.outputs.append(f"{p}o")
    return _quantize(g, rng)
