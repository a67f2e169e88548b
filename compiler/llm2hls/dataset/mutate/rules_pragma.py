"""Pragma and interface bug classes of Chrysalis (revealed by synthesis, checked statically)."""

from __future__ import annotations

import re

from .core import Edit, Mutation, Rule, Source, register


def _sub(src: Source, node, pattern: str, new: str) -> Edit | None:
    """Replace the first ``pattern`` match inside the pragma ``node`` text."""
    text = src.t(node)
    m = re.search(pattern, text)
    if not m:
        return None
    start = node.start_byte + len(text[:m.start()].encode())
    return Edit(start, start + len(m.group(0).encode()), new)


def _insert_line(src: Source, block, line: str) -> Edit:
    """Insert ``line`` as the first line inside the compound statement ``block``."""
    return Edit(block.start_byte + 1, block.start_byte + 1, "\n" + line)


class _Static(Rule):
    verdict_kind = "static"


@register
class APT(_Static):
    """Wrong ARRAY_PARTITION type: ``cyclic`` <-> ``block`` (same factor), so accesses made in the
    same cycle land in the same bank."""

    cls = "APT"

    def candidates(self, src: Source) -> list[Mutation]:
        out = []
        for n, f in src.pragmas():
            if f["directive"] == "ARRAY_PARTITION":
                for a, b in (("cyclic", "block"), ("block", "cyclic"), ("complete", "block factor=2")):
                    e = _sub(src, n, rf"\b{a}\b", b)
                    if e and f.get(a):
                        out.append(self.mut(src, [e], f"partition of '{f.get('variable')}' {a} -> {b}"))
        return out


@register
class FND(_Static):
    """Partition factor that does not divide the array dimension (factor F -> F + 1)."""

    cls = "FND"

    def candidates(self, src: Source) -> list[Mutation]:
        out = []
        for n, f in src.pragmas():
            if f["directive"] == "ARRAY_PARTITION" and "factor" in f:
                new = int(f["factor"]) + 1
                out.append(self.mut(src, [_sub(src, n, r"factor=\d+", f"factor={new}")],
                                    f"partition factor of '{f.get('variable')}' {f['factor']} -> {new}"))
        return out


@register
class DID(_Static):
    """Wrong ARRAY_PARTITION dimension: ``dim=d`` -> a neighbouring dimension."""

    cls = "DID"

    def candidates(self, src: Source) -> list[Mutation]:
        out = []
        for n, f in src.pragmas():
            if f["directive"] == "ARRAY_PARTITION" and "dim" in f and f["dim"] != "0":
                d = int(f["dim"])
                for nd in (d + 1, d - 1):
                    if nd >= 1:
                        out.append(self.mut(src, [_sub(src, n, r"dim=\d+", f"dim={nd}")],
                                            f"partition dim of '{f.get('variable')}' {d} -> {nd}"))
        return out


@register
class DFP(_Static):
    """Misplaced DATAFLOW: the pragma is moved to (or written in) a region that is not a sequence of
    function calls, e.g. the body of a loop that computes."""

    cls = "DFP"

    def candidates(self, src: Source) -> list[Mutation]:
        out, existing = [], [n for n, f in src.pragmas() if f["directive"] == "DATAFLOW"]
        for loop in src.nodes("for_statement"):
            body = src.loop_body(loop)
            if body is None or body.type != "compound_statement":
                continue
            ins = _insert_line(src, body, "#pragma HLS DATAFLOW")
            cut = [Edit(src.line_start(n), n.end_byte, "") for n in existing[:1]]
            out.append(self.mut(src, cut + [ins], f"DATAFLOW placed in the loop at line {loop.start_point[0] + 1}"))
        return out


def _interface_rule(cls_name: str, doc: str, want_array: bool, modes: tuple[str, ...]):
    def candidates(self, src: Source) -> list[Mutation]:
        out = []
        for fn in src.functions():
            params = src.params(fn)
            for n, f in src.pragmas(fn):
                port = f.get("port")
                if f["directive"] != "INTERFACE" or port not in params:
                    continue
                if (params[port].type == "array_declarator") != want_array or "stream" in src.t(params[port].parent):
                    continue
                for m in modes:
                    if str(f.get("mode", "")).lower() != m:
                        out.append(self.mut(src, [_sub(src, n, r"mode=\w+", f"mode={m}")],
                                            f"interface of '{port}' {f.get('mode')} -> {m}"))
        return out

    return type(cls_name, (_Static,), {"__doc__": doc, "cls": cls_name, "candidates": candidates})


