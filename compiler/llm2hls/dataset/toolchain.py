"""Build and run harnesses cheaply and safely: one precompiled header for the ap_types headers,
a per-design cached testbench object, and a sandbox (own temp dir, time/memory/file limits)."""

from __future__ import annotations

import ctypes
import functools
import hashlib
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

TEMPLATES = Path(__file__).resolve().parents[3] / "templates" / "dataset"
if not TEMPLATES.exists():  # installed layout: llm2hls/templates/dataset
    TEMPLATES = Path(__file__).resolve().parents[1] / "templates" / "dataset"

# -O1 keeps builds fast; pattern-init makes reads of uninitialised locals deterministic
# (0xFE bytes), so INIT bugs show up as mismatches instead of depending on stack contents.
CXXFLAGS = ["-std=c++14", "-O1", "-g0", "-fsanitize=address,undefined", "-fno-sanitize-recover=all",
            "-fno-sanitize=shift-base",  # ap_types left-shift negative values by design
            "-ftrivial-auto-var-init=pattern", "-Wno-unknown-pragmas", "-w"]
# ASan reserves terabytes of virtual memory, so RLIMIT_AS cannot bound a sanitised run; its own
# RSS limit does. Compilers and non-ASan runs get RLIMIT_AS.
ASAN_OPTIONS = "hard_rss_limit_mb=1024:detect_leaks=0:abort_on_error=0:exitcode=23"
UBSAN_OPTIONS = "print_stacktrace=0:halt_on_error=1:exitcode=24"
COMPILE_MEM = 2 << 30
COMPILE_TIMEOUT = 60.0
FILE_LIMIT = 64 << 20  # largest file a sandboxed command may write
PCH_FILE_LIMIT = 512 << 20  # the sanitised ap_types .gch is ~80 MB: under FILE_LIMIT it silently failed


@functools.lru_cache(maxsize=1)
def ap_types_dir() -> str:
    import hls4ml

    return str(Path(hls4ml.__file__).parent / "templates" / "vivado" / "ap_types")


@functools.lru_cache(maxsize=1)
def tool_versions() -> dict:
    """Versions of every tool a verdict depends on."""
    from importlib.metadata import version

    from .. import __version__

    gxx = subprocess.run(["g++", "--version"], capture_output=True, text=True).stdout.splitlines()[0]
    return {"g++": gxx, "hls4ml_ap_types": version("hls4ml"), "tree-sitter": version("tree-sitter"),
            "tree-sitter-cpp": version("tree-sitter-cpp"), "llm2hls": __version__}


ADDR_NO_RANDOMIZE = 0x0040000  # personality(2) flag: what `setarch -R` sets


def _limits(cpu_s: int, mem: int | None, fsize: int, fixed_layout: bool = False):
    def apply() -> None:
        if fixed_layout:
            ctypes.CDLL(None, use_errno=True).personality(ADDR_NO_RANDOMIZE)
        resource.setrlimit(resource.RLIMIT_CPU, (cpu_s, cpu_s + 1))
        resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if mem:
            resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
    return apply


@dataclass
class RunResult:
    returncode: int | None  # None = killed by the timeout
    stdout: str
    stderr: str
    timed_out: bool


HARNESS_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LC_ALL": "C"}
"""The whole environment of a harness run (plus the sanitizer options): see ``run_limited``."""


def run_limited(cmd: list[str], cwd: Path, timeout: float, mem: int | None, env: dict | None = None,
                fsize: int = FILE_LIMIT, fixed_layout: bool = False) -> RunResult:
    """Run ``cmd`` in its own session with CPU/file/memory limits; kill the whole group on timeout.

    ``fixed_layout`` makes a program that reads uninitialised stack or registers see the same
    garbage on every run. That is what INIT bugs on ap_int and ap_fixed locals do: their
    constructors leave the value unset, and GCC's pattern-init skips class-typed locals. The flag turns address-space randomisation off and replaces the
    environment with ``HARNESS_ENV``, because the environment's size shifts every stack address.
    Under the caller's environment one such record passed 15 of 29 runs with environment sizes
    0 to 196 bytes. ``cmd[0]`` should be relative to ``cwd`` for the same reason: argv sits on the
    stack too."""
    base_env = HARNESS_ENV if fixed_layout else os.environ
    full_env = {**base_env, "ASAN_OPTIONS": ASAN_OPTIONS, "UBSAN_OPTIONS": UBSAN_OPTIONS, **(env or {})}
    p = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         errors="replace", env=full_env, start_new_session=True,
                         preexec_fn=_limits(int(timeout) + 2, mem, fsize, fixed_layout))
    try:
        out, err = p.communicate(timeout=timeout)
        return RunResult(p.returncode, out[-20000:], err[-20000:], False)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        out, err = p.communicate()
        return RunResult(None, out[-20000:], err[-20000:], True)


