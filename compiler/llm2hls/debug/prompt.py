"""Chat messages for the debugging loop: the kernel with line numbers, the harness evidence, and,
on a retry, what the previous fix did."""

from __future__ import annotations

import functools
import re

SYSTEM = """You are an expert Vitis HLS C++ engineer. An HLS kernel has a bug; its testbench shows it.
Find the bug and fix it. Answer in exactly this format and nothing else: the buggy line numbers (most
likely first), one bug class code from the list, then each corrected line as '<line number>: <code>'
(one per changed line, numbers of the listing; '<line number>:' alone deletes the line). Example:
LINES: 7
CLASS: OOB
FIX:
7:   for (int i = 0; i < N; i++) {"""


@functools.lru_cache(maxsize=1)
def class_list() -> dict[str, str]:
    """Bug class code -> short name (first clause of the rule's docstring)."""
    from ..dataset.mutate import rules_for

    return {c: " ".join(re.split(r"[:.(]", r.__doc__ or c)[0].split()) for c, r in rules_for().items()}


def numbered(text: str) -> str:
    """The listing shown to the model: ``  12 | code``."""
    return "\n".join(f"{i:4d} | {line}" for i, line in enumerate(text.split("\n"), 1))


def first_messages(path: str, text: str, evidence: str) -> list[dict]:
    """System + user message of the first try."""
    classes = "; ".join(f"{c} = {d}" for c, d in class_list().items())
    user = (f"Bug classes: {classes}.\n\nFile {path}:\n```cpp\n{numbered(text)}\n```\n\n"
            f"Testbench result: {evidence}")
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]


def retry_message(problem: str, evidence: str | None) -> dict:
    """User message after a failed try: why the fix was unusable, or what the harness said."""
    if evidence is None:
        body = f"Your fix could not be applied: {problem}."
    else:
        body = f"Your fix was applied to the original listing and the testbench still fails. {evidence}"
    return {"role": "user", "content": body + "\nGive a different fix, in the same format (LINES, CLASS, FIX), "
                                              "with line numbers of the original listing."}
