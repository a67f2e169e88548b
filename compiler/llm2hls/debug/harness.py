"""Find and run the harness of a kernel being debugged (the dataset engine does the building).

``--harness`` names one of:

* a base design JSON file (``DATASET/bases/<id>.json`` of an ``llm2hls dataset``), or a folder
  holding exactly one such file (``design.json`` preferred);
* an HLS project written by ``llm2hls compile`` (``report.json``, ``src/``, ``tb/``), whose
  testbench and golden data become the harness.

A candidate passes when vector 0 (the harness) passes and the kernel breaks no static rule
(partition factors, interfaces, DATAFLOW regions, FIFO depths: bugs only synthesis shows).
For a dataset record, vector 0 is the record's failing vector (``verdict.vector``; the items put it
first, ``dataset.items.failing_first``), so a bug that shows only on an extra random vector is seen
failing. The other vectors are not used here; ``dataset evaluate`` runs them all.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from ..dataset.base import BaseDesign
from ..dataset.harness import Unstable, run_design
from ..dataset.static_check import check
from ..dataset.toolchain import Builder
from ..errors import UserError


@dataclass
class Evidence:
    """Outcome of one harness run of a candidate kernel, phrased for the model."""

    status: str  # pass | compile_error | sanitizer | timeout | crash | mismatch | underflow | static_violation | unstable
    detail: str = ""

    @property
    def passed(self) -> bool:
        return self.status == "pass"

    def describe(self) -> str:
        """One paragraph telling the model what failed."""
        what = {"compile_error": "It does not compile", "sanitizer": "The sanitizer stops it",
                "timeout": "It hangs (killed by the time limit)", "crash": "It crashes",
                "mismatch": "Outputs differ from the golden values",
                "underflow": "It reads an hls::stream while it is empty (blocks forever in hardware)",
                "static_violation": "The testbench passes but synthesis would fail or misbehave"}
        if self.passed:
            return "The testbench passes."
        return f"{what.get(self.status, self.status)}: {self.detail}"

    def to_json(self) -> dict:
        return {"status": self.status, "detail": self.detail}


def default_cache() -> Path:
    """Build cache (precompiled header, testbench objects): ``$LLM2HLS_CACHE`` or ~/.cache/llm2hls."""
    return Path(os.environ.get("LLM2HLS_CACHE") or Path.home() / ".cache" / "llm2hls") / "build"


def load_harness(path: str | os.PathLike) -> BaseDesign:
    """The base design named by ``--harness`` (see the module docstring)."""
    p = Path(path)
    if not p.exists():
        raise UserError(f"harness {p} does not exist; pass a base design JSON (DATASET/bases/<id>.json) or an "
                        f"HLS project folder written by 'llm2hls compile'")
    if p.is_dir() and (p / "report.json").exists() and (p / "tb").is_dir():
        return _from_project(p)
    if p.is_dir():
        cands = [p / "design.json"] if (p / "design.json").exists() else sorted(p.glob("*.json"))
        if len(cands) != 1:
            raise UserError(f"harness folder {p} holds {len(cands)} JSON files; point --harness at one base "
                            f"design JSON file or put it in {p}/design.json")
        p = cands[0]
    try:
        return BaseDesign.from_json(json.loads(p.read_text()))
    except (json.JSONDecodeError, TypeError, UnicodeDecodeError) as e:
        raise UserError(f"harness {p} is not a base design JSON ({type(e).__name__}); use a file from "
                        f"DATASET/bases/ written by 'llm2hls dataset generate'")


def _from_project(project: Path) -> BaseDesign:
    from ..dataset.generated import design_from_project

    try:
        return design_from_project(project, None, {"source": "project"}, n_vectors=1)
    except (OSError, KeyError, AttributeError) as e:
        raise UserError(f"HLS project {project} is incomplete ({e}); re-create it with 'llm2hls compile'")


def target_file(design: BaseDesign, kernel: str | os.PathLike) -> str:
    """Which mutable file of ``design`` the user's kernel file stands for (matched by name)."""
    name = Path(kernel).name
    if len(design.mutable) == 1:
        return design.mutable[0]
    hits = [m for m in design.mutable if Path(m).name == name]
    if len(hits) != 1:
        raise UserError(f"cannot tell which kernel of harness {design.id} {name} is; it has "
                        f"{', '.join(design.mutable)}: name the file like one of them")
    return hits[0]


def run_candidate(design: BaseDesign, builder: Builder, files: dict[str, str]) -> Evidence:
    """Build and run the harness vector with ``files`` replacing the design's kernel files; if it
    passes, apply the static rules too."""
    try:
        out = run_design(design, builder, files, vectors=[0])
    except Unstable as e:
        return Evidence("unstable", str(e))
    if out.status != "pass":
        return Evidence(out.status, out.detail)
    viol = [v for path, text in files.items() for v in check(text, design.facts)]
    if viol:
        return Evidence("static_violation", "; ".join(f"line {v.line}: {v.message}" for v in viol))
    return Evidence("pass")
