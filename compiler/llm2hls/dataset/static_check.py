"""Static rule checker for bugs that only vendor synthesis or hardware reveals.

Each check returns violations that name the rule broken. A mutant of a pragma/interface class
gets a ``static_violation`` verdict only for violations that its base design does not have.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
from dataclasses import dataclass

from .mutate.core import Source

ARRAY_ONLY = {"ap_memory", "bram", "ap_fifo", "m_axi", "axis"}
SCALAR_ONLY = {"ap_none", "ap_vld", "ap_ack", "ap_hs", "ap_ovld", "ap_stable"}


@dataclass(frozen=True)
class Violation:
    rule: str  # the bug class whose rule is broken
    message: str
    line: int

    def to_json(self) -> dict:
        return {"rule": self.rule, "message": self.message, "line": self.line}


def _array_dims(src: Source) -> dict[str, list[int]]:
    dims = {}
    for d in src.nodes("array_declarator"):
        sizes, n = [], d
        while n.type == "array_declarator":
            s = n.child_by_field_name("size")
            sizes.insert(0, int(src.t(s)) if s is not None and src.t(s).isdigit() else -1)
            n = n.child_by_field_name("declarator")
        if n.type == "identifier" and d.parent.type != "array_declarator":
            dims[src.t(n)] = sizes
    return dims


def _partitions(src: Source) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for n, f in src.pragmas():
        if f["directive"] == "ARRAY_PARTITION" and "variable" in f:
            out.setdefault(f["variable"], []).append({**f, "line": n.start_point[0] + 1})
    return out


def _bank(idx: tuple, dims: list[int], parts: list[dict]) -> tuple:
    bank = []
    for p in parts:
        d = int(p.get("dim", 1))
        targets = range(len(dims)) if d == 0 else [d - 1]
        for k in targets:
            if k >= len(dims) or k >= len(idx):
                continue
            size, fac = dims[k], int(p.get("factor", 1) or 1)
            if p.get("complete"):
                bank.append((k, idx[k]))
            elif p.get("block"):
                bank.append((k, idx[k] // max(1, -(-size // fac))))
            else:
                bank.append((k, idx[k] % fac))
    return tuple(bank)


_SAFE = re.compile(r"^[\w\s+\-*/%()<>&|^]*$")


def _eval(expr: str, env: dict) -> int | None:
    if not _SAFE.match(expr):
        return None
    try:
        return int(eval(re.sub(r"(?<![/])/(?![/])", "//", expr), {"__builtins__": {}}, dict(env)))
    except Exception:  # unknown names, negative shifts...: not evaluable statically
        return None


def _loop_range(src: Source, loop) -> tuple[str, list[int]] | None:
    m = re.match(r"for\s*\(\s*int\s+(\w+)\s*=\s*(\d+)\s*;\s*\1\s*(<|<=)\s*(\d+)\s*;\s*\1(\+\+|\s*\+=\s*(\d+))",
                 src.t(loop))
    if not m:
        return None
    lo, hi = int(m.group(2)), int(m.group(4)) + (1 if m.group(3) == "<=" else 0)
    return m.group(1), list(range(lo, hi, int(m.group(6) or 1)))


def bank_conflicts(src: Source) -> list[Violation]:
    """Arrays read or written more than twice per cycle in the same bank of a pipelined loop
    (dual-port memories), i.e. the loop's II=1 is not achievable with that partitioning."""
    dims, parts, out = _array_dims(src), _partitions(src), []
    for loop in src.loops():
        if not any(f["directive"] == "PIPELINE" for f in src.loop_pragmas(loop)):
            continue
        inner = [r for r in (_loop_range(src, l) for l in src.loops(src.loop_body(loop))) if r]
        names = [v for v, _ in inner]
        accesses: dict[str, set] = {}
        for s in src.nodes("subscript_expression", under=src.loop_body(loop)):
            if s.parent.type == "subscript_expression":
                continue
            chain, n = [], s
            while n.type == "subscript_expression":
                chain.insert(0, src.t(n.child_by_field_name("indices"))[1:-1])
                n = n.child_by_field_name("argument")
            if n.type == "identifier" and src.t(n) in parts and src.t(n) in dims:
                accesses.setdefault(src.t(n), set()).add(tuple(chain))
        for arr, idxs in accesses.items():
            per_bank: dict[tuple, set] = {}
            for combo in itertools.product(*(vals for _, vals in inner)) if inner else [()]:
                env = {k: 1 for k in re.findall(r"[A-Za-z_]\w*", " ".join(" ".join(i) for i in idxs))}
                env.update(zip(names, combo))
                for chain in idxs:
                    idx = tuple(_eval(e, env) for e in chain)
                    if None in idx:
                        continue
                    per_bank.setdefault(_bank(idx, dims[arr], parts[arr]), set()).add(idx)
            worst = max(per_bank.items(), key=lambda kv: len(kv[1]), default=(None, set()))
            if len(worst[1]) > 2:
                desc = ", ".join(f"{arr}[{']['.join(map(str, i))}]" for i in sorted(worst[1])[:4])
                kinds = "; ".join(f"{p.get('complete') and 'complete' or p.get('block') and 'block' or 'cyclic'}"
                                  f" factor={p.get('factor', '-')} dim={p.get('dim', 1)}" for p in parts[arr])
                out.append(Violation("APT/DID", f"ARRAY_PARTITION of '{arr}' ({kinds}) puts {len(worst[1])} accesses "
                                     f"of one pipelined iteration ({desc}) in one dual-port bank: II=1 of loop at line "
                                     f"{loop.start_point[0] + 1} is not achievable", parts[arr][0]["line"]))
    return out


