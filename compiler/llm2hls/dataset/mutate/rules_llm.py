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


@register
class NOMAX(Rule):
    """Softmax without max-subtraction: the exponent argument ``max - x`` (or ``x - max``) loses the
    running-max term, so the table/exp is indexed by the raw score."""

    cls = "NOMAX"

    def candidates(self, src: Source) -> list[Mutation]:
        out = []
        for n in src.nodes("binary_expression"):
            if src.t(n.child_by_field_name("operator")) != "-":
                continue
            l, r = n.child_by_field_name("left"), n.child_by_field_name("right")
            for mx, other in ((l, r), (r, l)):
                if mx.type == "identifier" and re.search(r"max", src.t(mx), re.I):
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
    """Accumulator reset misplaced: the ``acc = 0`` that starts each outer iteration moves inside
    the inner accumulation loop (reset every step) or before the outer loop (never reset)."""

    cls = "ACCRST"

    def candidates(self, src: Source) -> list[Mutation]:
        out = []
        for st in src.nodes("expression_statement"):
            a = st.named_children[0] if st.named_children else None
            if a is None or a.type != "assignment_expression" or src.t(a.child_by_field_name("operator")) != "=" \
                    or src.t(a.child_by_field_name("right")) != "0":
                continue
            var, loop = src.t(a.child_by_field_name("left")), src.enclosing_loop(st)
            if loop is None:
                continue
            inner = [l for l in src.loops(src.loop_body(loop)) if l.start_byte > st.end_byte
                     and re.search(rf"\b{re.escape(var)}\s*\+=", src.t(l))]
            if not inner:
                continue
            line = src.data[src.line_start(st):st.end_byte + 1].decode()
            cut = Edit(src.line_start(st), st.end_byte + 1, "")
            ib = src.loop_body(inner[0])
            into = Edit(ib.start_byte + 1, ib.start_byte + 1, "\n" + line.rstrip("\n"))
            out.append(self.mut(src, [cut, into], f"reset of '{var}' moved into the inner loop"))
            outer = loop
            lab = outer.parent if outer.parent.type == "labeled_statement" else outer
            before = Edit(src.line_start(lab), src.line_start(lab), line)
            out.append(self.mut(src, [before, cut], f"reset of '{var}' hoisted out of its loop"))
        return out
