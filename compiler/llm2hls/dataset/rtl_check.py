"""FIFO-depth bugs of generated designs, shown on the RTL path (cocotb + Verilator).

C simulation gives every ``hls::stream`` unbounded room, so a STREAM depth that is too shallow
never fails there. A generated base design carries its quantized IR (``facts["rtl"]``) and the
map from each stream variable of its top function to the IR tensor it carries; the RTL backend
gives every tensor a FIFO of depth ``tensor.meta["fifo_depth"]`` (the same value the HLS backend
writes into ``#pragma HLS STREAM ... depth=``). So a mutant's STREAM depths are carried over to
the IR, llm2hls's own RTL is rendered with them and simulated cycle by cycle on the harness
inference plus one random inference: a deadlock shows as the bench's cycle limit being hit (with
the stall counters as evidence), a depth that does not matter as a passing, bit-exact run.
This is llm2hls's RTL realization of the design, not Vitis output: it shows the bug only where
our RTL needs the depth (its stages buffer differently from Vitis' ones).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import tempfile
from pathlib import Path

from ..errors import UserError
from .base import BaseDesign
from .mutate.core import Source

SIMULATOR = "verilator"
DEADLOCK_FACTOR = 10
"""A mutant that has not finished after this many times the base design's cycles is deadlocked
(the bench's own limit is far higher: it allows for any design, not one we have timed)."""


def rtl_facts(project: Path, top: str) -> dict:
    """Facts of a compiled project: ``rtl`` (its quantized IR, text + params, and the stream
    variable -> tensor map of the top function) and, for the static FIFO rule that aims the FIFO
    mutations, the depths the FIFO pass raised above its default (reconvergent-path slack)."""
    from ..backends.hls.emit import stream_names
    from ..ir.serialize import load_graph
    from ..passes.fifo import DEFAULT_DEPTH

    project = Path(project)
    graph = load_graph(project / "ir.json")
    var = stream_names(graph, top)
    need = {var[t]: int(tt.meta["fifo_depth"]) for t, tt in graph.tensors.items()
            if int(tt.meta.get("fifo_depth", 0)) > DEFAULT_DEPTH}
    return {"rtl": {"ir_json": (project / "ir.json").read_text(),
                    "ir_params_b64": base64.b64encode((project / "ir_params.npz").read_bytes()).decode(),
                    "streams": {v: t for t, v in var.items()}},
            "fifo_min_depth": need,
            "fifo_reason": {v: "the llm2hls FIFO pass sized it for the token slack of a reconvergent path"
                            for v in need}}


def stream_depths(text: str, path: str = "kernel.cpp") -> dict[str, int]:
    """``variable -> depth`` of every ``#pragma HLS STREAM`` with a depth in ``text``."""
    return {f["variable"]: int(f["depth"]) for _, f in Source(text, path).pragmas()
            if f["directive"] == "STREAM" and "depth" in f and "variable" in f}


def changed_depths(design: BaseDesign, files: dict[str, str]) -> dict[str, int]:
    """Tensor -> new depth for every STREAM depth the mutant changes (empty: none, or no RTL facts)."""
    facts = design.facts.get("rtl")
    if not facts:
        return {}
    out = {}
    for path, text in files.items():
        old, new = stream_depths(design.files[path], path), stream_depths(text, path)
        for var, d in new.items():
            if old.get(var) != d and var in facts["streams"]:
                out[facts["streams"][var]] = d
    return out


def simulate_depths(design: BaseDesign, depths: dict[str, int], workdir: Path | None = None,
                    max_cycles: int | None = None, build_cache: Path | None = None) -> dict:
    """Render the design's RTL with FIFO ``depths`` (tensor -> depth; others unchanged) and run its
    bench on the harness inference + one random inference (``max_cycles`` lowers the bench's cycle
    limit). Returns the bench's result dict.

    With ``build_cache`` the simulator build (Verilator's C++ model, ~30-60 s here) is kept there
    under the hash of the RTL sources, so the same RTL is simulated again without building it again
    (``dataset verify`` re-runs every simulation; only the build is shared)."""
    from ..backends.rtl.project import load_project_graph, project_runs
    from ..backends.rtl import write_rtl
    from ..sim.rtl import simulate

    facts = design.facts["rtl"]
    tmp = Path(tempfile.mkdtemp(prefix="rtl-", dir=workdir))
    try:
        (tmp / "ir.json").write_text(facts["ir_json"])
        (tmp / "ir_params.npz").write_bytes(base64.b64decode(facts["ir_params_b64"]))
        (tmp / "tb").mkdir()
        for rel, text in design.vectors[0].items():  # the harness inference (inputs + golden)
            (tmp / rel).write_text(text)
        graph = load_project_graph(tmp)
        for t, d in depths.items():
            graph.tensors[t].meta["fifo_depth"] = d
        inputs, golden = project_runs(tmp, graph, extra=1)
        table = {id(x): g for x, g in zip(inputs, golden)}
        rtl = write_rtl(graph, tmp / "rtl", inputs=inputs, golden=lambda _g, x: table[id(x)])
        if max_cycles:
            _lower_cycle_limit(rtl, max_cycles)
        build = rtl / f"sim_build_{SIMULATOR}"
        cached = Path(build_cache) / _build_key(rtl) if build_cache else None
        if cached is not None and cached.exists():
            shutil.copytree(cached, build)  # simulate() reuses it: its stamp matches the same sources
        res = simulate(rtl, SIMULATOR)
        if cached is not None and res.get("built") and not cached.exists():
            _store_build(build, cached)
        res.pop("log", None)
        return res
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _build_key(rtl: Path) -> str:
    """Hash of what a simulator build depends on: the RTL sources, memory images, simulator version."""
    from importlib.metadata import version

    spec = json.loads((rtl / "rtl.json").read_text())
    h = hashlib.sha256(f"{SIMULATOR} {version(SIMULATOR)}".encode())
    for name in sorted(spec["sources"]) + sorted(p.name for p in rtl.glob("*.mem")):
        h.update(name.encode() + b"\0" + (rtl / name).read_bytes())
    return h.hexdigest()[:24]


def _store_build(build: Path, cached: Path) -> None:
    """Copy a finished simulator build into the cache without its intermediate files (objects,
    generated C++ and Verilator's two ~80 MB precompiled headers; the model binary is ~1 MB). Atomic."""
    cached.parent.mkdir(parents=True, exist_ok=True)
    tmp = cached.with_name(f"{cached.name}.{os.getpid()}.tmp")
    shutil.copytree(build, tmp, ignore=shutil.ignore_patterns("*.o", "*.a", "*.d", "*.cpp", "*.h", "*.gch"))
    try:
        tmp.rename(cached)
    except OSError:  # another worker stored the same build first
        shutil.rmtree(tmp, ignore_errors=True)


def _lower_cycle_limit(rtl: Path, max_cycles: int) -> None:
    """Lower ``MAX_CYCLES`` of the rendered cocotb bench (write_rtl has no parameter for it)."""
    bench = rtl / (json.loads((rtl / "rtl.json").read_text())["test_module"] + ".py")
    text, n = re.subn(r"^MAX_CYCLES = \d+$", lambda m: f"MAX_CYCLES = {max_cycles}", bench.read_text(), flags=re.M)
    if n == 1:
        bench.write_text(text)


def fifo_verdict(design: BaseDesign, files: dict[str, str], cache: Path) -> dict | None:
    """RTL verdict for a mutant whose STREAM depths differ from the base design, else None.

    ``{"status": "rtl_deadlock" | "rtl_mismatch" | "pass" | "base_fails" | "unsupported", "detail":
    ...}``; the base design's own RTL run (its depths unchanged) is checked once and memoised under
    ``cache``. A design the RTL backend cannot express (e.g. group-wise weight scales) is
    ``unsupported``: the mutant then gets the static rules' verdict, as a design without RTL facts.
    """
    depths = changed_depths(design, files)
    if not depths:
        return None
    memo = Path(cache) / "rtl_base" / f"{design.id}.json"
    if not memo.exists():
        memo.parent.mkdir(parents=True, exist_ok=True)
        try:
            base = simulate_depths(design, {}, workdir=cache, build_cache=Path(cache) / "rtl_build")
        except UserError as e:  # the RTL backend refuses the design: no RTL evidence for any mutant
            base = {"unsupported": str(e)}
        tmp = memo.with_suffix(f".{os.getpid()}.tmp")  # workers may race here: each writes its own
        tmp.write_text(json.dumps({"passed": base.get("passed", False), "all_cycles": base.get("all_cycles"),
                                   "unsupported": base.get("unsupported")}))
        tmp.rename(memo)
    base = json.loads(memo.read_text())
    if base.get("unsupported"):
        return {"status": "unsupported", "detail": base["unsupported"]}
    if not base["passed"]:
        return {"status": "base_fails", "detail": "the base design's RTL does not pass its bench"}
    res = simulate_depths(design, depths, workdir=cache, max_cycles=DEADLOCK_FACTOR * base["all_cycles"],
                          build_cache=Path(cache) / "rtl_build")
    what = ", ".join(f"{t} depth {d}" for t, d in sorted(depths.items()))
    if res.get("timeout"):
        stalled = sorted(((n, s) for s, n in res.get("stall_cycles", {}).items() if n), reverse=True)[:3]
        return {"status": "rtl_deadlock", "detail": f"RTL ({SIMULATOR}) with FIFO {what} has not finished after "
                f"{res['all_cycles']} cycles (the base design finishes in {base['all_cycles']}); "
                f"most stalled producers: {', '.join(f'{s} {n} cycles' for n, s in stalled) or 'none'}"}
    if not res.get("passed"):
        return {"status": "rtl_mismatch", "detail": f"RTL ({SIMULATOR}) with FIFO {what}: {res.get('mismatches')} "
                f"mismatches, first {res.get('first_mismatch')}{res.get('error', '')}"}
    return {"status": "pass", "detail": f"RTL ({SIMULATOR}) with FIFO {what} passes bit-exact in "
            f"{res['all_cycles']} cycles (base design: {base['all_cycles']})"}
