"""What a PyTorch tensor of the captured FX graph becomes while it is lowered to the IR.

* A **constant** is a plain ``torch.Tensor`` (or Python scalar): parameters, buffers and
  everything computed only from them and from shapes (causal masks, positions, rotary tables).
  Constant ops are simply executed (folded) for the fixed sequence length.
* An :class:`Act` is an *activation view*: a PyTorch tensor of any shape whose every element is
  ``sign * stream[token, channel]`` of some IR stream. Its four index tensors (same shape as the
  PyTorch tensor) say which stream, token, channel and sign each element comes from. Views,
  reshapes, transposes, splits, slices, cats and negations are applied to those index tensors with
  the very same ATen op, so heads reshapes are tracked without moving data; a ``route`` stage is
  emitted only when a compute stage needs the data in a different channel order.
* :class:`Pointwise`: an elementwise expression of one activation (``0.5*x*(1+tanh(...))``) kept
  symbolic until used, so written-out GELU/SiLU are recognized as one ``act`` table.
* :class:`Scores` / :class:`Probs`: ``q @ k^T`` (scaled, masked) and its softmax, kept symbolic
  until ``@ v`` turns the whole chain into one ``attention`` stage.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch

INDEX_FIELDS = ("src", "tok", "ch", "sign")


@dataclass(eq=False)
class Act:
    """An activation view: element ``e`` = ``sign[e] * streams[src[e]][tok[e], ch[e]]``."""

    src: torch.Tensor
    tok: torch.Tensor
    ch: torch.Tensor
    sign: torch.Tensor
    # Stages materialized from this view, by arrangement (memo so a view used twice routes once).
    memo: dict[Any, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.src.shape)

    def fields(self) -> tuple[torch.Tensor, ...]:
        return (self.src, self.tok, self.ch, self.sign)

    @staticmethod
    def fresh(stream_id: int, shape: tuple[int, ...], token_axis: int | None) -> "Act":
        """The view of a new stream ``[S, C]`` laid out as ``shape`` with tokens on ``token_axis``.

        Channels enumerate the other axes in row-major order (so ``[1, H, S, D]`` is head-major).
        """
        shape = tuple(shape)
        if token_axis is None:
            n = int(np.prod(shape, dtype=np.int64))
            ch = torch.arange(n).reshape(shape)
            tok = torch.zeros(shape, dtype=torch.int64)
        else:
            s = shape[token_axis]
            rest = shape[:token_axis] + shape[token_axis + 1 :]
            c = int(np.prod(rest, dtype=np.int64))
            tok = torch.arange(s)[:, None].expand(s, c).reshape((s,) + rest)
            ch = torch.arange(c)[None, :].expand(s, c).reshape((s,) + rest)
            tok = tok.movedim(0, token_axis).contiguous()
            ch = ch.movedim(0, token_axis).contiguous()
        src = torch.full(shape, stream_id, dtype=torch.int64)
        return Act(src, tok, ch, torch.ones(shape, dtype=torch.int64))

    def map_fields(self, fn: Callable[[torch.Tensor], Any]) -> Any:
        """Apply a data-movement function to all four index tensors; wrap the result(s)."""
        return rewrap([fn(f) for f in self.fields()])

    def negated(self) -> "Act":
        return Act(self.src, self.tok, self.ch, -self.sign)


def rewrap(results: list[Any]) -> Any:
    """Four parallel results of a movement op (one per index field) -> Act(s)."""
    first = results[0]
    if isinstance(first, torch.Tensor):
        return Act(*(r.contiguous() for r in results))
    if isinstance(first, (list, tuple)):
        return [rewrap([r[i] for r in results]) for i in range(len(first))]
    raise TypeError(f"movement op returned {type(first).__name__}")


@dataclass
class Arrangement:
    """How an :class:`Act` maps onto one ``[S, C]`` stream: tokens on ``token_axis`` (``None``
    when there is a single token and no axis carries it), channels = the other axes row-major."""

    shape: tuple[int, ...]
    token_axis: int | None

    @property
    def channels(self) -> int:
        rest = [d for i, d in enumerate(self.shape) if i != self.token_axis]
        return int(np.prod(rest, dtype=np.int64))

    def to_rows(self, t: torch.Tensor) -> torch.Tensor:
        """A tensor of ``shape`` rearranged to ``[S, C]``."""
        if self.token_axis is None:
            return t.reshape(1, -1)
        return t.movedim(self.token_axis, 0).reshape(t.shape[self.token_axis], -1)


# ---- symbolic values ---------------------------------------------------------------------------
# Expression trees of Pointwise: ("x",), ("c", float), (fn, child...) with fn a key of EXPR_FNS.
Expr = tuple


@dataclass(eq=False)
class Pointwise:
    """``expr(base)`` elementwise, with scalar constants only; materialized on first real use."""

    base: Act
    expr: Expr
    source_node: Any = None  # the FX node that built the outermost operation (for naming)
    origins: dict[Any, Any] = field(default_factory=dict, repr=False, compare=False)  # expr -> FX node
    memo: dict[Any, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def shape(self) -> tuple[int, ...]:
        return self.base.shape


@dataclass
class Scores:
    """``(q @ kt) * scale`` restricted to ``allowed`` (bool ``[Sq, Sk]`` or None = all)."""

    q: Any  # Act | Pointwise, [..., H, S, D]
    kt: Any  # Act | Pointwise, [..., H, D, S]
    scale: float = 1.0
    allowed: torch.Tensor | None = None
    causal_from_sdpa: bool = False
    k_transposed: bool = True  # kt is [..., D, S] (explicit q @ k^T) or k itself [..., S, D] (SDPA)

    @property
    def shape(self) -> tuple[int, ...]:
        keys = self.kt.shape[-1] if self.k_transposed else self.kt.shape[-2]
        return tuple(self.q.shape[:-1]) + (keys,)


@dataclass
class Probs:
    """``softmax(scores, dim=-1)``."""

    scores: Scores

    @property
    def shape(self) -> tuple[int, ...]:
        return self.scores.shape


@dataclass(eq=False)
class RowStat:
    """``mean(x**2, dim=-1, keepdim=True) + eps`` of activation ``base``, or (``inverse``) its
    ``rsqrt``: the pieces of a written-out RMSNorm, kept symbolic until ``x * rsqrt(...)``."""

    base: Act
    eps: float = 0.0
    inverse: bool = False

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.base.shape[:-1]) + (1,)


Symbolic = (Act, Pointwise, Scores, Probs, RowStat)


def is_symbolic(v: Any) -> bool:
    """Whether ``v`` (or anything inside a list/tuple) depends on the model inputs."""
    if isinstance(v, Symbolic):
        return True
    if isinstance(v, (list, tuple)):
        return any(is_symbolic(x) for x in v)
    if isinstance(v, dict):
        return any(is_symbolic(x) for x in v.values())
    return False


def scalar_of(v: Any) -> float | None:
    """The Python float of a scalar constant (number or one-element tensor), else None."""
    if isinstance(v, bool):
        return float(v)
    if isinstance(v, (int, float)):
        return float(v)
    if isinstance(v, torch.Tensor) and v.numel() == 1:
        return float(v.reshape(()).item())
    return None
