"""Code bug classes of Chrysalis (behaviour visible in C simulation)."""

from __future__ import annotations

import re

from .core import Edit, Mutation, Rule, Source, register, replace


def _loop_var(src: Source, loop) -> str | None:
    init = loop.child_by_field_name("initializer")
    if init is None:
        return None
    ids = src.nodes("identifier", under=init)
    return src.t(ids[0]) if ids else None


@register
class OOB(Rule):
    """Out-of-bounds access: a loop bound ``i < N`` becomes ``i <= N`` (one iteration too many),
    where ``i`` indexes an array in the loop body."""

    cls = "OOB"

    def candidates(self, src: Source) -> list[Mutation]:
        out = []
        for loop in src.nodes("for_statement"):
            cond, var = loop.child_by_field_name("condition"), _loop_var(src, loop)
            body = src.loop_body(loop)
            if cond is None or var is None or cond.type != "binary_expression" or body is None:
                continue
            op = cond.child_by_field_name("operator")
            uses = any(var in re.findall(r"\w+", src.t(s.child_by_field_name("indices") or s))
                       for s in src.nodes("subscript_expression", under=body))
            if src.t(op) == "<" and uses:
                out.append(self.mut(src, [replace(src, op, "<=")], f"loop bound of '{var}' made inclusive"))
        return out


@register
class INIT(Rule):
    """Read of an uninitialised variable: the ``= value`` initialiser of a local variable is
    dropped, so its first read sees garbage (builds use pattern init, so garbage is repeatable)."""

    cls = "INIT"

    def candidates(self, src: Source) -> list[Mutation]:
        out = []
        for fn in src.functions():
            body = fn.child_by_field_name("body")
            for decl in src.nodes("declaration", under=body):
                if decl.parent.type == "for_statement":
                    continue
                for d in decl.children_by_field_name("declarator"):
                    v = d.child_by_field_name("value") if d.type == "init_declarator" else None
                    if v is not None and v.type != "argument_list" and "stream" not in src.t(decl):
                        name = d.child_by_field_name("declarator")
                        if name.type == "identifier" and "const" not in src.t(decl):
                            out.append(self.mut(src, [Edit(d.start_byte, d.end_byte, src.t(name))],
                                                f"initialiser of '{src.t(name)}' removed"))
        return out


@register
class SHFT(Rule):
    """Shift by an out-of-range amount: a shift count ``k`` becomes ``k + 32``, past the width of
    the (promoted int) operand."""

    cls = "SHFT"

    def candidates(self, src: Source) -> list[Mutation]:
        out = []
        for n in src.nodes("binary_expression", "assignment_expression"):
            op = n.child_by_field_name("operator")
            if src.t(op) in ("<<", ">>", "<<=", ">>="):
                rhs = n.child_by_field_name("right")
                out.append(self.mut(src, [replace(src, rhs, f"{src.t(rhs)} + 32")],
                                    f"shift amount {src.t(rhs)} raised by 32"))
        return out


@register
class INF(Rule):
    """Infinite loop: the update of a counted loop is dropped, so its condition never changes."""

    cls = "INF"

    def candidates(self, src: Source) -> list[Mutation]:
        out = []
        for loop in src.nodes("for_statement"):
            upd = loop.child_by_field_name("update")
            if upd is not None:
                out.append(self.mut(src, [replace(src, upd, "")], f"loop update '{src.t(upd)}' removed"))
        for loop in src.nodes("while_statement"):
            for st in src.nodes("expression_statement", under=src.loop_body(loop)):
                if src.nodes("update_expression", under=st):
                    out.append(self.mut(src, [replace(src, st, "")], f"loop counter update '{src.t(st)}' removed"))
        return out


_SIGNED = {"unsigned char": "char", "unsigned short": "short", "unsigned int": "int", "unsigned": "int"}


