"""The LLM-assisted debugging loop: run the harness, ask the model, apply its fix to a copy, re-run,
and retry with the failure evidence until the harness passes or the tries run out.

Every fix applies to the kernel as the user gave it (not to the previous attempt), so a wrong
fix never compounds and line numbers in the prompt stay valid; the conversation keeps the earlier
answers and what the harness said about each.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from ..dataset.base import BaseDesign
from ..dataset.toolchain import Builder
from .backends import ChatBackend
from .harness import Evidence, run_candidate
from .parse import Reply, parse_reply
from .prompt import class_list, first_messages, retry_message


@dataclass
class Try:
    """One round: the model's answer, what was parsed out of it, and the harness verdict."""

    n: int
    reply: str
    parsed: Reply
    evidence: Evidence | None  # None when no fix could be applied

    def to_json(self) -> dict:
        return {"try": self.n, "reply": self.reply, **self.parsed.to_json(),
                "evidence": self.evidence.to_json() if self.evidence else None}


@dataclass
class Transcript:
    """What happened in a debugging session (``--json`` prints :meth:`to_json`)."""

    file: str
    model: str
    initial: Evidence
    tries: list[Try] = field(default_factory=list)

    @property
    def fixed_try(self) -> Try | None:
        return next((t for t in self.tries if t.evidence and t.evidence.passed), None)

    @property
    def fixed(self) -> bool:
        return self.fixed_try is not None

    def to_json(self) -> dict:
        return {"file": self.file, "model": self.model, "initial": self.initial.to_json(),
                "tries": [t.to_json() for t in self.tries], "fixed": self.fixed,
                "fixed_on_try": self.fixed_try.n if self.fixed_try else None}


def debug_kernel(design: BaseDesign, path: str, text: str, backend: ChatBackend, builder: Builder,
                 max_tries: int = 3, echo: Callable[[str], None] = lambda s: None) -> Transcript:
    """Debug ``text`` (the kernel file ``path`` of ``design``) with ``backend``; never writes it back."""
    initial = run_candidate(design, builder, {path: text})
    tr = Transcript(path, backend.name, initial)
    echo(f"harness on the given kernel: {initial.describe()}")
    if initial.passed:
        return tr
    messages = first_messages(path, text, initial.describe())
    seen: dict[str, Evidence] = {}  # fix -> its verdict: a repeated fix is not rebuilt
    for n in range(1, max_tries + 1):
        reply = _ask(backend, messages)
        parsed = parse_reply(reply, text, list(class_list()))
        where = f"lines {parsed.lines or '?'}, class {'/'.join(parsed.classes) or '?'}"
        if parsed.fixed is None:
            tr.tries.append(Try(n, reply, parsed, None))
            echo(f"try {n}: {where}; no usable fix ({parsed.problem})")
            follow = retry_message(parsed.problem, None)
        else:
            again = parsed.fixed in seen
            ev = seen[parsed.fixed] if again else run_candidate(design, builder, {path: parsed.fixed})
            seen[parsed.fixed] = ev
            tr.tries.append(Try(n, reply, parsed, ev))
            echo(f"try {n}: {where}; {parsed.fix_format} fix{' (same as before)' if again else ''} -> {ev.describe()}")
            if ev.passed:
                break
            follow = retry_message("", ("This is the fix you already gave. " if again else "") + ev.describe())
        messages = [*messages, {"role": "assistant", "content": reply}, follow]
    return tr


ANSWER_START = "LINES:"


def _ask(backend: ChatBackend, messages: list[dict]) -> str:
    """The model's answer; backends that can continue a started answer get it primed with the
    format's first word (small models otherwise tend to chat instead of answering)."""
    if getattr(backend, "supports_prefill", False):
        return ANSWER_START + backend.complete([*messages, {"role": "assistant", "content": ANSWER_START}])
    return backend.complete(messages)
