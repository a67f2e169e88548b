"""Lower a captured ``torch.export`` program (ATen FX graph) to the llm2hls IR.

One handler per ATen op, looked up in :data:`LOWERINGS` (filled with :func:`register_lowering`,
as torch inductor does). Every FX value becomes a constant (folded by simply executing the op on
constants), an activation view (:class:`~llm2hls.frontend.values.Act`) or a symbolic chain
(:class:`Pointwise`, :class:`Scores`, :class:`Probs`); stages are emitted into the IR only where
real computation happens. See :mod:`llm2hls.frontend.values` for the value model.
"""

from __future__ import annotations

import operator
import re
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch
import torch.fx
import torch.utils._pytree as pytree

from ..errors import UnsupportedOpError, UserError
from ..ir.graph import Graph, Node, Param
from ..ir.types import FloatType, TensorType, int_type
from .values import Act, Arrangement, Pointwise, Probs, Scores, is_symbolic

Handler = Callable[..., Any]
LOWERINGS: dict[Any, Handler] = {}


def register_lowering(*ops: Any) -> Callable[[Handler], Handler]:
    """Decorator: ``handler(lw, node, **bound_args)`` lowers ``ops`` when an input is symbolic.

    Arguments are bound to the op's schema names (``self``, ``other``, ``dim`` ...), defaults
    filled in, values already translated (constants as tensors, activations as views).
    """

    def deco(fn: Handler) -> Handler:
        for op in ops:
            overloads = [getattr(op, o) for o in op.overloads()] if isinstance(
                op, torch._ops.OpOverloadPacket
            ) else [op]
            for o in overloads:
                LOWERINGS[o] = fn
        return fn

    return deco


def op_name(target: Any) -> str:
    """``aten.softmax.int`` style name of an FX call target."""
    if isinstance(target, torch._ops.OpOverload):
        return str(target)
    return getattr(target, "__name__", str(target))


def module_path(node: torch.fx.Node) -> str:
    """Innermost PyTorch module path of an FX node (``transformer.h.0.attn``), or ``""`` when the
    op sits in the top-level module's own ``forward``."""
    stack = node.meta.get("nn_module_stack") or {}
    if not stack:
        return ""
    path = list(stack.values())[-1][0]
    path = re.sub(r"L\['self'\]\.?|L__self___?", "", str(path))
    return path.strip(".")


def module_source(node: torch.fx.Node) -> str:
    """What a stage records as ``source``: the module path, or the top-level class name."""
    path = module_path(node)
    if path:
        return path
    stack = node.meta.get("nn_module_stack") or {}
    if stack:
        cls = list(stack.values())[-1][1]
        return str(getattr(cls, "__name__", cls)).rsplit(".", 1)[-1]
    return ""


def layer_of(path: str) -> int | None:
    """Transformer block index from a module path (``transformer.h.3.mlp`` -> 3)."""
    m = re.search(r"(?:^|\.)(\d+)(?=\.|$)", path)
    return int(m.group(1)) if m else None


def bind_args(target: Any, args: tuple, kwargs: dict) -> dict[str, Any]:
    """Bind FX call arguments to the op schema's argument names (defaults filled in)."""
    bound: dict[str, Any] = {}
    for i, a in enumerate(target._schema.arguments):
        if i < len(args):
            bound[a.name] = args[i]
        elif a.name in kwargs:
            bound[a.name] = kwargs[a.name]
        elif a.has_default_value():
            bound[a.name] = a.default_value
        else:
            bound[a.name] = None
    return bound


def call_bound(target: Any, bound: dict[str, Any]) -> Any:
    """Call ``target`` with arguments bound by :func:`bind_args` (positional where allowed)."""
    args, kwargs = [], {}
    for a in target._schema.arguments:
        if a.kwarg_only:
            kwargs[a.name] = bound[a.name]
        else:
            args.append(bound[a.name])
    return target(*args, **kwargs)


@dataclass
class GraphInput:
    """One user input of the captured program and its IR tensor."""

    ir_name: str
    example: Any  # the example value (tensor or constant) the program was captured with


