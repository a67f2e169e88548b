"""Build a base design (optionally with mutated files) and run its harness vectors in a sandbox."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .base import BaseDesign
from .toolchain import CXXFLAGS, Builder, ToolFailure, run_limited
from .units import Layout, affected_functions, layout

RUN_TIMEOUT = 4.0
STACK_SHIFT = 72
"""Every build runs twice, the second time with the stack moved by this many bytes; an outcome
that changes is not evidence (``Unstable``). Pattern-init cannot cover ap_int/ap_fixed locals, so
without this an INIT mutant's verdict could depend on stack contents."""
RUN_MEM = None  # sanitised runs are bounded by ASan's hard_rss_limit_mb (see toolchain)

class Unstable(ToolFailure):
    """Two runs of the same binary on the same vectors ended differently: no evidence either way."""


_SAN = re.compile(r"(ERROR: AddressSanitizer: [^\n]*|runtime error: [^\n]*|ERROR: LeakSanitizer[^\n]*)")


@dataclass
class Outcome:
    """Result of building and running a design on its vectors."""

    status: str  # pass | compile_error | sanitizer | timeout | crash | mismatch | underflow
    detail: str = ""
    vector: int | None = None  # index of the vector that failed
    vectors_run: int = 0

    def to_json(self) -> dict:
        return {"status": self.status, "detail": self.detail, "vector": self.vector,
                "vectors_run": self.vectors_run}


def _classify(rc: int | None, timed_out: bool, out: str, err: str) -> tuple[str, str]:
    if timed_out:
        return "timeout", f"killed after {RUN_TIMEOUT:g} s without finishing"
    m = _SAN.search(err)
    if m:
        return "sanitizer", m.group(1).strip()
    if "is read while empty" in err:
        line = next(l for l in err.splitlines() if "is read while empty" in l)
        return "underflow", line.strip()  # blocks forever in hardware
    mism = [l for l in out.splitlines() if l.lower().startswith("mismatch")]
    if rc not in (0, None) and mism:
        return "mismatch", "; ".join(mism[:3])[:500]
    if rc == 0:
        return "pass", ""
    return "crash", f"exit code {rc}: {(err or out).strip()[-300:]}"


def run_design(design: BaseDesign, builder: Builder, overrides: dict[str, str] | None = None,
               vectors: list[int] | None = None, workdir: Path | None = None) -> Outcome:
    """Build ``design`` with ``overrides`` in a private temp dir and run the selected vectors.

    Stops at the first failing vector. Runs everything twice (see STACK_SHIFT) and raises
    ``Unstable`` if the two runs disagree. The temp dir is removed afterwards whatever happens.
    """
    overrides = overrides or {}
    tmp = Path(tempfile.mkdtemp(prefix="mut-", dir=workdir))
    try:
        design.write(tmp, overrides)
        incs = [tmp / d for d in design.include_dirs]
        headers = "".join(design.files[k] for k in sorted(design.files) if not k.endswith(".cpp"))
        objs = []
        for src in design.sources:
            text = overrides.get(src, design.files[src])
            built = _objects(design, src, text, builder, tmp, incs, headers)
            if isinstance(built, Outcome):
                return built
            objs += built
        exe = tmp / "tb_bin"
        r = builder.link(objs, exe)
        if r.timed_out:
            raise ToolFailure(f"link of {design.id} timed out")
        if r.returncode != 0:
            return Outcome("compile_error", _first_error(r.stderr))
        idx = list(range(len(design.vectors))) if vectors is None else vectors
        first = _run_vectors(design, tmp, idx, shift=0)
        again = _run_vectors(design, tmp, idx, shift=STACK_SHIFT)
        if (again.status, again.vector) != (first.status, first.vector):
            raise Unstable(f"{design.id}: {_say(first)}, but {_say(again)} with the stack shifted by "
                           f"{STACK_SHIFT} bytes (the outcome depends on uninitialised memory)")
        return first
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _run_vectors(design: BaseDesign, tmp: Path, idx: list[int], shift: int) -> Outcome:
    """Run the built ``tmp/tb_bin`` on vectors ``idx`` up to the first failure, with the stack moved
    down by ``shift`` bytes (an environment variable of that size)."""
    cwd = tmp / design.run_cwd
    prog = os.path.join(os.path.relpath(tmp, cwd), "tb_bin")  # "./tb_bin": no temp path in argv
    env = {"L2H_STACK_SHIFT": "x" * shift} if shift else None
    for n, i in enumerate(idx):
        for rel, text in design.vectors[i].items():
            (tmp / rel).write_text(text)
        r = run_limited([prog, *design.run_args], cwd, RUN_TIMEOUT, RUN_MEM, env=env, fixed_layout=True)
        status, detail = _classify(r.returncode, r.timed_out, r.stdout, r.stderr)
        if status != "pass":
            return Outcome(status, detail, i, n + 1)
    return Outcome("pass", "", None, len(idx))


