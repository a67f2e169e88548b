"""Give a mutant a label only with evidence: execution first, then the static rule checker."""

from __future__ import annotations

import functools
import hashlib

from .base import BaseDesign
from .harness import run_design
from .mutate.core import rules_for
from .rtl_check import fifo_verdict
from .static_check import new_violations
from .toolchain import Builder, tool_versions

EXEC_EVIDENCE = {"compile_error": "g++ build", "sanitizer": "run with -fsanitize=address,undefined",
                 "timeout": "run with a time limit", "mismatch": "output compare with the golden file",
                 "underflow": "hls::stream read while empty (blocks in hardware)", "crash": "run"}
RTL_EVIDENCE = ("C simulation passes on all vectors (unbounded streams); cocotb + Verilator simulation of "
                "llm2hls's RTL of the design with the mutant's FIFO depths")


def classify(design: BaseDesign, files: dict[str, str], classes: list[str], builder: Builder) -> dict:
    """Verdict for ``design`` with mutated ``files``: ``buggy`` (with evidence) or ``equivalent``."""
    out = run_design(design, builder, files)
    versions = tool_versions()
    if out.status != "pass":
        return {"label": "buggy", "kind": out.status, "method": EXEC_EVIDENCE[out.status],
                "vector": out.vector, "evidence": out.detail, "vectors_run": out.vectors_run, "tools": versions}
    rtl = fifo_verdict(design, files, builder.cache)  # STREAM depths of a design with RTL facts
    if rtl and rtl["status"] in ("rtl_deadlock", "rtl_mismatch"):
        return {"label": "buggy", "kind": rtl["status"], "method": RTL_EVIDENCE,
                "vector": None, "evidence": rtl["detail"], "vectors_run": out.vectors_run,
                "tools": {**versions, **rtl_tools()}}
    rules = rules_for(classes)
    if any(r.verdict_kind == "static" for r in rules.values()):
        viol = []
        for path, text in files.items():
            viol += new_violations(design.files[path], text, design.facts)
        if rtl and rtl["status"] == "pass":  # cycle-accurate evidence beats the conservative FIFO rule
            viol = [v for v in viol if v.rule != "FIFO"]
        if viol:
            return {"label": "buggy", "kind": "static_violation", "method": "llm2hls static rule checker "
                    "(C simulation passes on all vectors; the bug shows in synthesis/hardware)",
                    "vector": None, "evidence": "; ".join(v.message for v in viol), "rules": [v.to_json() for v in viol],
                    "vectors_run": out.vectors_run, "tools": versions}
    method = f"harness and {out.vectors_run - 1} extra random vectors all pass; no static rule broken"
    if rtl and rtl["status"] == "pass":
        return {"label": "equivalent", "kind": "equivalent", "method": method + "; " + RTL_EVIDENCE + " passes",
                "vector": None, "evidence": rtl["detail"], "vectors_run": out.vectors_run,
                "tools": {**versions, **rtl_tools()}}
    return {"label": "equivalent", "kind": "equivalent", "method": method, "vector": None, "evidence": "",
            "vectors_run": out.vectors_run, "tools": versions}


@functools.lru_cache(maxsize=1)
def rtl_tools() -> dict:
    """Versions of the RTL simulation tools (cocotb, Verilator) and a hash of llm2hls's RTL templates
    (the operator library and the top/bench templates), which an RTL verdict depends on as much."""
    from importlib.metadata import version

    from ..backends.rtl.hdl import lib_dir

    h = hashlib.sha256()
    root = lib_dir().parent  # templates/rtl
    for f in sorted(p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        h.update(str(f.relative_to(root)).encode() + b"\0" + f.read_bytes())
    return {"cocotb": version("cocotb"), "verilator": version("verilator"), "llm2hls_rtl_sha256": h.hexdigest()[:16]}