class Lowerer:
    """Walks the FX graph once, building the IR graph."""

    def __init__(self, ep: torch.export.ExportedProgram, seq_len: int, name: str) -> None:
        self.ep = ep
        self.S = seq_len
        self.graph = Graph(name)
        self.streams: list[str] = []  # stream id -> IR tensor name
        self.node: torch.fx.Node | None = None  # FX node being lowered (source of new stages)
        self.env: dict[torch.fx.Node, Any] = {}
        self.user_inputs: list[GraphInput] = []

    # ---- error helpers ----------------------------------------------------------------------
    def unsupported(self, hint: str, op: str | None = None) -> UnsupportedOpError:
        node = self.node
        if op is None and node is not None:
            op = "model output" if node.op == "output" else op_name(node.target)
        return UnsupportedOpError(
            op or "?",
            node.name if node is not None else "?",
            module_path(node) if node is not None else "",
            hint,
        )

    # ---- streams and stages -----------------------------------------------------------------
    def new_stream(self, base: str, shape: tuple[int, ...], dtype: Any = None) -> int:
        name = self.graph.unique_name(base)
        self.graph.add_tensor(name, TensorType(tuple(int(d) for d in shape), dtype or FloatType()))
        self.streams.append(name)
        return len(self.streams) - 1

    def channels(self, stream_id: int) -> int:
        shape = self.graph.tensors[self.streams[stream_id]].type.shape
        return shape[1] if len(shape) == 2 else 1

    def emit(
        self,
        op: str,
        inputs: list[str],
        out_channels: list[int],
        attrs: dict[str, Any] | None = None,
        params: dict[str, np.ndarray] | None = None,
        node: torch.fx.Node | None = None,
    ) -> list[int]:
        """Add one stage; returns the stream ids of its ``[S, c]`` outputs."""
        fx_node = node if node is not None else self.node
        path = module_path(fx_node) if fx_node is not None else ""
        base = f"{path}_{op}" if path else (f"{fx_node.name}_{op}" if fx_node is not None else op)
        name = self.graph.unique_name(base)
        outs = [
            self.new_stream(name if len(out_channels) == 1 else f"{name}_o{i}", (self.S, c))
            for i, c in enumerate(out_channels)
        ]
        self.graph.add_node(
            Node(
                name=name,
                op=op,
                inputs=list(inputs),
                outputs=[self.streams[i] for i in outs],
                attrs=attrs or {},
                params={k: Param(np.ascontiguousarray(v)) for k, v in (params or {}).items()},
                source=module_source(fx_node) if fx_node is not None else "",
                layer=layer_of(path),
            )
        )
        return outs

    # ---- activation views -------------------------------------------------------------------
    def as_act(self, v: Any) -> Act:
        """An activation view of ``v`` (materializing a pointwise expression if needed)."""
        if isinstance(v, Act):
            return v
        if isinstance(v, Pointwise):
            from .handlers.pointwise import materialize_pointwise

            return materialize_pointwise(self, v)
        if isinstance(v, (Scores, Probs)):
            raise self.unsupported(
                "attention scores (q @ k^T) are only supported as softmax(q @ k^T * scale + mask) @ v"
            )
        raise TypeError(f"not an activation: {type(v).__name__}")

    def token_axis(self, act: Act) -> int | None:
        """The axis of ``act`` that runs over the tokens (``None`` for a single token)."""
        if self.S == 1:
            return None
        varying = [
            a
            for a, d in enumerate(act.shape)
            if d > 1 and bool((act.tok.narrow(a, 1, d - 1) != act.tok.narrow(a, 0, d - 1)).any())
        ]
        if len(varying) == 1 and act.shape[varying[0]] == self.S:
            return varying[0]
        raise self.unsupported(
            f"tensor of shape {list(act.shape)} mixes the token axis with channels; "
            "only token-major [tokens, channels] views of activations can be streamed"
        )

    def materialize(self, v: Any, token_axis: int | None | str = "auto") -> tuple[str, Arrangement]:
        """The IR tensor holding ``v`` as ``[S, C]`` (a ``route`` stage if channels move)."""
        act = self.as_act(v)
        axis = self.token_axis(act) if token_axis == "auto" else token_axis
        key = ("mat", axis)
        if key in act.memo:
            return act.memo[key]
        arr = Arrangement(act.shape, axis)
        rows = [arr.to_rows(f) for f in act.fields()]
        src, tok, ch, sign = rows
        expect_tok = torch.arange(tok.shape[0])[:, None]
        if not bool((tok == expect_tok).all()) or not all(bool((r == r[:1]).all()) for r in (src, ch, sign)):
            raise self.unsupported(
                f"tensor of shape {list(act.shape)} reorders tokens; only channel moves are streamable"
            )
        src0, ch0, sign0 = src[0].tolist(), ch[0].tolist(), sign[0].tolist()
        ids = list(dict.fromkeys(src0))
        if (
            len(ids) == 1
            and ch0 == list(range(self.channels(ids[0])))
            and all(s == 1 for s in sign0)
        ):
            result = (self.streams[ids[0]], arr)
        else:
            for i in ids:
                if self.graph.tensors[self.streams[i]].type.dtype.is_fixed:
                    raise self.unsupported("integer inputs (token ids) cannot be rearranged")
            slot = {sid: k for k, sid in enumerate(ids)}
            route_map = [[[slot[s], c, g] for s, c, g in zip(src0, ch0, sign0)]]
            (out,) = self.emit("route", [self.streams[i] for i in ids], [len(src0)], {"map": route_map})
            result = (self.streams[out], arr)
        act.memo[key] = result
        return result

    def fresh(self, stream_id: int, shape: tuple[int, ...], token_axis: int | None) -> Act:
        return Act.fresh(stream_id, tuple(shape), token_axis)

    # ---- the walk ---------------------------------------------------------------------------
    def run(self) -> Graph:
        """Lower every FX node; returns the IR graph (not yet canonicalized)."""
        from . import handlers  # noqa: F401  (fills LOWERINGS)

        sig = self.ep.graph_signature
        state = {**self.ep.state_dict, **self.ep.constants}
        user_examples = _flat_example_inputs(self.ep)
        placeholders = [n for n in self.ep.graph.nodes if n.op == "placeholder"]
        user_i = 0
        for node, spec in zip(placeholders, sig.input_specs):
            self.node = node
            if spec.kind == torch.export.graph_signature.InputKind.USER_INPUT:
                example = user_examples[user_i] if user_i < len(user_examples) else None
                user_i += 1
                self.env[node] = self._user_input(node, spec, example)
            else:
                value = state[spec.target]
                self.env[node] = value.detach() if isinstance(value, torch.Tensor) else value
        needed = _needed_for_first_output(self.ep.graph)
        for node in self.ep.graph.nodes:
            self.node = node
            if node.op == "call_function" and node in needed:
                self.env[node] = self._call(node)
            elif node.op == "output":
                self._outputs(node)
        return self.graph

    def _user_input(self, node: torch.fx.Node, spec: Any, example: Any) -> Any:
        arg = spec.arg
        if not isinstance(arg, torch.export.graph_signature.TensorArgument):
            return getattr(arg, "value", example)  # e.g. use_cache=False
        val = node.meta.get("val")
        shape = tuple(int(d) for d in val.shape)
        if not val.dtype.is_floating_point:
            if shape not in ((1, self.S), (self.S,)):
                raise UserError(f"token-id input {node.name!r} has shape {list(shape)}; expected [1, {self.S}]")
            first_ids = not any(self.graph.tensors[t].type.dtype.is_fixed for t in self.graph.inputs)
            sid = self.new_stream("input_ids" if first_ids else node.name, (self.S,), int_type(32))
            act = Act.fresh(sid, shape, len(shape) - 1 if self.S > 1 else None)
        else:
            if len(shape) < 2 or shape[-2] != self.S or int(np.prod(shape[:-2])) != 1:
                raise UserError(
                    f"float input {node.name!r} has shape {list(shape)}; expected [1, {self.S}, channels]"
                )
            sid = self.new_stream(node.name, (self.S, shape[-1]))
            act = Act.fresh(sid, shape, len(shape) - 2 if self.S > 1 else None)
        name = self.streams[sid]
        self.graph.inputs.append(name)
        self.user_inputs.append(GraphInput(name, example))
        return act

    def _call(self, node: torch.fx.Node) -> Any:
        args = torch.fx.node.map_arg(node.args, lambda n: self.env[n])
        kwargs = torch.fx.node.map_arg(node.kwargs, lambda n: self.env[n])
        if node.target is operator.getitem:
            return args[0][args[1]]
        if not is_symbolic(args) and not is_symbolic(kwargs):
            return self._fold(node, args, kwargs)
        handler = LOWERINGS.get(node.target)
        if handler is None:
            raise self.unsupported(
                "no lowering for this op on activations (only shape-only/constant uses fold away)"
            )
        return handler(self, node, **bind_args(node.target, args, kwargs))

    def _fold(self, node: torch.fx.Node, args: Any, kwargs: Any) -> Any:
        """Execute an op on constants (masks, positions, rotary tables) for the fixed length."""
        try:
            with torch.no_grad():
                return node.target(*args, **kwargs)
        except Exception as e:  # noqa: BLE001 - any failure here is a property of the model
            msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise UserError(
                f"cannot evaluate constant op {op_name(node.target)} at graph node '{node.name}'"
                f" (module '{module_path(node)}') for seq_len={self.S}: {msg}"
            ) from None

    def _outputs(self, node: torch.fx.Node) -> None:
        leaves = [x for x in pytree.tree_leaves(node.args[0]) if isinstance(x, torch.fx.Node)]
        first = self.env.get(leaves[0]) if leaves else None
        if first is None or not is_symbolic(first):
            raise UserError("the model's first output does not depend on its inputs; nothing to compile")
        tensor, _ = self.materialize(first)
        takes_ids = bool(self.graph.inputs) and self.graph.tensors[self.graph.inputs[0]].type.dtype.is_fixed
        name = _output_name(self.ep, takes_ids)
        if tensor in self.graph.inputs or name in self.graph.tensors:
            (sid,) = self.emit("route", [tensor], [self.graph.tensors[tensor].type.shape[-1]],
                               {"map": [[[0, c, 1] for c in range(self.graph.tensors[tensor].type.shape[-1])]]})
            tensor = self.streams[sid]
        rename_tensor(self.graph, tensor, name)
        self.streams = [name if s == tensor else s for s in self.streams]
        self.graph.outputs = [name]