def exit_cleanly_on_sigterm() -> None:
    """Pool-worker initializer: SIGTERM raises SystemExit, so ``finally`` blocks still remove the
    worker's sandbox folder (the default action would leave it behind in the temp dir)."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))


class ToolFailure(RuntimeError):
    """A tool could not give an answer (e.g. the compiler ran out of time on an overloaded machine):
    no evidence either way, so the task is rejected or the record left unconfirmed, never labelled."""


class Builder:
    """Compiles harnesses with a shared precompiled header under ``cache_dir``."""

    def __init__(self, cache_dir: Path) -> None:
        self.cache = Path(cache_dir).resolve()
        self.cache.mkdir(parents=True, exist_ok=True)
        self._pch_dir = self._build_pch()

    def _flags(self) -> list[str]:
        return CXXFLAGS + ["-isystem", ap_types_dir()]

    def _build_pch(self) -> Path | None:
        key = hashlib.sha1(" ".join(self._flags() + [tool_versions()["g++"]]).encode()
                           + (TEMPLATES / "pch.h").read_bytes()).hexdigest()[:12]
        d = self.cache / f"pch-{key}"
        if (d / "pch.h.gch").exists():
            return d
        tmp = Path(tempfile.mkdtemp(dir=self.cache))
        shutil.copy(TEMPLATES / "pch.h", tmp / "pch.h")
        r = run_limited(["g++", *self._flags(), "-x", "c++-header", "pch.h", "-o", "pch.h.gch"], tmp,
                        COMPILE_TIMEOUT, COMPILE_MEM, fsize=PCH_FILE_LIMIT)
        if r.returncode != 0:
            shutil.rmtree(tmp, ignore_errors=True)
            return None  # builds still work, only slower (pch_used() says so)
        try:
            tmp.rename(d)
        except OSError:  # another worker won the race
            shutil.rmtree(tmp, ignore_errors=True)
        return d

    def pch_used(self) -> bool:
        """Whether g++ really loads the precompiled header with the build flags (it silently falls
        back to parsing pch.h when the .gch was built with other flags; ``-H`` marks a used one with '!')."""
        if not self._pch_dir:
            return False
        with tempfile.TemporaryDirectory(dir=self.cache) as tmp:
            (Path(tmp) / "probe.cpp").write_text("int probe() { return 0; }\n")
            r = run_limited(["g++", *self._flags(), "-H", "-Winvalid-pch", "-include", str(self._pch_dir / "pch.h"),
                             "-fsyntax-only", "probe.cpp"], Path(tmp), COMPILE_TIMEOUT, COMPILE_MEM)
        return r.returncode == 0 and any(l.startswith("!") and l.rstrip().endswith("pch.h.gch")
                                         for l in r.stderr.splitlines())

    @staticmethod
    def versions() -> tuple[str, str]:
        """The compiler and ap_types versions an object depends on (part of every object's cache key)."""
        v = tool_versions()
        return v["g++"], v["hls4ml_ap_types"]

    def compile(self, src: Path, obj: Path, include_dirs: list[Path]) -> RunResult:
        pch = ["-include", str(self._pch_dir / "pch.h")] if self._pch_dir else []
        inc = [f"-I{d}" for d in include_dirs]
        return run_limited(["g++", *self._flags(), *pch, *inc, "-c", str(src), "-o", str(obj)],
                           src.parent, COMPILE_TIMEOUT, COMPILE_MEM)

    def link(self, objs: list[Path], exe: Path) -> RunResult:
        return run_limited(["g++", *self._flags(), *map(str, objs), "-o", str(exe)], exe.parent,
                           COMPILE_TIMEOUT, COMPILE_MEM)