def _say(out: Outcome) -> str:
    return "passes" if out.status == "pass" else f"{out.status} at vector {out.vector}"


def _objects(design: BaseDesign, src: str, text: str, builder: Builder, tmp: Path, incs: list[Path],
             headers: str) -> list[Path] | Outcome:
    """Objects for translation unit ``src`` with contents ``text``: cached when unchanged; a mutable
    file that splits into function units (``units.py``) rebuilds only the unit of the changed functions."""
    base = _layout(design, src) if src in design.mutable else None
    plan = None if base is None else affected_functions(base, text, src)
    if plan is None:  # whole file
        return _compile(tmp / src, text, src, headers, builder, incs)
    mutant, rebuild = plan
    objs = []
    for name in sorted(base.functions):
        if name in rebuild:
            continue
        built = _compile(tmp / src, base.unit({name}), src, headers, builder, incs, tag=name)
        if isinstance(built, Outcome):
            return built
        objs += built
    if rebuild:
        built = _compile(tmp / src, mutant.unit(rebuild), src, headers, builder, incs, tag="mutant")
        if isinstance(built, Outcome):
            return built
        objs += built
    return objs


_LAYOUTS: dict[tuple[str, str], Layout | None] = {}


def _layout(design: BaseDesign, src: str) -> Layout | None:
    """The base file's layout if it has >= 2 external functions (else a unit build cannot help)."""
    key = (design.id, hashlib.sha1(design.files[src].encode()).hexdigest())
    if key not in _LAYOUTS:
        lay = layout(design.files[src], src)
        _LAYOUTS[key] = lay if lay is not None and len(lay.functions) >= 2 else None
    return _LAYOUTS[key]


def _compile(path: Path, text: str, src: str, headers: str, builder: Builder, incs: list[Path],
             tag: str = "") -> list[Path] | Outcome:
    """Compile ``text`` as the file at ``path`` (so messages name it).

    Objects are content-addressed in the builder's cache (key: source text, headers, file name,
    flags and compiler versions), base units and mutants alike, so ``dataset verify`` re-links and
    re-runs the very objects ``generate`` built instead of compiling identical sources again.
    Failed compiles are not cached: their evidence is the compiler's message, which is redone.
    """
    key = hashlib.sha1("\0".join([text, headers, src, " ".join(CXXFLAGS), *builder.versions()]).encode()
                       ).hexdigest()[:20]
    cached = builder.cache / "obj" / f"{key}.o"
    if cached.exists():
        return [cached]
    path.write_text(text)
    obj = path.with_name(f"{path.stem}.{tag or 'tu'}.o")
    r = builder.compile(path, obj, incs)
    if r.timed_out:  # says nothing about the source: a compile error must come from the compiler
        raise ToolFailure(f"compile of {src} timed out")
    if r.returncode != 0:
        return Outcome("compile_error", _first_error(r.stderr))
    cached.parent.mkdir(exist_ok=True)
    tmp_obj = cached.with_suffix(f".{os.getpid()}.{tag or 'tu'}.tmp")
    shutil.copy(obj, tmp_obj)
    tmp_obj.rename(cached)  # atomic: a racing worker writes the same bytes
    return [obj]


def _first_error(stderr: str) -> str:
    for line in stderr.splitlines():
        if ("error" in line and "collect2" not in line) or "undefined reference" in line:
            return re.sub(r"^/\S*/mut-[^/]+/", "", line.strip())[:400]
    return stderr.strip()[-400:]