def check(text: str, facts: dict | None = None) -> list[Violation]:
    """All rule violations in kernel source ``text`` (with the design's static ``facts``)."""
    src, facts = Source(text), facts or {}
    out: list[Violation] = []
    dims = _array_dims(src)
    for n, f in src.pragmas():
        line, d = n.start_point[0] + 1, f["directive"]
        if d == "ARRAY_PARTITION" and f.get("variable") in dims:
            shape, dim = dims[f["variable"]], int(f.get("dim", 1))
            if dim > len(shape):
                out.append(Violation("DID", f"ARRAY_PARTITION dim={dim} on '{f['variable']}' exceeds its rank {len(shape)}", line))
            elif dim >= 1 and "factor" in f and shape[dim - 1] > 0 and shape[dim - 1] % int(f["factor"]):
                out.append(Violation("FND", f"ARRAY_PARTITION factor {f['factor']} does not divide dim {dim} of "
                                     f"'{f['variable']}' (size {shape[dim - 1]})", line))
        if d == "DATAFLOW":
            loop = src.enclosing_loop(n)
            fn = src.enclosing_function(n)
            body = loop and src.loop_body(loop) or (fn and fn.child_by_field_name("body"))
            bad = [c for c in (body.named_children if body else []) if c.type not in
                   ("declaration", "preproc_call", "comment") and not (c.type == "expression_statement" and
                                                                      c.named_children and c.named_children[0].type == "call_expression")]
            if bad:
                out.append(Violation("DFP", f"DATAFLOW region at line {line} contains a non-call statement at line "
                                     f"{bad[0].start_point[0] + 1} ('{src.t(bad[0]).splitlines()[0][:40]}'): "
                                     f"not a canonical dataflow region of function calls", line))
        if d == "STREAM" and "depth" in f:
            need = facts.get("fifo_min_depth", {}).get(f.get("variable"))
            if need is not None and int(f["depth"]) < need:
                why = facts.get("fifo_reason", {}).get(f["variable"], "")
                out.append(Violation("FIFO", f"STREAM depth={f['depth']} of '{f['variable']}' is below the {need} "
                                     f"it needs; {why} (the dataflow deadlocks)", line))
        if d == "PIPELINE" and (loop := src.enclosing_loop(n)) is not None:
            nested = [l for l in src.loops(src.loop_body(loop)) if any(g["directive"] == "PIPELINE" for g in src.loop_pragmas(l))]
            if nested:
                out.append(Violation("MLP", f"PIPELINE on loop at line {loop.start_point[0] + 1} encloses the pipelined "
                                     f"loop at line {nested[0].start_point[0] + 1} (nested pipeline)", line))
        if d == "UNROLL" and "factor" not in f and (loop := src.enclosing_loop(n)) is not None:
            inside_pipe = False
            p = src.enclosing_loop(loop)
            while p is not None:
                inside_pipe |= any(g["directive"] == "PIPELINE" for g in src.loop_pragmas(p))
                p = src.enclosing_loop(p)
            rolled = [l for l in src.loops(src.loop_body(loop)) if not any(g["directive"] in ("UNROLL", "PIPELINE")
                                                                        for g in src.loop_pragmas(l))]
            if rolled and not inside_pipe:
                out.append(Violation("ILNU", f"UNROLL on loop at line {loop.start_point[0] + 1} whose inner loop at "
                                     f"line {rolled[0].start_point[0] + 1} is not fully unrolled", line))
    for fn in src.functions():
        params = src.params(fn)
        for n, f in src.pragmas(fn):
            port, mode = f.get("port"), str(f.get("mode", "")).lower()
            if f["directive"] != "INTERFACE" or port not in params:
                continue
            line = n.start_point[0] + 1
            is_array = params[port].type == "array_declarator"
            if "stream" in src.t(params[port].parent):  # hls::stream ports: axis/ap_fifo are their modes
                continue
            if not is_array and mode in ARRAY_ONLY:
                out.append(Violation("SMA", f"INTERFACE mode={mode} (an array/memory interface) on scalar port '{port}'", line))
            if is_array and mode in SCALAR_ONLY:
                out.append(Violation("AMS", f"INTERFACE mode={mode} (a scalar interface) on array port '{port}'", line))
            uses = [s for s in src.nodes("subscript_expression", under=fn.child_by_field_name("body"))
                    if src.t(s.child_by_field_name("argument")) == port]
            if is_array and mode == "ap_fifo":
                seq = all(re.fullmatch(r"\[\s*\w+\s*\]", src.t(u.child_by_field_name("indices"))) for u in uses)
                if len(uses) != 1 or not seq:
                    out.append(Violation("IDAP", f"INTERFACE ap_fifo on '{port}' needs one sequential access, but it is "
                                         f"accessed as {', '.join(src.t(u) for u in uses[:3])}", line))
            if is_array and mode == "m_axi":
                rnd = [u for u in uses if src.nodes("subscript_expression", "call_expression",
                                                    under=u.child_by_field_name("indices"))]
                if rnd:
                    out.append(Violation("RAMB", f"m_axi port '{port}' accessed at a data-dependent address "
                                         f"'{src.t(rnd[0])}' (no burst; one random DDR access per element)", line))
    return out + bank_conflicts(src)


def new_violations(base_text: str, mutant_text: str, facts: dict | None = None) -> list[Violation]:
    """Violations of the mutant that its base design does not have (compared by rule + message)."""
    base = _base_violations(base_text, facts)
    return [v for v in check(mutant_text, facts) if (v.rule, re.sub(r"line \d+", "", v.message)) not in base]


_BASE_MEMO: dict[str, frozenset] = {}


def _base_violations(text: str, facts: dict | None) -> frozenset:
    """(rule, message) of a base design's own violations, memoised: planning compares many
    mutants of one base design (a multi-layer generated kernel costs ~0.4 s per ``check``)."""
    key = hashlib.sha1((text + json.dumps(facts or {}, sort_keys=True, default=str)).encode()).hexdigest()
    if key not in _BASE_MEMO:
        _BASE_MEMO[key] = frozenset((v.rule, re.sub(r"line \d+", "", v.message)) for v in check(text, facts))
    return _BASE_MEMO[key]
