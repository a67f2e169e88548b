"""Bug classes of fixed-point streaming LLM kernels."""

from __future__ import annotations

import re

from .core import Edit, Mutation, Rule, Source, register, replace


def _tmpl_args(src: Source, n) -> list:
    args = n.child_by_field_name("arguments")
    return [a for a in args.named_children] if args is not None else []


@register
class NARROW(Rule):
    """Bit-width too narrow: an internal ``ap_fixed<W, I>`` / ``ap_int<W>`` loses 4 integer bits
    (same fraction bits), so large intermediate values overflow."""

    cls = "NARROW"

    def candidates(self, src: Source) -> list[Mutation]:
        out = []
        for n in src.nodes("template_type"):
            name = src.t(n.child_by_field_name("name"))
            args = _tmpl_args(src, n)
            if name in ("ap_fixed", "ap_ufixed") and len(args) >= 2 and all(a.type == "number_literal" for a in args[:2]):
                w, i = int(src.t(args[0])), int(src.t(args[1]))
                if i - 4 >= 1 and w - 4 >= 2:
                    out.append(self.mut(src, [replace(src, args[0], str(w - 4)), replace(src, args[1], str(i - 4))],
                                        f"{src.t(n)} narrowed by 4 integer bits"))
            elif name in ("ap_int", "ap_uint") and args and args[0].type == "number_literal" and int(src.t(args[0])) > 8:
                w = int(src.t(args[0]))
                out.append(self.mut(src, [replace(src, args[0], str(w // 2))], f"{src.t(n)} halved to {w // 2} bits"))
        return out


_Q = {"AP_RND": "AP_TRN", "AP_TRN": "AP_RND", "AP_SAT": "AP_WRAP", "AP_WRAP": "AP_SAT", "AP_RND_CONV": "AP_TRN"}


@register
class QMODE(Rule):
    """Wrong rounding or overflow mode: ``AP_RND`` <-> ``AP_TRN`` or ``AP_SAT`` <-> ``AP_WRAP`` on an
    internal fixed-point type (or the round/saturate modes added to one that truncates/wraps)."""

    cls = "QMODE"

    def candidates(self, src: Source) -> list[Mutation]:
        out = []
        for n in src.nodes("template_type"):
            if src.t(n.child_by_field_name("name")) not in ("ap_fixed", "ap_ufixed"):
                continue
            args = _tmpl_args(src, n)
            for a in args[2:4]:
                if src.t(a) in _Q:
                    out.append(self.mut(src, [replace(src, a, _Q[src.t(a)])], f"{src.t(a)} -> {_Q[src.t(a)]} in {src.t(n)}"))
            if len(args) == 2:
                out.append(self.mut(src, [Edit(args[1].end_byte, args[1].end_byte, ", AP_RND, AP_SAT")],
                                    f"{src.t(n)} given AP_RND, AP_SAT instead of truncate/wrap"))
        return out


@register
class SCNT(Rule):
    """Stream read/write count mismatch: a loop that reads or writes an ``hls::stream`` runs one
    iteration short, so a stream is left with data or its consumer reads it empty."""

    cls = "SCNT"

    def candidates(self, src: Source) -> list[Mutation]:
        out = []
        for loop in src.nodes("for_statement"):
            body, cond = src.loop_body(loop), loop.child_by_field_name("condition")
            if body is None or cond is None or cond.type != "binary_expression":
                continue
            direct = [c for c in src.nodes("call_expression", under=body) if src.enclosing_loop(c) == loop]
            if any(re.search(r"\.(read|write)$", src.t(c.child_by_field_name("function"))) for c in direct):
                r = cond.child_by_field_name("right")
                out.append(self.mut(src, [replace(src, r, f"{src.t(r)} - 1")], f"stream loop bound {src.t(r)} -> {src.t(r)} - 1"))
        return out


@register
class MASK(Rule):
    """Causal-mask off-by-one: the key/query position test ``j <= t`` becomes ``j < t`` (the token
    cannot attend to itself) or ``j <= t + 1`` (it sees one future token)."""

    cls = "MASK"

    def candidates(self, src: Source) -> list[Mutation]:
        out = []
        loopvars = {src.t(i) for l in src.nodes("for_statement") if l.child_by_field_name("initializer") is not None
                    for i in src.nodes("identifier", under=l.child_by_field_name("initializer"))[:1]}
        for n in src.nodes("binary_expression"):
            op = n.child_by_field_name("operator")
            l, r = n.child_by_field_name("left"), n.child_by_field_name("right")
            if src.t(op) == "<=" and l.type == "identifier" and r.type == "identifier" and src.t(l) in loopvars \
                    and n.parent.type != "for_statement":
                out.append(self.mut(src, [replace(src, op, "<")], f"causal mask '{src.t(n)}' excludes the diagonal"))
                out.append(self.mut(src, [replace(src, r, f"{src.t(r)} + 1")], f"causal mask '{src.t(n)}' admits one future key"))
        return out


def running_maxima(src: Source) -> set[str]:
    """Variables that hold a running maximum: named like one, updated by ``if (x > v) v = x;``
    (or ``x >= v``, ``v < x``), or assigned ``v = max(v, x)``."""
    out = {src.t(n) for n in src.nodes("identifier") if re.search(r"max", src.t(n), re.I)}
    for st in src.nodes("if_statement"):
        cond = src.nodes("binary_expression", under=st.child_by_field_name("condition"))
        if not cond:
            continue
        op, l, r = (src.t(cond[0].child_by_field_name(f)) for f in ("operator", "left", "right"))
        bigger, v = (l, r) if op in (">", ">=") else (r, l) if op in ("<", "<=") else (None, None)
        for a in src.nodes("assignment_expression", under=st.child_by_field_name("consequence")):
            if src.t(a.child_by_field_name("left")) == v and src.t(a.child_by_field_name("right")) == bigger:
                out.add(v)
    for a in src.nodes("assignment_expression"):
        right, v = a.child_by_field_name("right"), src.t(a.child_by_field_name("left"))
        if right.type == "call_expression" and re.search(r"max$", src.t(right.child_by_field_name("function"))) \
                and v in {src.t(x) for x in right.child_by_field_name("arguments").named_children}:
            out.add(v)
    return out


@register
class NOMAX(Rule):
    """Softmax without max-subtraction: the exponent argument ``max - x`` (or ``x - max``) loses the
    running-max term, so the table/exp is indexed by the raw score. The running max is found by
    its updates (``if (s > m) m = s;``), not only by its name."""

    cls = "NOMAX"

    def candidates(self, src: Source) -> list[Mutation]:
        out, maxima = [], running_maxima(src)
        for n in src.nodes("binary_expression"):
            if src.t(n.child_by_field_name("operator")) != "-":
                continue
            l, r = n.child_by_field_name("left"), n.child_by_field_name("right")
            for mx, other in ((l, r), (r, l)):
                if mx.type == "identifier" and src.t(mx) in maxima:
                    out.append(self.mut(src, [replace(src, n, src.t(other))], f"max subtraction dropped from '{src.t(n)}'"))
        return out


@register
class NOSCALE(Rule):
    """Missing 1/sqrt(d) scale: the attention score is no longer multiplied by the inverse square
    root of the head dimension."""

    cls = "NOSCALE"

    def candidates(self, src: Source) -> list[Mutation]:
        out = []
        for n in src.nodes("binary_expression"):
            if src.t(n.child_by_field_name("operator")) != "*":
                continue
            l, r = n.child_by_field_name("left"), n.child_by_field_name("right")
            for sc, other in ((r, l), (l, r)):
                if re.search(r"sqrt|scale", src.t(sc), re.I) and sc.type == "identifier":
                    out.append(self.mut(src, [replace(src, n, src.t(other))], f"scale '{src.t(sc)}' dropped"))
        return out


@register
class ACCRST(Rule):
    """Accumulator reset misplaced: the reset that starts each outer iteration (``acc = 0;``,
    ``T acc = 0;`` or a loop zeroing ``acc[c]``) moves inside the inner accumulation loop (reset
    every step) or before the outer loop (never reset)."""

    cls = "ACCRST"

    def candidates(self, src: Source) -> list[Mutation]:
        out = []
        for st in src.nodes("expression_statement", "declaration"):
            reset = _zero_reset(src, st)
            if reset is None:
                continue
            var, is_decl = reset
            base = re.match(r"\w+", var).group(0)
            unit = st
            loop = src.enclosing_loop(st)
            if not is_decl and var != base and loop is not None and _only_statement(src, loop, st):
                unit = loop.parent if loop.parent.type == "labeled_statement" else loop  # a zeroing loop
                loop = src.enclosing_loop(unit)
            if loop is None:
                continue
            adds = rf"\b{re.escape(base)}\s*(\[[^\]]*\]\s*)?\+=" if unit is not st else rf"\b{re.escape(var)}\s*\+="
            inner = [l for l in src.loops(src.loop_body(loop)) if l.start_byte > unit.end_byte and re.search(adds, src.t(l))]
            if not inner:
                continue
            end = src.data.find(b"\n", unit.end_byte) + 1 or len(src.data)  # with a trailing comment
            cut = Edit(src.line_start(unit), end, "")
            text = src.data[src.line_start(unit):end].decode()
            at, pad = _body_top(src, inner[0]), src.indent_of(inner[0]) + "    "
            if is_decl:  # keep the declaration; reset it again at every inner step
                out.append(self.mut(src, [Edit(at, at, f"\n{pad}{var} = 0;")],
                                    f"reset of '{var}' repeated inside the inner loop"))
            else:
                out.append(self.mut(src, [cut, Edit(at, at, "\n" + _reindent(text, pad).rstrip("\n"))],
                                    f"reset of '{var}' moved into the inner loop"))
            lab = loop.parent if loop.parent.type == "labeled_statement" else loop
            if _declarations(src, base, src.enclosing_function(st) if is_decl else lab) > int(is_decl):
                continue  # the hoisted reset would precede its declaration, or redeclare the name
            before = Edit(src.line_start(lab), src.line_start(lab), _reindent(text, src.indent_of(loop)))
            out.append(self.mut(src, [before, cut], f"reset of '{var}' hoisted out of its loop"))
        return out


def _zero_reset(src: Source, st) -> tuple[str, bool] | None:
    """(variable, is a declaration) if ``st`` is ``v = 0;`` / ``v[i] = 0;`` or ``T v = 0;``."""
    if st.type == "declaration":
        ds = [d for d in st.named_children if d.type == "init_declarator"]
        if len(ds) == 1 and src.t(ds[0].child_by_field_name("value")) == "0" \
                and ds[0].child_by_field_name("declarator").type == "identifier":
            return src.t(ds[0].child_by_field_name("declarator")), True
        return None
    a = st.named_children[0] if st.named_children else None
    if a is None or a.type != "assignment_expression" or src.t(a.child_by_field_name("operator")) != "=" \
            or src.t(a.child_by_field_name("right")) != "0":
        return None
    return src.t(a.child_by_field_name("left")), False


def _body_top(src: Source, loop) -> int:
    """Byte offset where a statement added first to ``loop``'s body goes: after its leading pragmas."""
    body = src.loop_body(loop)
    at = body.start_byte + 1
    for c in body.named_children:
        if c.type != "preproc_call":
            break
        at = c.end_byte - 1 if src.data[c.end_byte - 1:c.end_byte] == b"\n" else c.end_byte
    return at


def _only_statement(src: Source, loop, st) -> bool:
    """Whether ``st`` is the only statement of ``loop``'s body (pragmas aside)."""
    body = src.loop_body(loop)
    stmts = [c for c in (body.named_children if body.type == "compound_statement" else [body])
             if c.type not in ("preproc_call", "comment")]
    return stmts == [st]


def _declarations(src: Source, name: str, region) -> int:
    """How many declarations of ``name`` lie inside ``region``."""
    n = 0
    for decl in src.nodes("declaration", under=region):
        for d in decl.named_children:
            while d is not None and d.type != "identifier" and d.child_by_field_name("declarator") is not None:
                d = d.child_by_field_name("declarator")
            n += d is not None and d.type == "identifier" and src.t(d) == name
    return n


def _reindent(text: str, pad: str) -> str:
    """``text`` (whole lines) moved to indentation ``pad``; preprocessor lines stay at column 0."""
    lines = text.split("\n")
    first = lines[0][:len(lines[0]) - len(lines[0].lstrip())]
    return "\n".join(l if l.startswith("#") or not l.strip() else pad + (l[len(first):] if l.startswith(first) else l.lstrip())
                     for l in lines)
