"""Capture a model as an ATen graph with ``torch.export`` for a fixed sequence length (batch 1)."""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any, Callable

import torch
import torch.utils._pytree as pytree

from ..errors import UserError
from .load import LoadedModel, _first_line

DEFAULT_SEQ_LEN = 16


@dataclass
class Captured:
    """An exported program at ``seq_len`` tokens and a way to run the original model."""

    program: torch.export.ExportedProgram
    seq_len: int
    run: Callable[[list[torch.Tensor]], Any]  # user tensor inputs (in order) -> model output


def _check_seq_len(seq_len: Any, max_positions: int | None, name: str) -> int:
    if isinstance(seq_len, bool) or not isinstance(seq_len, int) or seq_len <= 0:
        raise UserError(f"--seq-len must be a positive integer, got {seq_len!r}")
    if max_positions is not None and seq_len > max_positions:
        raise UserError(
            f"--seq-len {seq_len} exceeds the {max_positions} positions model '{name}' supports; "
            f"use --seq-len <= {max_positions}"
        )
    return seq_len


def capture(loaded: LoadedModel, seq_len: int | None, example_input: torch.Tensor | None = None) -> Captured:
    """Export ``loaded`` (see :class:`Captured`).

    Modules are exported at ``seq_len`` (default 16) with token ids ``[1, seq_len]`` (or
    ``example_input`` for models taking something else), inside ``torch.no_grad()`` and with
    ``use_cache=False`` for models that have a KV cache. A ``.pt2`` keeps the length it was
    exported with, unless it was exported with a dynamic length.
    """
    if loaded.program is not None:
        return _from_program(loaded, seq_len)
    module = loaded.module
    assert module is not None
    seq_len = _check_seq_len(DEFAULT_SEQ_LEN if seq_len is None else seq_len, loaded.max_positions, loaded.name)
    if example_input is None:
        vocab = _vocab_size(module)
        example_input = (torch.arange(seq_len, dtype=torch.int64) % max(vocab, 1)).unsqueeze(0)
    kwargs: dict[str, Any] = {}
    if "use_cache" in inspect.signature(module.forward).parameters:
        kwargs["use_cache"] = False
    args = (example_input,)
    with torch.no_grad():
        try:
            program = torch.export.export(module, args, kwargs=kwargs, strict=False)
        except UserError:
            raise
        except Exception as e:  # noqa: BLE001 - report any capture failure as a user problem
            raise UserError(
                f"torch.export could not capture model '{loaded.name}' at seq_len={seq_len}: {_first_line(e)}"
            ) from None

    def run(tensors: list[torch.Tensor]) -> Any:
        with torch.no_grad():
            return module(*tensors, **kwargs)

    return Captured(program, seq_len, run)


def _vocab_size(module: torch.nn.Module) -> int:
    v = getattr(getattr(module, "config", None), "vocab_size", None)
    if isinstance(v, int) and v > 0:
        return v
    for m in module.modules():
        if isinstance(m, torch.nn.Embedding):
            return m.num_embeddings
    return 2


def _program_seq_len(program: torch.export.ExportedProgram) -> tuple[int | None, bool]:
    """(sequence length, dynamic?) from the program's first user tensor input."""
    sig = program.graph_signature
    for node, spec in zip((n for n in program.graph.nodes if n.op == "placeholder"), sig.input_specs):
        if spec.kind != torch.export.graph_signature.InputKind.USER_INPUT:
            continue
        val = node.meta.get("val")
        if not isinstance(val, torch.Tensor):
            continue
        dim = val.shape[-1] if not val.dtype.is_floating_point else val.shape[-2]
        if isinstance(dim, torch.SymInt):
            return None, True
        return int(dim), False
    return None, False


def _from_program(loaded: LoadedModel, seq_len: int | None) -> Captured:
    program = loaded.program
    assert program is not None
    exported, dynamic = _program_seq_len(program)
    args, kwargs = program.example_inputs or ((), {})
    flat, spec = pytree.tree_flatten((args, kwargs))

    def run_with(prog: torch.export.ExportedProgram) -> Callable[[list[torch.Tensor]], Any]:
        module = prog.module()

        def run(tensors: list[torch.Tensor]) -> Any:
            it = iter(tensors)
            leaves = [next(it) if isinstance(x, torch.Tensor) else x for x in flat]
            a, k = pytree.tree_unflatten(leaves, spec)
            with torch.no_grad():
                return module(*a, **k)

        return run

    if not dynamic:
        if exported is None:
            raise UserError(f"{loaded.name}.pt2: the program has no tensor input")
        if seq_len is not None and seq_len != exported:
            raise UserError(
                f"{loaded.name}.pt2 was exported for seq_len={exported}; --seq-len {seq_len} conflicts "
                f"(omit --seq-len, or re-export with a dynamic sequence length)"
            )
        return Captured(program, exported, run_with(program))
    # Dynamic length: specialize by exporting the program's module again at the requested length.
    seq_len = _check_seq_len(DEFAULT_SEQ_LEN if seq_len is None else seq_len, None, loaded.name)
    resized = [_resize(x, seq_len) if isinstance(x, torch.Tensor) else x for x in flat]
    a, k = pytree.tree_unflatten(resized, spec)
    with torch.no_grad():
        try:
            fixed = torch.export.export(program.module(), tuple(a), kwargs=dict(k), strict=False)
        except Exception as e:  # noqa: BLE001
            raise UserError(
                f"{loaded.name}.pt2: cannot specialize its dynamic sequence length to {seq_len}: {_first_line(e)}"
            ) from None
    return Captured(fixed, seq_len, run_with(program))


def _resize(t: torch.Tensor, seq_len: int) -> torch.Tensor:
    """An example like ``t`` with ``seq_len`` tokens (ids on the last axis, floats on the second last)."""
    axis = t.dim() - 1 if not t.dtype.is_floating_point else t.dim() - 2
    shape = list(t.shape)
    shape[axis] = seq_len
    return torch.zeros(shape, dtype=t.dtype)