IDAP = register(_interface_rule("IDAP", "Interface mode that does not fit the access pattern: an array port "
                                "accessed at random or several times becomes ``ap_fifo``.", True, ("ap_fifo",)))
SMA = register(_interface_rule("SMA", "Scalar mapped to an array interface: a scalar port gets "
                               "``mode=ap_memory`` or ``mode=m_axi``.", False, ("ap_memory", "m_axi")))
AMS = register(_interface_rule("AMS", "Array mapped to a scalar interface: an array port gets "
                               "``mode=ap_none`` or ``mode=ap_vld``.", True, ("ap_none", "ap_vld")))


@register
class RAMB(_Static):
    """Non-burst random m_axi access: reads that went to the on-chip copy of an m_axi array go to
    the m_axi port itself at data-dependent addresses, or a randomly indexed array becomes m_axi."""

    cls = "RAMB"

    def candidates(self, src: Source) -> list[Mutation]:
        out = []
        for fn in src.functions():
            params, body = src.params(fn), fn.child_by_field_name("body")
            maxi = {f["port"] for _, f in src.pragmas(fn) if f["directive"] == "INTERFACE" and f.get("mode") == "m_axi"}
            for a in src.nodes("assignment_expression", under=body):
                l, r = a.child_by_field_name("left"), a.child_by_field_name("right")
                if l.type == "subscript_expression" and r.type == "subscript_expression" \
                        and src.t(r.child_by_field_name("argument")) in maxi:
                    local, port = src.t(l.child_by_field_name("argument")), src.t(r.child_by_field_name("argument"))
                    for s in src.nodes("subscript_expression", under=body):
                        if src.t(s.child_by_field_name("argument")) == local and s.start_byte != l.start_byte \
                                and src.nodes("subscript_expression", under=s.child_by_field_name("indices")):
                            arg = s.child_by_field_name("argument")
                            out.append(self.mut(src, [Edit(arg.start_byte, arg.end_byte, port)],
                                                f"'{src.t(s)}' reads m_axi port '{port}' directly"))
            for n, f in src.pragmas(fn):
                port = f.get("port")
                if f["directive"] == "INTERFACE" and port in params and f.get("mode") != "m_axi" and \
                        params[port].type == "array_declarator":
                    out.append(self.mut(src, [_sub(src, n, r"mode=\w+", "mode=m_axi")], f"interface of '{port}' -> m_axi"))
        return out


@register
class MLP(_Static):
    """Nested pipeline: PIPELINE is added to a loop that encloses an already pipelined loop."""

    cls = "MLP"

    def candidates(self, src: Source) -> list[Mutation]:
        out = []
        for loop in src.loops():
            body = src.loop_body(loop)
            if body is None or body.type != "compound_statement" or any(f["directive"] == "PIPELINE" for f in src.loop_pragmas(loop)):
                continue
            if any(any(f["directive"] == "PIPELINE" for f in src.loop_pragmas(l)) for l in src.loops(body)):
                out.append(self.mut(src, [_insert_line(src, body, "#pragma HLS PIPELINE II=1")],
                                    f"PIPELINE added to the outer loop at line {loop.start_point[0] + 1}"))
        return out


@register
class ILNU(_Static):
    """Unroll with inner loops not fully unrolled: UNROLL is added to a loop whose inner loop stays
    rolled (outside any pipeline)."""

    cls = "ILNU"

    def candidates(self, src: Source) -> list[Mutation]:
        out = []
        for loop in src.loops():
            body = src.loop_body(loop)
            if body is None or body.type != "compound_statement" or src.loop_pragmas(loop):
                continue
            if src.loops(body):
                out.append(self.mut(src, [_insert_line(src, body, "#pragma HLS UNROLL")],
                                    f"UNROLL added to the loop at line {loop.start_point[0] + 1}"))
        return out


@register
class FIFO(_Static):
    """FIFO too shallow: a STREAM depth is cut (to 1 or a quarter), below what the dataflow needs."""

    cls = "FIFO"

    def candidates(self, src: Source) -> list[Mutation]:
        out = []
        for n, f in src.pragmas():
            if f["directive"] == "STREAM" and "depth" in f:
                d = int(f["depth"])
                for nd in sorted({1, max(1, d // 4)}):
                    if nd < d:
                        out.append(self.mut(src, [_sub(src, n, r"depth=\d+", f"depth={nd}")],
                                            f"depth of '{f.get('variable')}' {d} -> {nd}"))
        return out
