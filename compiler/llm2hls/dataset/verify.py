"""Give a mutant a label only with evidence: execution first, then the static rule checker."""

from __future__ import annotations

from .base import BaseDesign
from .harness import run_design
from .mutate.core import rules_for
from .static_check import new_violations
from .toolchain import Builder, tool_versions

EXEC_EVIDENCE = {"compile_error": "g++ build", "sanitizer": "run with -fsanitize=address,undefined",
                 "timeout": "run with a time limit", "mismatch": "output compare with the golden file",
                 "underflow": "hls::stream read while empty (blocks in hardware)", "crash": "run"}


def classify(design: BaseDesign, files: dict[str, str], classes: list[str], builder: Builder) -> dict:
    """Verdict for ``design`` with mutated ``files``: ``buggy`` (with evidence) or ``equivalent``."""
    out = run_design(design, builder, files)
    versions = tool_versions()
    if out.status != "pass":
        return {"label": "buggy", "kind": out.status, "method": EXEC_EVIDENCE[out.status],
                "vector": out.vector, "evidence": out.detail, "vectors_run": out.vectors_run, "tools": versions}
    rules = rules_for(classes)
    if any(r.verdict_kind == "static" for r in rules.values()):
        viol = []
        for path, text in files.items():
            viol += new_violations(design.files[path], text, design.facts)
        if viol:
            return {"label": "buggy", "kind": "static_violation", "method": "llm2hls static rule checker "
                    "(C simulation passes on all vectors; the bug shows in synthesis/hardware)",
                    "vector": None, "evidence": "; ".join(v.message for v in viol), "rules": [v.to_json() for v in viol],
                    "vectors_run": out.vectors_run, "tools": versions}
    return {"label": "equivalent", "kind": "equivalent", "method": f"harness and {out.vectors_run - 1} extra random "
            "vectors all pass; no static rule broken", "vector": None, "evidence": "",
            "vectors_run": out.vectors_run, "tools": versions}
