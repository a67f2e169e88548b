"""Forgiving parser for a model's debugging answer: localization, bug class and a fix.

The prompt asks for a compact format that even a 135M-parameter model can produce::

    LINES: 12, 14
    CLASS: OOB
    FIX:
    12: for (int i = 0; i < N; i++) {

but a reply may just as well hold a unified diff (with wrong line numbers or missing context
prefixes), the numbered listing style of the prompt (``  12 | code``), the whole corrected file, a
whole corrected function, or a bare snippet in a code fence. Each form is tried in that order; the
first one that changes the file wins. Fixes always apply to the file text the model was shown.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field

_FENCE = re.compile(r"```[^\n`]*\n(.*?)(?:```|\Z)", re.S)
_NUMBERED = re.compile(r"^\s*(?:line\s*)?(\d+)\s*(?:[:|]|\.\s)\s?(.*)$", re.I)
_LISTING = re.compile(r"^\s*\d+\s*\|\s?")  # the prompt's own "  12 | code" listing style


@dataclass
class Reply:
    """What was understood from one model reply."""

    lines: list[int] = field(default_factory=list)  # ranked, 1-based, in the shown file
    classes: list[str] = field(default_factory=list)
    fixed: str | None = None  # the whole fixed file, or None when no usable fix was found
    fix_format: str = ""  # line_edits | unified_diff | function | file | snippet
    problem: str = ""  # why no fix could be used (fed back to the model)

    def to_json(self) -> dict:
        return {"lines": self.lines, "classes": self.classes, "fix_format": self.fix_format,
                "fixed": self.fixed is not None, "problem": self.problem}


def parse_reply(reply: str, text: str, known_classes: list[str]) -> Reply:
    """Read localization, classes and a fix of ``text`` (the shown file) out of ``reply``."""
    out = Reply(lines=_lines(reply, text), classes=_classes(reply, known_classes))
    for name, fn in (("unified_diff", _apply_unified_diff), ("line_edits", _apply_line_edits),
                     ("file", _replace_file), ("function", _replace_functions), ("snippet", _replace_snippet)):
        try:
            fixed = fn(reply, text)
        except (ValueError, IndexError):
            fixed = None
        if fixed is not None and _norm(fixed) != _norm(text):
            out.fixed, out.fix_format = fixed, name
            return out
    out.problem = ("no fix found in the answer; give FIX: lines as '<line number>: <corrected line>'"
                   if not _FENCE.search(reply) and "FIX" not in reply.upper() else
                   "the proposed fix does not change the code")
    return out


# ------------------------------------------------------------------ localization and class
def _lines(reply: str, text: str) -> list[int]:
    n = text.count("\n") + 1
    m = re.search(r"LINES?\s*[:=]\s*([^\n]*)", reply, re.I)
    cands = [int(x) for x in re.findall(r"\d+", m.group(1))] if m else []
    if not cands:  # "the bug is on line 12"
        cands = [int(x) for x in re.findall(r"\blines?\s+(\d+)", reply, re.I)]
    if not cands:  # the first edited lines of a FIX section
        fix = _section(reply, "FIX")
        cands = [int(mm.group(1)) for l in (fix or "").splitlines() if (mm := _NUMBERED.match(l))][:3]
    return list(dict.fromkeys(c for c in cands if 1 <= c <= n))


def _classes(reply: str, known: list[str]) -> list[str]:
    m = re.search(r"CLASS(?:ES)?\s*[:=]\s*([^\n]*)", reply, re.I)
    words = re.findall(r"[A-Za-z]+", m.group(1)) if m else []
    found = [w.upper() for w in words if w.upper() in known]
    if not found:  # any class code written as a word anywhere (codes are upper case in the prompt)
        found = [w for w in re.findall(r"\b[A-Z]{3,7}\b", reply) if w in known]
    return list(dict.fromkeys(found))[:2]


def _section(reply: str, name: str) -> str | None:
    m = re.search(rf"^\W*{name}\W*:?[ \t]*\n?(.*)", reply, re.I | re.S | re.M)
    return m.group(1) if m else None


def _norm(s: str) -> str:
    return " ".join(s.split())


# ------------------------------------------------------------------ fix formats
def _apply_line_edits(reply: str, text: str) -> str | None:
    """``12: new code`` lines (inside or outside a fence) replace line 12; ``12:`` alone deletes it."""
    body = _section(reply, "FIX")
    if body is None:
        return None
    body = "\n".join(f.group(1) for f in _FENCE.finditer(body)) or body
    lines = text.split("\n")
    edits: dict[int, str] = {}
    for raw in body.splitlines():
        m = _NUMBERED.match(raw)
        if m and 1 <= int(m.group(1)) <= len(lines):
            edits[int(m.group(1))] = m.group(2).rstrip()
    if not edits:
        return None
    out = []
    for i, old in enumerate(lines, 1):
        if i not in edits:
            out.append(old)
        elif edits[i].strip():
            indent = old[: len(old) - len(old.lstrip())]
            out.append(indent + edits[i].lstrip())
    return "\n".join(out)


def _apply_unified_diff(reply: str, text: str) -> str | None:
    """Apply ``@@`` hunks by content: each hunk's old lines are found in the text (whitespace-
    insensitively; the occurrence nearest its stated line wins), so wrong numbers do not matter."""
    if "@@" not in reply:
        return None
    hunks, cur = [], None
    for raw in reply.splitlines():
        if raw.startswith("@@"):
            m = re.search(r"-(\d+)", raw)
            cur = {"at": int(m.group(1)) if m else 1, "old": [], "new": []}
            hunks.append(cur)
        elif raw.startswith("```"):
            cur = None  # the end of the fenced diff: prose after it is no context
        elif raw.startswith(("---", "+++", "diff ", "index ")) or cur is None:
            continue
        elif raw.startswith("-"):
            cur["old"].append(raw[1:])
        elif raw.startswith("+"):
            cur["new"].append(raw[1:])
        else:  # context line, with or without its leading space
            line = raw[1:] if raw.startswith(" ") else raw
            cur["old"].append(line)
            cur["new"].append(line)
    lines = text.split("\n")
    placed = []
    for h in hunks:
        while h["old"] and h["new"] and not h["old"][-1].strip() and not h["new"][-1].strip():
            h["old"].pop(), h["new"].pop()  # trailing blank lines the model added
        k = len(h["old"])
        if k == 0:
            placed.append((min(h["at"], len(lines)), 0, h["new"]))
            continue
        want = [_norm(l) for l in h["old"]]
        starts = [i for i in range(len(lines) - k + 1) if [_norm(l) for l in lines[i:i + k]] == want]
        if not starts:
            raise ValueError("hunk context not found")
        start = min(starts, key=lambda i: abs(i + 1 - h["at"]))
        placed.append((start, k, h["new"]))
    for start, k, new in sorted(placed, reverse=True):
        lines[start:start + k] = new
    return "\n".join(lines)


def _code_blocks(reply: str) -> list[str]:
    blocks = []
    for m in _FENCE.finditer(reply):
        body = m.group(1).rstrip("\n")
        ls = body.split("\n")
        if ls and all(_LISTING.match(l) or not l.strip() for l in ls):  # strip echoed line numbers
            body = "\n".join(_LISTING.sub("", l, count=1) for l in ls)
        if body.strip():
            blocks.append(body)
    return blocks


def _functions(code: str) -> dict[str, tuple[int, int]]:
    """Function name -> byte span of its definition (tree-sitter, same parser as the mutators)."""
    from ..dataset.mutate.core import Source

    src = Source(code)
    out = {}
    for fn in src.functions():
        d = fn.child_by_field_name("declarator")
        ident = d and (d.child_by_field_name("declarator") or d)
        if ident is not None:
            out[src.t(ident).split("::")[-1]] = (fn.start_byte, fn.end_byte)
    return out


def _replace_functions(reply: str, text: str) -> str | None:
    """A code block holding whole function definitions replaces the functions of the same name."""
    data = text.encode()
    mine = _functions(text)
    for block in _code_blocks(reply):
        theirs = _functions(block)
        common = [n for n in theirs if n in mine]
        if not common:
            continue
        bdata = block.encode()
        out = data
        for name in sorted(common, key=lambda n: mine[n][0], reverse=True):
            s, e = mine[name]
            bs, be = theirs[name]
            out = out[:s] + bdata[bs:be] + out[e:]
        return out.decode()
    return None


def _replace_file(reply: str, text: str) -> str | None:
    """A code block that defines every function of the file (and its includes) is the whole file."""
    mine = set(_functions(text))
    for block in _code_blocks(reply):
        if mine and mine <= set(_functions(block)):
            if "#include" in text and "#include" not in block:
                continue  # only some functions: handled by _replace_functions
            return block + "\n" if text.endswith("\n") and not block.endswith("\n") else block
    return None


def _replace_snippet(reply: str, text: str) -> str | None:
    """A short code block that resembles a window of the file replaces the most similar window."""
    lines = text.split("\n")
    for block in _code_blocks(reply):
        new = block.split("\n")
        k = len(new)
        if k > max(1, len(lines) // 2):
            continue
        target = _norm(block)
        best, best_i = 0.0, -1
        for i in range(len(lines) - k + 1):
            r = difflib.SequenceMatcher(None, _norm("\n".join(lines[i:i + k])), target).ratio()
            if r > best:
                best, best_i = r, i
        if best >= 0.6 and best < 1.0:
            return "\n".join(lines[:best_i] + new + lines[best_i + k:])
    return None
