"""User-facing errors: one clear line (what, where, how to fix), exit code 2."""

from __future__ import annotations


class UserError(Exception):
    """A problem with the user's input, reported as one line with exit code 2 (no traceback)."""

    exit_code = 2


class UnsupportedOpError(UserError):
    """The model uses an ATen op (or pattern) that llm2hls cannot lower."""

    def __init__(self, aten_op: str, node: str, module_path: str, hint: str = "") -> None:
        where = f"graph node '{node}'" + (f" from module '{module_path}'" if module_path else "")
        msg = f"unsupported op {aten_op} at {where}"
        super().__init__(msg + (f"; {hint}" if hint else ""))
        self.aten_op, self.node, self.module_path = aten_op, node, module_path