def _needed_for_first_output(graph: torch.fx.Graph) -> set[torch.fx.Node]:
    """FX nodes the model's first output depends on (other outputs, e.g. BERT's pooler, are
    not compiled)."""
    out = next(n for n in graph.nodes if n.op == "output")
    leaves = [x for x in pytree.tree_leaves(out.args[0]) if isinstance(x, torch.fx.Node)]
    needed: set[torch.fx.Node] = set()
    stack = leaves[:1]
    while stack:
        n = stack.pop()
        if n not in needed:
            needed.add(n)
            stack.extend(n.all_input_nodes)
    return needed


def _flat_example_inputs(ep: torch.export.ExportedProgram) -> list[Any]:
    if ep.example_inputs is None:
        return []
    args, kwargs = ep.example_inputs
    return pytree.tree_leaves((args, kwargs))


def _output_name(ep: torch.export.ExportedProgram, takes_ids: bool) -> str:
    """``logits`` / ``last_hidden_state`` ... from the model's output structure, else by role."""
    spec = ep.call_spec.out_spec
    if spec is not None:
        skeleton = pytree.tree_unflatten(list(range(spec.num_leaves)), spec)
        paths = pytree.tree_flatten_with_path(skeleton)[0]
        if paths:
            key = paths[0][0][-1] if paths[0][0] else None
            name = getattr(key, "key", None) or getattr(key, "name", None)
            if isinstance(name, str) and name.isidentifier():
                return name
    return "logits" if takes_ids else "output"


def rename_tensor(graph: Graph, old: str, new: str) -> None:
    """Rename an IR tensor everywhere it is referenced."""
    if old == new:
        return
    t = graph.tensors.pop(old)
    t.name = new
    graph.tensors[new] = t
    for n in graph.nodes.values():
        n.inputs = [new if x == old else x for x in n.inputs]
        n.outputs = [new if x == old else x for x in n.outputs]
    graph.inputs = [new if x == old else x for x in graph.inputs]
    graph.outputs = [new if x == old else x for x in graph.outputs]


def lower_program(ep: torch.export.ExportedProgram, seq_len: int, name: str) -> tuple[Graph, list[GraphInput]]:
    """Lower ``ep`` (captured at ``seq_len`` tokens, batch 1) to an IR graph and its inputs."""
    lw = Lowerer(ep, seq_len, name)
    graph = lw.run()
    graph.meta["seq_len"] = seq_len
    return graph, lw.user_inputs