@register
class USE(Rule):
    """Unintended sign extension: an unsigned local type (``unsigned char``, ``ap_uint<W>``,
    ``ap_ufixed<W, I>``) becomes the signed type of the same width, so values with the top bit set
    turn negative when widened."""

    cls = "USE"

    def candidates(self, src: Source) -> list[Mutation]:
        out = []
        for n in src.nodes("sized_type_specifier", "template_type"):
            txt = src.t(n)
            if n.parent.type == "parameter_declaration":  # the interface must match kernel.h
                continue
            if n.type == "sized_type_specifier" and txt in _SIGNED:
                out.append(self.mut(src, [replace(src, n, _SIGNED[txt])], f"'{txt}' made signed"))
            elif n.type == "template_type" and txt.startswith(("ap_uint<", "ap_ufixed<")):
                signed = txt.replace("ap_uint<", "ap_int<", 1).replace("ap_ufixed<", "ap_fixed<", 1)
                out.append(self.mut(src, [replace(src, n, signed)], f"'{txt}' made signed"))
        return out


@register
class MLU(Rule):
    """Manual loop-unrolling error: in a loop stepping by K > 1 whose body handles ``x[i]`` ..
    ``x[i + K - 1]`` by hand, the step or one of the hand-written offsets is wrong."""

    cls = "MLU"

    def candidates(self, src: Source) -> list[Mutation]:
        out = []
        for loop in src.nodes("for_statement"):
            upd, var = loop.child_by_field_name("update"), _loop_var(src, loop)
            m = re.fullmatch(r"\s*(\w+)\s*\+=\s*(\d+)\s*", src.t(upd)) if upd is not None else None
            if not m or int(m.group(2)) < 2:
                continue
            step = int(m.group(2))
            body = src.loop_body(loop)
            offs = [s for s in src.nodes("binary_expression", under=body)
                    if re.fullmatch(rf"{var}\s*\+\s*\d+", src.t(s))]
            if any(src.t(o).endswith(str(step - 1)) for o in offs):  # hand-unrolled copies exist
                lit = upd.child_by_field_name("right")
                out.append(self.mut(src, [replace(src, lit, str(step + 1))], f"unrolled step {step} -> {step + 1}"))
                for o in offs:
                    out.append(self.mut(src, [replace(src, o, var)], f"unrolled copy '{src.t(o)}' indexes '{var}'"))
        return out


@register
class ZERO(Rule):
    """Zero-initialised where a non-zero start value is needed (a running max/min start, a product,
    a constant scale): the initialiser becomes ``0``."""

    cls = "ZERO"

    def candidates(self, src: Source) -> list[Mutation]:
        out = []
        for d in src.nodes("init_declarator"):
            v = d.child_by_field_name("value")
            if v is None or v.type == "initializer_list" or src.t(v).strip() in ("0", "0.0", "false"):
                continue
            if d.parent.parent is not None and d.parent.parent.type == "for_statement":
                continue
            if v.type in ("number_literal", "unary_expression", "identifier"):
                out.append(self.mut(src, [replace(src, v, "0")], f"'{src.t(d.child_by_field_name('declarator'))}' "
                                                                 f"initialised to 0 instead of {src.t(v)}"))
        return out


@register
class BUF(Rule):
    """Copy from the wrong half of a split buffer: an access ``x[e + half]`` to the upper half
    reads or writes the lower half ``x[e]`` instead."""

    cls = "BUF"

    def candidates(self, src: Source) -> list[Mutation]:
        out = []
        for s in src.nodes("subscript_expression"):
            idx = s.child_by_field_name("indices")
            inner = idx.named_children[0] if idx is not None and idx.named_children else None
            if inner is not None and inner.type == "binary_expression" and src.t(inner.child_by_field_name("operator")) == "+":
                right = inner.child_by_field_name("right")
                if right.type == "identifier" and re.search(r"half|mid|off", src.t(right), re.I):
                    out.append(self.mut(src, [replace(src, inner, src.t(inner.child_by_field_name("left")))],
                                        f"'{src.t(s)}' accesses the lower half"))
        return out
