"""Op kinds: each module defines one kind's meaning, cost and HLS template context."""

from . import activation, attention, embedding, eltwise, layernorm, linear, route  # noqa: F401
from .base import Cost, OpKind, all_op_kinds, op_kind, register

__all__ = ["Cost", "OpKind", "all_op_kinds", "op_kind", "register"]
