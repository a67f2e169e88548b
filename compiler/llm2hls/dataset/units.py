"""Compile a kernel file one function at a time, so a mutant rebuilds only what it changed.

A generated kernel holds ~20 stage functions in one file; compiling it whole with the sanitizers
costs ~15 s of CPU, while a mutation touches one function. A *unit* is the file with the bodies
of all external (non-static) functions but some blanked to ``;`` (plus the same newlines, so
line numbers and compiler messages stay those of the file): those functions become declarations.
The base design's one-function units are compiled once and cached. A mutant is compared with its
base top-level item by item (functions, typedefs, tables, static helpers); the changed items and,
transitively, every item that names one of them are *affected*; the mutant is built as one unit
keeping the bodies of the affected external functions, linked with the base units of the rest.
Unaffected functions do not mention anything that changed, so the program is the same set of
definitions a whole-file build gives, and so is the verdict.

Files are built whole when that argument does not hold: a file-scope variable that is not
``const`` (each unit would get its own copy), namespaces or ``extern "C"`` blocks, overloaded
names, or a mutant whose top-level structure differs from its base.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .mutate.core import Source

_IDENT = re.compile(r"[A-Za-z_]\w*")


@dataclass(frozen=True)
class Item:
    """One top-level piece of a file: its text, the names it defines, whether it is an external
    function (and then where its body sits inside ``text``)."""

    text: str
    names: frozenset[str]
    external: bool
    body: tuple[int, int] | None  # (start, end) of the body within ``text``


@dataclass(frozen=True)
class Layout:
    """A file cut into top-level items; ``text`` = gaps and items interleaved."""

    gaps: tuple[str, ...]  # text before item i (len(items) + 1 entries; the last one trails)
    items: tuple[Item, ...]

    @property
    def functions(self) -> dict[str, Item]:
        return {next(iter(it.names)): it for it in self.items if it.external}

    def unit(self, keep: set[str]) -> str:
        """The file with only the bodies of the external functions in ``keep``."""
        out = []
        for gap, it in zip(self.gaps, self.items):
            out.append(gap)
            if it.external and next(iter(it.names)) not in keep:
                a, b = it.body
                out.append(it.text[:a] + ";" + "\n" * it.text[a:b].count("\n") + it.text[b:])
            else:
                out.append(it.text)
        out.append(self.gaps[-1])
        return "".join(out)


def _declared(node) -> set[str]:
    """Names a declaration/definition introduces (following ``declarator`` fields down)."""
    names, d = set(), node
    for _ in range(8):
        nxt = d.child_by_field_name("declarator")
        if nxt is None:
            break
        d = nxt
    if d is not node and d.type in ("identifier", "type_identifier", "field_identifier", "qualified_identifier"):
        names.add(d.text.decode())
    return names


def layout(text: str, path: str) -> Layout | None:
    """Cut ``text`` into top-level items, or None when a unit build would not be exact (see module doc)."""
    src = Source(text, path)
    data = src.data
    gaps, items, pos = [], [], 0
    seen: set[str] = set()
    for n in src.root.named_children:
        if n.type in ("namespace_definition", "linkage_specification"):
            return None
        if n.type in ("comment", "preproc_include", "preproc_call", "preproc_def"):
            continue  # part of the gaps
        names = _declared(n)
        external, body = False, None
        if n.type == "function_definition":
            external = not any(c.type == "storage_class_specifier" for c in n.children)
            b = n.child_by_field_name("body")
            if b is None or not names:
                return None
            body = (len(data[n.start_byte:b.start_byte].decode()), len(data[n.start_byte:b.end_byte].decode()))
        elif n.type == "declaration":
            decl = n.child_by_field_name("declarator")
            is_var = decl is not None and decl.type != "function_declarator"
            if is_var and "const" not in src.t(n).split("=")[0]:
                return None  # mutable file-scope state
        if external and (names & seen):
            return None  # overloads
        seen |= names
        gaps.append(data[pos:n.start_byte].decode())
        items.append(Item(src.t(n), frozenset(names), external, body))
        pos = n.end_byte
    gaps.append(data[pos:].decode())
    return Layout(tuple(gaps), tuple(items))


def affected_functions(base: Layout, text: str, path: str) -> tuple[Layout, set[str]] | None:
    """(mutant layout, external functions to rebuild) for mutant ``text`` of ``base``, or None when
    it must be built whole (structure changed, or it cannot be cut)."""
    mut = layout(text, path)
    if mut is None or mut.gaps != base.gaps or len(mut.items) != len(base.items) or \
            any(a.names != b.names or a.external != b.external for a, b in zip(base.items, mut.items)):
        return None
    hit = {i for i, (a, b) in enumerate(zip(base.items, mut.items)) if a.text != b.text}
    if any(not mut.items[i].names for i in hit):
        return None  # something nameless changed: no way to tell who depends on it

    def spreads(i: int) -> bool:
        """Whether item i's change reaches its users: not for an external function whose body
        alone changed (its users see only its declaration)."""
        a, b = base.items[i], mut.items[i]
        return not b.external or a.text[:a.body[0]] + a.text[a.body[1]:] != b.text[:b.body[0]] + b.text[b.body[1]:]

    refs = [set(_IDENT.findall(it.text)) | set(_IDENT.findall(base.items[i].text)) for i, it in enumerate(mut.items)]
    todo = [i for i in hit if spreads(i)]
    while todo:  # close over "names something whose change spreads"
        names = set().union(*(mut.items[i].names for i in todo))
        todo = [i for i in range(len(mut.items)) if i not in hit and refs[i] & names]
        hit |= set(todo)
        todo = [i for i in todo if not mut.items[i].external]
    return mut, {next(iter(mut.items[i].names)) for i in hit if mut.items[i].external}
