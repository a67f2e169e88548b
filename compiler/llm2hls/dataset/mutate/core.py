"""Parsing, edits with exact spans, and the rule registry.

A rule looks at a parsed kernel and returns every place it could inject its bug (candidates, in
source order); the engine picks among them with a seeded ``random.Random``, so the same seed
always gives the same mutant. Edits are byte ranges on the original text; spans are reported as
1-based lines and 0-based columns of both the original and the mutated text.
"""

from __future__ import annotations

import difflib
import functools
import re
from dataclasses import dataclass, field

import tree_sitter_cpp
from tree_sitter import Language, Node, Parser


@functools.lru_cache(maxsize=1)
def _parser() -> Parser:
    return Parser(Language(tree_sitter_cpp.language()))


@dataclass(frozen=True)
class Edit:
    start: int  # byte offsets into the original text
    end: int
    new: str


@dataclass
class Mutation:
    cls: str
    file: str
    edits: list[Edit]
    note: str  # what the mutation did, in words


class Source:
    """A parsed C++ file with the small queries the rules need."""

    def __init__(self, text: str, path: str = "src/kernel.cpp") -> None:
        self.text, self.path = text, path
        self.data = text.encode()
        self.tree = _parser().parse(self.data)
        self.root = self.tree.root_node

    def t(self, node: Node) -> str:
        return self.data[node.start_byte:node.end_byte].decode()

    def nodes(self, *types: str, under: Node | None = None) -> list[Node]:
        """All nodes of the given types in source order."""
        out, stack = [], [under or self.root]
        while stack:
            n = stack.pop()
            if n.type in types:
                out.append(n)
            stack.extend(reversed(n.children))
        return out

    def loops(self, under: Node | None = None) -> list[Node]:
        return self.nodes("for_statement", "while_statement", under=under)

    def loop_body(self, loop: Node) -> Node | None:
        return loop.child_by_field_name("body")

    def pragmas(self, under: Node | None = None) -> list[tuple[Node, dict]]:
        """``#pragma HLS`` lines with their parsed fields (``directive``, options, bare flags)."""
        out = []
        for n in self.nodes("preproc_call", under=under):
            m = re.match(r"#pragma\s+HLS\s+(\w+)(.*)", self.t(n).strip(), re.I)
            if m:
                fields = {"directive": m.group(1).upper()}
                for tok in m.group(2).split():
                    k, _, v = tok.partition("=")
                    fields[k.lower()] = v if v else True
                out.append((n, fields))
        return out

    def loop_pragmas(self, loop: Node) -> list[dict]:
        """Pragmas written directly in the body of ``loop`` (not in nested loops)."""
        body = self.loop_body(loop)
        if body is None:
            return []
        return [f for n, f in self.pragmas(body) if self.enclosing_loop(n) == loop]

    def enclosing_loop(self, node: Node) -> Node | None:
        p = node.parent
        while p is not None and p.type not in ("for_statement", "while_statement"):
            p = p.parent
        return p

    def enclosing_function(self, node: Node) -> Node | None:
        p = node.parent
        while p is not None and p.type != "function_definition":
            p = p.parent
        return p

    def line_start(self, node: Node) -> int:
        """Byte offset of the start of the line holding ``node``."""
        return self.data.rfind(b"\n", 0, node.start_byte) + 1

    def indent_of(self, node: Node) -> str:
        ls = self.line_start(node)
        return self.data[ls:node.start_byte].decode() if self.data[ls:node.start_byte].strip() == b"" else ""

    def functions(self) -> list[Node]:
        return self.nodes("function_definition")

    def params(self, fn: Node) -> dict[str, Node]:
        """Parameter name -> its declarator node (array_declarator, reference_declarator or identifier)."""
        out = {}
        plist = fn.child_by_field_name("declarator").child_by_field_name("parameters")
        for p in plist.named_children:
            d = p.child_by_field_name("declarator")
            if d is None:
                continue
            ident = self.nodes("identifier", under=d)
            if ident:
                out[self.t(ident[0])] = d
        return out


