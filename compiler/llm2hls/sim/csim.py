"""C simulation of a generated HLS project with g++ and the Xilinx ap_types headers.

The kernel and the testbench are compiled as two objects in parallel and linked; the binary runs
from ``tb/`` and prints ``llm2hls csim: N mismatches in M elements``. Builds are cached by the
hash of every source and header plus the compiler flags (``$LLM2HLS_CACHE`` or
``~/.cache/llm2hls/csim``), so an unchanged project is never rebuilt.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

from ..errors import UserError

CXXFLAGS = ["-std=c++14", "-O2", "-Wno-unknown-pragmas"]
RESULT_RE = re.compile(r"llm2hls csim: (\d+) mismatches in (\d+) elements")


@dataclass
class CsimResult:
    """Outcome of one C simulation."""

    passed: bool
    mismatches: int
    elements: int
    build_s: float
    run_s: float
    cached: bool
    first_mismatch: str | None
    log: str

    def to_json(self) -> dict:
        d = asdict(self)
        d["log"] = self.log[-4000:]
        return d


def ap_types_dir() -> Path:
    """The ap_int/ap_fixed/hls_stream headers shipped by the hls4ml package."""
    spec = importlib.util.find_spec("hls4ml")
    if spec is None or spec.origin is None:
        raise UserError("C simulation needs the hls4ml package (ap_types headers): pip install hls4ml==1.3.0")
    d = Path(spec.origin).parent / "templates" / "vivado" / "ap_types"
    if not (d / "ap_fixed.h").exists():
        raise UserError(f"hls4ml is installed but {d}/ap_fixed.h is missing; reinstall hls4ml==1.3.0")
    return d


def cache_dir() -> Path:
    root = os.environ.get("LLM2HLS_CACHE") or Path.home() / ".cache" / "llm2hls"
    d = Path(root) / "csim"
    d.mkdir(parents=True, exist_ok=True)
    return d


def source_hash(root: Path, top: str) -> str:
    """Hash of everything the binary depends on (not the tb data files, read at run time)."""
    h = hashlib.sha256(" ".join(CXXFLAGS).encode())
    files = sorted((root / "src").glob("*")) + sorted((root / "weights").glob("*.h"))
    files.append(root / "tb" / f"tb_{top}.cpp")
    for f in files:
        h.update(f.relative_to(root).as_posix().encode())
        h.update(f.read_bytes())
    return h.hexdigest()[:24]


def build(root: Path, top: str) -> tuple[Path, float, bool]:
    """Compile (or reuse) the csim binary: ``(path, seconds, cached)``."""
    gxx = shutil.which("g++")
    if gxx is None:
        raise UserError("C simulation needs g++ (apt-get install g++), or use --no-csim")
    key = source_hash(root, top)
    binary = cache_dir() / f"{top}-{key}"
    if binary.exists():
        return binary, 0.0, True
    inc = ["-isystem", str(ap_types_dir()), "-I", str(root / "src")]
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="llm2hls-csim-") as tmp:
        units = [root / "src" / f"{top}.cpp", root / "tb" / f"tb_{top}.cpp"]
        objs = [Path(tmp) / f"{u.stem}.o" for u in units]
        cmds = [[gxx, *CXXFLAGS, *inc, "-c", str(u), "-o", str(o)] for u, o in zip(units, objs)]
        with ThreadPoolExecutor(max_workers=2) as pool:
            procs = list(pool.map(lambda c: subprocess.run(c, capture_output=True, text=True), cmds))
        for cmd, p in zip(cmds, procs):
            if p.returncode != 0:
                raise RuntimeError(f"csim build failed: {' '.join(cmd)}\n{p.stderr[-6000:]}")
        tmp_bin = Path(tmp) / "csim"
        link = subprocess.run([gxx, *map(str, objs), "-o", str(tmp_bin)], capture_output=True, text=True)
        if link.returncode != 0:
            raise RuntimeError(f"csim link failed:\n{link.stderr[-4000:]}")
        shutil.move(str(tmp_bin), binary)  # atomic enough: a complete file appears under its name
    return binary, time.perf_counter() - start, False


def run_csim(root: Path, top: str, timeout: float = 600.0,
             on_line: Callable[[str], None] | None = None) -> CsimResult:
    """Build (cached) and run the testbench of the project at ``root``.

    ``on_line`` receives each line the testbench prints, as it prints it (progress of long runs).
    """
    root = Path(root)
    binary, build_s, cached = build(root, top)
    start = time.perf_counter()
    if on_line is None:
        p = subprocess.run([str(binary)], cwd=root / "tb", capture_output=True, text=True, timeout=timeout)
        returncode, log = p.returncode, p.stdout + p.stderr
    else:
        returncode, log = _run_streaming(binary, root / "tb", timeout, on_line)
    run_s = time.perf_counter() - start
    m = RESULT_RE.search(log)
    if m is None:
        raise RuntimeError(f"csim did not report a result (exit {returncode}):\n{log[-4000:]}")
    mismatches, elements = int(m.group(1)), int(m.group(2))
    first = next((ln for ln in log.splitlines() if ln.startswith("mismatch")), None)
    return CsimResult(
        passed=returncode == 0 and mismatches == 0,
        mismatches=mismatches,
        elements=elements,
        build_s=round(build_s, 3),
        run_s=round(run_s, 3),
        cached=cached,
        first_mismatch=first,
        log=log,
    )


def _run_streaming(binary: Path, cwd: Path, timeout: float, on_line: Callable[[str], None]) -> tuple[int, str]:
    """Run ``binary`` passing each output line to ``on_line``; killed after ``timeout`` seconds."""
    with subprocess.Popen([str(binary)], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True) as p:
        timed_out = threading.Event()
        timer = threading.Timer(timeout, lambda: (timed_out.set(), p.kill()))
        timer.start()
        lines = []
        try:
            for line in p.stdout:
                lines.append(line)
                on_line(line.rstrip("\n"))
            returncode = p.wait()
        finally:
            timer.cancel()
    if timed_out.is_set():
        raise subprocess.TimeoutExpired([str(binary)], timeout)
    return returncode, "".join(lines)
