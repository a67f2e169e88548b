"""Elementwise arithmetic and nonlinear functions.

Elementwise ops on one activation with scalar constants build a symbolic :class:`Pointwise`
expression. When it is first needed as a stream, the expression (and each sub-expression) is
compared numerically with the table functions of :mod:`llm2hls.ops.functions`: a written-out
``0.5*x*(1+tanh(sqrt(2/pi)*(x+0.044715*x**3)))`` becomes one ``act gelu_tanh`` stage,
``x*sigmoid(x)`` one ``act silu``. Whatever does not match is emitted literally as ``eltwise`` /
``act`` / ``route`` (negation) stages. Ops between two different activations, or with per-channel
or per-token constant tables (biases, rotary cos/sin), become ``eltwise`` stages directly.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ...ops.functions import FUNCTIONS
from ..lower import Lowerer, register_lowering
from ..values import Act, Expr, Pointwise, RowStat, Scores, is_symbolic, scalar_of

aten = torch.ops.aten

X: Expr = ("x",)

# Unary expression functions (float64, numpy) and which act table realizes each literally.
UNARY: dict[str, Any] = {
    "neg": np.negative,
    "tanh": np.tanh,
    "sigmoid": FUNCTIONS["sigmoid"],
    "exp": np.exp,
    "relu": FUNCTIONS["relu"],
    "silu": FUNCTIONS["silu"],
    "gelu_erf": FUNCTIONS["gelu_erf"],
    "gelu_tanh": FUNCTIONS["gelu_tanh"],
    "erf": lambda x: torch.erf(torch.from_numpy(np.asarray(x, dtype=np.float64))).numpy(),
    "rsqrt": lambda x: 1.0 / np.sqrt(x),
    "sqrt": np.sqrt,
    "reciprocal": lambda x: 1.0 / x,
}
BINARY = {"add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.divide, "pow": np.power}
TABLE_FNS = ("tanh", "sigmoid", "exp", "relu", "silu", "gelu_erf", "gelu_tanh")
# Table functions a whole sub-expression may turn out to be, tried in this order.
KNOWN = ("gelu_tanh", "gelu_erf", "silu", "sigmoid", "tanh", "exp", "relu")
PROBE = np.linspace(-10.0, 10.0, 4001)


# ---- expression algebra ---------------------------------------------------------------------
def evaluate(e: Expr, x: np.ndarray) -> np.ndarray:
    """The value of expression ``e`` at ``x`` (float64)."""
    op = e[0]
    if op == "x":
        return x
    if op == "c":
        return np.full_like(x, e[1])
    if op in BINARY:
        return BINARY[op](evaluate(e[1], x), evaluate(e[2], x))
    return UNARY[op](evaluate(e[1], x))


def is_nonlinear(e: Expr) -> bool:
    op = e[0]
    if op in ("x", "c"):
        return False
    if op == "div" and e[2][0] != "c":
        return True
    if op == "pow" and not (e[2][0] == "c" and float(e[2][1]).is_integer()):
        return True
    if op in UNARY and op != "neg":
        return True
    return any(is_nonlinear(c) for c in e[1:])


def match_table(e: Expr) -> str | None:
    """The table function that ``e`` computes (within 1e-6 relative on [-10, 10]), if any."""
    if not is_nonlinear(e):
        return None
    with np.errstate(all="ignore"):
        y = evaluate(e, PROBE)
    if not np.all(np.isfinite(y)):
        return None
    for name in KNOWN:
        ref = FUNCTIONS[name](PROBE)
        if np.all(np.abs(y - ref) <= 1e-6 * (1.0 + np.abs(ref))):
            return name
    return None


def _operand(v: Any) -> tuple[Act, Expr, dict]:
    if isinstance(v, Act):
        return v, X, {}
    return v.base, v.expr, v.origins


def _relation(a: Act, b: Act) -> str | None:
    """``"same"`` if two views hold the same elements, ``"neg"`` if ``b == -a``, else None."""
    if a is b:
        return "same"
    if a.shape != b.shape or not all(bool(torch.equal(x, y)) for x, y in zip(a.fields()[:3], b.fields()[:3])):
        return None
    if torch.equal(a.sign, b.sign):
        return "same"
    return "neg" if torch.equal(a.sign, -b.sign) else None


def _substitute_x(e: Expr, replacement: Expr) -> Expr:
    if e == X:
        return replacement
    if e[0] == "c":
        return e
    return (e[0],) + tuple(_substitute_x(c, replacement) for c in e[1:])


def make_pointwise(node: torch.fx.Node, base: Act, expr: Expr, *origin_maps: dict) -> Pointwise:
    pw = Pointwise(base, expr, node)
    for m in origin_maps:
        pw.origins.update(m)
    pw.origins.setdefault(expr, node)
    return pw


# ---- handlers -------------------------------------------------------------------------------
@register_lowering(aten.add, aten.sub, aten.mul, aten.div, aten.rsub)
def binary(lw: Lowerer, node: torch.fx.Node, **kw: Any) -> Any:
    """``self (op) alpha*other`` with activations and/or constants."""
    name = node.target._overloadpacket.__name__
    a, b = kw["self"], kw["other"]
    if kw.get("rounding_mode") is not None:
        raise lw.unsupported("integer division of activations")
    alpha = kw.get("alpha")
    fn = name
    if name == "rsub":  # other - alpha * self
        a, b, fn = kw["other"], kw["self"], "sub"
    if alpha is not None and alpha != 1:
        b = _scaled(lw, node, b, alpha)
    if isinstance(a, RowStat) or isinstance(b, RowStat):
        from .norm import rowstat_binary

        return rowstat_binary(lw, node, fn, a, b)
    if isinstance(a, Scores) or isinstance(b, Scores):
        from .attention import scores_binary

        return scores_binary(lw, node, fn, a, b)
    return elementwise(lw, node, fn, a, b)


def _scaled(lw: Lowerer, node: torch.fx.Node, v: Any, alpha: Any) -> Any:
    if not is_symbolic(v):
        return v * alpha
    return elementwise(lw, node, "mul", v, alpha)


def elementwise(lw: Lowerer, node: torch.fx.Node, fn: str, a: Any, b: Any) -> Any:
    """``a fn b`` where at least one side is an activation (Act or Pointwise)."""
    sym_a, sym_b = is_symbolic(a), is_symbolic(b)
    if sym_a and sym_b:
        base_a, ea, oa = _operand(a)
        base_b, eb, ob = _operand(b)
        relation = _relation(base_a, base_b)
        if relation is not None:
            if relation == "neg":
                eb = _substitute_x(eb, ("neg", X))
            return make_pointwise(node, base_a, (fn, ea, eb), oa, ob)
        if fn in ("div", "pow"):
            raise lw.unsupported(f"{fn} between two different activations is not supported")
        return _eltwise_streams(lw, fn, a, b)
    sym, const = (a, b) if sym_a else (b, a)
    value = scalar_of(const)
    out_shape = torch.broadcast_shapes(tuple(sym.shape), tuple(torch.as_tensor(const).shape))
    if value is not None and tuple(out_shape) == tuple(sym.shape):
        base, e, origins = _operand(sym)
        tree = (fn, e, ("c", value)) if sym_a else (fn, ("c", value), e)
        return make_pointwise(node, base, tree, origins)
    return _eltwise_const(lw, fn, sym, torch.as_tensor(const), const_first=not sym_a)


def _expand(act: Act, shape: tuple[int, ...]) -> Act:
    if act.shape == tuple(shape):
        return act
    return act.map_fields(lambda t: t.expand(shape))


def _eltwise_streams(lw: Lowerer, fn: str, a: Any, b: Any) -> Act:
    shape = tuple(torch.broadcast_shapes(a.shape, b.shape))
    act_a, act_b = _expand(lw.as_act(a), shape), _expand(lw.as_act(b), shape)
    axis = lw.token_axis(act_a)
    name_a, arr = lw.materialize(act_a, axis)
    name_b, _ = lw.materialize(act_b, axis)
    (out,) = lw.emit("eltwise", [name_a, name_b], [arr.channels], {"fn": fn})
    return lw.fresh(out, shape, axis)


def const_table(table: torch.Tensor) -> np.ndarray:
    """Shrink an ``[S, C]`` constant to ``[]`` or ``[C]`` when it does not vary (float32)."""
    t = table.to(torch.float64)
    if bool((t == t.reshape(-1)[0]).all()):
        t = t.reshape(-1)[0]
    elif bool((t == t[:1]).all()):
        t = t[0]
    return t.to(torch.float32).numpy()


def _eltwise_const(lw: Lowerer, fn: str, sym: Any, const: torch.Tensor, const_first: bool) -> Act:
    if fn == "pow":
        raise lw.unsupported("pow with a tensor exponent is not supported")
    shape = tuple(torch.broadcast_shapes(sym.shape, const.shape))
    act = _expand(lw.as_act(sym), shape)
    axis = lw.token_axis(act)
    name, arr = lw.materialize(act, axis)
    table = arr.to_rows(torch.broadcast_to(const.to(torch.float64), shape))
    if fn == "div":
        if const_first:
            raise lw.unsupported("division by an activation is not supported")
        fn, table = "mul", 1.0 / table
    if fn == "sub" and const_first:  # c - x  ==  (-x) + c
        (neg,) = lw.emit("route", [name], [arr.channels], {"map": [[[0, c, -1] for c in range(arr.channels)]]})
        name, fn = lw.streams[neg], "add"
    (out,) = lw.emit("eltwise", [name], [arr.channels], {"fn": fn}, {"const": const_table(table)})
    return lw.fresh(out, shape, axis)


def _unary(lw: Lowerer, node: torch.fx.Node, fn: str, v: Any) -> Any:
    if isinstance(v, Scores):
        raise lw.unsupported("elementwise functions of attention scores are not supported")
    if isinstance(v, RowStat):
        from .norm import rowstat_unary

        return rowstat_unary(lw, fn, v)
    base, e, origins = _operand(v)
    return make_pointwise(node, base, (fn, e), origins)


def _register_unary(op: Any, fn: str) -> None:
    register_lowering(op)(lambda lw, node, **kw: _unary(lw, node, fn, kw["self"]))


for _op, _fn in (
    (aten.tanh, "tanh"), (aten.sigmoid, "sigmoid"), (aten.exp, "exp"), (aten.relu, "relu"),
    (aten.silu, "silu"), (aten.erf, "erf"), (aten.rsqrt, "rsqrt"), (aten.sqrt, "sqrt"),
    (aten.reciprocal, "reciprocal"),
):
    _register_unary(_op, _fn)


@register_lowering(aten.gelu)
def gelu(lw: Lowerer, node: torch.fx.Node, **kw: Any) -> Any:
    fn = "gelu_tanh" if kw.get("approximate") == "tanh" else "gelu_erf"
    return _unary(lw, node, fn, kw["self"])


@register_lowering(aten.neg)
def neg(lw: Lowerer, node: torch.fx.Node, **kw: Any) -> Any:
    """Negating a view only flips route signs; negating an expression extends it."""
    v = kw["self"]
    return v.negated() if isinstance(v, Act) else _unary(lw, node, "neg", v)


@register_lowering(aten.pow)
def pow_(lw: Lowerer, node: torch.fx.Node, **kw: Any) -> Any:
    if "exponent" not in kw or is_symbolic(kw["exponent"]):
        raise lw.unsupported("pow with an activation exponent is not supported")
    return elementwise(lw, node, "pow", kw["self"], kw["exponent"])


@register_lowering(aten.square)
def square(lw: Lowerer, node: torch.fx.Node, **kw: Any) -> Any:
    return elementwise(lw, node, "mul", kw["self"], kw["self"])


# ---- materialization ------------------------------------------------------------------------
def materialize_pointwise(lw: Lowerer, pw: Pointwise) -> Act:
    """Emit the stages computing ``pw`` (once) and return the view of their output."""
    if "act" in pw.memo:
        return pw.memo["act"]
    name, arr = lw.materialize(pw.base)
    x = lw.streams.index(name)
    out = _emit(lw, pw, pw.expr, x, arr.channels, {})
    pw.memo["act"] = lw.fresh(out, pw.shape, arr.token_axis)
    return pw.memo["act"]


def _emit(lw: Lowerer, pw: Pointwise, e: Expr, x: int, c: int, done: dict) -> int:
    """Stages for sub-expression ``e`` of stream ``x``; returns the output stream id."""
    if e == X:
        return x
    if e in done:
        return done[e]
    node = pw.origins.get(e, pw.source_node)
    op = e[0]

    def emit(kind: str, inputs: list[int], attrs: dict, params: dict | None = None) -> int:
        return lw.emit(kind, [lw.streams[i] for i in inputs], [c], attrs, params, node=node)[0]

    table = match_table(e)
    if table is not None:
        out = emit("act", [x], {"fn": table})
    elif op == "neg":
        out = emit("route", [_emit(lw, pw, e[1], x, c, done)], {"map": [[[0, j, -1] for j in range(c)]]})
    elif op in TABLE_FNS:
        out = emit("act", [_emit(lw, pw, e[1], x, c, done)], {"fn": op})
    elif op == "pow" and e[2][0] == "c" and float(e[2][1]).is_integer() and 1 <= e[2][1] <= 4:
        base = _emit(lw, pw, e[1], x, c, done)
        out = base
        for _ in range(int(e[2][1]) - 1):
            out = emit("eltwise", [out, base], {"fn": "mul"})
    elif op in ("add", "sub", "mul", "div") and (e[1][0] == "c" or e[2][0] == "c"):
        out = _emit_const_binary(lw, pw, e, x, c, done, emit)
    elif op in ("add", "sub", "mul"):
        out = emit("eltwise", [_emit(lw, pw, e[1], x, c, done), _emit(lw, pw, e[2], x, c, done)], {"fn": op})
    else:
        raise _unsupported_expr(lw, node, e)
    done[e] = out
    return out


def _emit_const_binary(lw, pw, e, x, c, done, emit) -> int:
    op, left, right = e
    const_first = left[0] == "c"
    value = left[1] if const_first else right[1]
    operand = _emit(lw, pw, right if const_first else left, x, c, done)
    if op == "div":
        if const_first:
            raise _unsupported_expr(lw, pw.origins.get(e, pw.source_node), e)
        op, value = "mul", 1.0 / value
    if op == "sub" and const_first:  # c - y == -y + c
        operand = emit("route", [operand], {"map": [[[0, j, -1] for j in range(c)]]})
        op = "add"
    return emit("eltwise", [operand], {"fn": op}, {"const": np.array(value, dtype=np.float32)})


def _unsupported_expr(lw: Lowerer, node: Any, e: Expr) -> Exception:
    saved, lw.node = lw.node, node
    try:
        what = {"div": "division by an activation", "pow": "a non-integer power"}.get(e[0], f"'{e[0]}'")
        return lw.unsupported(
            f"{what} of an activation has no hardware stage and the expression around it "
            f"matches no known activation function ({', '.join(KNOWN)})"
        )
    finally:
        lw.node = saved