def replace(src: Source, node: Node, new: str) -> Edit:
    return Edit(node.start_byte, node.end_byte, new)


def apply_edits(text: str, edits: list[Edit]) -> str:
    data = text.encode()
    for e in sorted(edits, key=lambda e: e.start, reverse=True):
        data = data[:e.start] + e.new.encode() + data[e.end:]
    return data.decode()


def _pos(data: bytes, off: int) -> tuple[int, int]:
    line = data.count(b"\n", 0, off) + 1
    col = off - (data.rfind(b"\n", 0, off) + 1)
    return line, col


def bug_spans(text: str, mut: Mutation) -> list[dict]:
    """One entry per edit: original and mutated line/column spans and texts."""
    data = text.encode()
    out, shift = [], 0
    for e in sorted(mut.edits, key=lambda e: e.start):
        new_start = e.start + shift
        new_data = apply_edits(text, mut.edits).encode()
        (l0, c0), (l1, c1) = _pos(data, e.start), _pos(data, e.end)
        (m0, d0), (m1, d1) = _pos(new_data, new_start), _pos(new_data, new_start + len(e.new.encode()))
        out.append({"class": mut.cls, "file": mut.file, "line": l0, "end_line": l1, "col": c0, "end_col": c1,
                    "mutated_line": m0, "mutated_end_line": m1, "mutated_col": d0, "mutated_end_col": d1,
                    "original": data[e.start:e.end].decode(), "mutated": e.new, "note": mut.note})
        shift += len(e.new.encode()) - (e.end - e.start)
    return out


def edits_from_spans(text: str, bugs: list[dict]) -> list[Edit]:
    """The edits that ``bug_spans`` entries describe (by their original spans), so a record's bugs
    can be applied again to the base text, e.g. one bug of a pair on its own."""
    data = text.encode()
    starts = [0] + [i + 1 for i, byte in enumerate(data) if byte == 10]
    return [Edit(starts[b["line"] - 1] + b["col"], starts[b["end_line"] - 1] + b["end_col"], b["mutated"])
            for b in bugs]


def apply_mutation(text: str, mut: Mutation) -> str:
    return apply_edits(text, mut.edits)


def unified_diff(path: str, old: str, new: str) -> str:
    return "".join(difflib.unified_diff(old.splitlines(True), new.splitlines(True), f"a/{path}", f"b/{path}"))


class Rule:
    """A bug class. Subclasses set ``cls`` (code), ``verdict_kind`` (``exec`` or ``static``) and
    implement :meth:`candidates`; their docstring says what the bug is."""

    cls: str = ""
    verdict_kind: str = "exec"

    def candidates(self, src: Source) -> list[Mutation]:
        raise NotImplementedError

    def mut(self, src: Source, edits: list[Edit], note: str) -> Mutation:
        return Mutation(self.cls, src.path, edits, note)


_REGISTRY: dict[str, Rule] = {}


def register(rule_cls: type[Rule]) -> type[Rule]:
    _REGISTRY[rule_cls.cls] = rule_cls()
    return rule_cls


def rules_for(classes: list[str] | None = None) -> dict[str, Rule]:
    from . import rules_code, rules_llm, rules_pragma  # noqa: F401  (registration)

    if classes:
        unknown = [c for c in classes if c not in _REGISTRY]
        if unknown:
            from ...errors import UserError

            raise UserError(f"unknown bug class(es) {', '.join(unknown)}; choose from {', '.join(_REGISTRY)}")
        return {c: _REGISTRY[c] for c in classes}
    return {c: _REGISTRY[c] for c in BUG_CLASSES}


BUG_CLASSES = ["OOB", "INIT", "SHFT", "INF", "USE", "MLU", "ZERO", "BUF", "APT", "FND", "DID", "DFP", "IDAP",
               "RAMB", "SMA", "AMS", "MLP", "ILNU", "NARROW", "QMODE", "SCNT", "FIFO", "MASK", "NOMAX",
               "NOSCALE", "ACCRST"]
