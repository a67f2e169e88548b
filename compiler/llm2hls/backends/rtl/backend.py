"""Write the RTL project of a quantized graph (see the package docstring for the layout)."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Callable

import numpy as np

from ...errors import UserError
from ...ir.graph import Graph
from ...ir.types import FixedType
from .hdl import fixed, lib_dir, vparam, write_mem
from .memory import MemoryParams
from .render import render
from .stages import Stage, beat, emit

Golden = Callable[[Graph, dict[str, np.ndarray]], dict[str, np.ndarray]]

LIB_MODULES = ("l2h_convert", "l2h_fifo", "l2h_fork", "l2h_eltwise", "l2h_embedding", "l2h_linear",
               "l2h_table", "l2h_act", "l2h_layernorm", "l2h_attention")


def reference_golden(graph: Graph, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Golden outputs from the reference interpreter in integer mode."""
    from ...reference import run_graph

    return run_graph(graph, inputs, "int")


def default_memory(target: str = "U280", channels: int = 1) -> MemoryParams:
    """The bench's memory for one channel of ``target`` at its kernel clock (targets/ board DB)."""
    from ...perf.model import MemoryModel
    from ...targets import get_target

    return MemoryParams.of(MemoryModel.of(get_target(target), channels))


def random_inputs(graph: Graph, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Random raw inputs: token ids below the vocabulary of the embedding that reads them,
    activations uniform over the middle half of their type's range."""
    out = {}
    for name in graph.inputs:
        tt = graph.tensors[name].type
        ft = fixed(tt)
        vocab = [n.param("q_weight").shape[0] for n in graph.consumers(name) if n.op == "embedding"]
        if vocab:
            out[name] = rng.integers(0, min(vocab), size=tt.shape, dtype=np.int64)
        else:
            lo, hi = ft.raw_min // 2, ft.raw_max // 2
            out[name] = rng.integers(lo, hi + 1, size=tt.shape, dtype=np.int64)
    return out


def _fifo_depth(graph: Graph, tensor: str) -> int:
    """Depth of a stream's FIFO: the one the FIFO pass chose, else one token plus slack.

    One token per FIFO keeps reconvergent paths (residual branches beside a stage that buffers a
    whole token) free of deadlock for the stage kinds supported so far.
    """
    meta = graph.tensors[tensor].meta
    if "fifo_depth" in meta:
        return max(1, int(meta["fifo_depth"]))
    shape = graph.tensors[tensor].type.shape
    return (shape[-1] if shape else 1) + 2


def _wire(tensor: str, side: str) -> str:
    return f"s_{tensor}_{side}"


def build_top(graph: Graph, top: str, stages: list[Stage]) -> dict:
    """Template context of the top: ports, stream wires, FIFOs, forks, instances, monitors."""
    wires, assigns, fifos, forks, monitored = [], [], [], [], []
    in_ports = [_port(graph, t) for t in graph.inputs]
    out_ports = [_port(graph, t) for t in graph.outputs]
    consumers: dict[str, list[str]] = {t: [] for t in graph.tensors}
    for s in stages:
        for _, t, d in s.ports:
            if d == "in":
                consumers[t].append(s.node)
    producer = {t: s.node for s in stages for _, t, d in s.ports if d == "out"}
    for t in graph.tensors:
        w = beat(graph, t) * fixed(graph.tensors[t].type).width  # one beat per transfer
        if t not in producer and t not in graph.inputs:
            continue
        src = _wire(t, "p")
        wires.append({"name": src, "w": w})
        if t in graph.inputs:
            assigns += [f"{src}_data = {t}_data", f"{src}_valid = {t}_valid", f"{t}_ready = {src}_ready"]
        else:
            monitored.append({"name": src, "tensor": t})
        dsts = [_wire(t, f"c{i}") for i in range(len(consumers[t]))]
        if t in graph.outputs:
            dsts.append(_wire(t, "out"))
        if not dsts:
            raise UserError(f"tensor {t} is produced but never used; remove it from the graph")
        branch = [src]
        if len(dsts) > 1:
            branch = [_wire(t, f"f{i}") for i in range(len(dsts))]
            wires += [{"name": b, "w": w} for b in branch]
            forks.append({"name": f"fork_{t}", "w": w, "n": len(dsts), "src": src, "dsts": branch})
        depth = _fifo_depth(graph, t)
        for i, (b, d) in enumerate(zip(branch, dsts)):
            wires.append({"name": d, "w": w})
            fifos.append({"name": f"fifo_{t}" + (f"_{i}" if len(dsts) > 1 else ""), "w": w,
                          "depth": depth, "src": b, "dst": d})
        if t in graph.outputs:
            o = _wire(t, "out")
            assigns += [f"{t}_data = {o}_data", f"{t}_valid = {o}_valid", f"{o}_ready = {t}_ready"]
    inst = []
    used = {t: 0 for t in graph.tensors}
    for s in stages:
        ports = []
        for prefix, t, d in s.ports:
            if d == "out":
                ports.append((prefix, _wire(t, "p")))
            else:
                ports.append((prefix, _wire(t, f"c{used[t]}")))
                used[t] += 1
        ports += [(st["port"], st["name"]) for st in s.streams]  # straight to the memory ports
        inst.append({"node": s.node, "module": s.module, "comment": s.comment,
                     "ties": s.ties, "open_outputs": s.open_outputs,
                     "params": [(k, vparam(v)) for k, v in s.params.items()], "ports": ports})
    mem_ports = [{"name": st["name"], "w": st["width"], "node": s.node} for s in stages for st in s.streams]
    return {"graph": graph.name, "top": top, "in_ports": in_ports, "out_ports": out_ports,
            "mem_ports": mem_ports,
            "wires": wires, "assigns": assigns, "fifos": fifos, "forks": forks, "stages": inst,
            "monitored": monitored}


def _port(graph: Graph, t: str) -> dict:
    ft, b = fixed(graph.tensors[t].type), beat(graph, t)
    return {"name": t, "w": b * ft.width, "type": str(ft) + (f" x {b} per beat" if b > 1 else ""),
            "signed": ft.signed}


def write_rtl(
    graph: Graph,
    out_dir: Path,
    inputs: list[dict[str, np.ndarray]] | None = None,
    golden: Golden | None = None,
    runs: int = 2,
    seed: int = 0,
    gap: float = 0.3,
    top: str | None = None,
    meta: dict | None = None,
    memory: MemoryParams | None = None,
) -> Path:
    """Render the RTL of quantized ``graph`` and its cocotb bench into ``out_dir``.

    ``inputs``: raw input sets, one per inference (default: ``runs`` random sets); ``golden``
    computes expected raw outputs (default: the reference interpreter, integer mode); ``meta`` is
    recorded in ``rtl.json`` (e.g. the hash of the IR it was generated from); ``memory`` is the
    bench's off-chip memory model serving the weights placed ``offchip`` (default:
    :func:`default_memory`). The folder
    is written to a temporary sibling and renamed at the end, so nothing is ever half-written.
    """
    graph.validate()
    graph = _unfused(graph)
    top = top or _identifier(graph.name) + "_top"
    stages = [emit(n, graph) for n in graph.topo_nodes()]
    rng = np.random.default_rng(seed)
    inputs = inputs or [random_inputs(graph, rng) for _ in range(runs)]
    golden = golden or reference_golden
    tb_runs = []
    for inp in inputs:
        outs = golden(graph, inp)
        tb_runs.append({
            "inputs": {t: np.asarray(inp[t]).reshape(-1).astype(int).tolist() for t in graph.inputs},
            "outputs": {t: np.asarray(outs[t]).reshape(-1).astype(int).tolist() for t in graph.outputs},
        })

    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        (tmp / "lib").mkdir()
        for m in LIB_MODULES:
            shutil.copy(lib_dir() / f"{m}.v", tmp / "lib" / f"{m}.v")
        for s in stages:
            for name, words in s.mems.items():
                write_mem(tmp / name, words, f"{s.node}: {name}")
        sources = [f"lib/{m}.v" for m in LIB_MODULES]
        for s in stages:
            if s.source:  # a module generated for this stage, in a file named after it
                (tmp / f"{s.module}.v").write_text("// Generated by llm2hls.\n" + s.source)
                sources.append(f"{s.module}.v")
        (tmp / f"{top}.v").write_text(render("top.v.j2", **build_top(graph, top, stages)))
        sources.append(f"{top}.v")
        streams = {st["name"]: {"words": st["words"], "word_bits": st["width"],
                                "repeat": st["repeat"] * len(tb_runs)} for s in stages for st in s.streams}
        mem = (memory or default_memory()) if streams else None
        (tmp / "tb_data.json").write_text(json.dumps(
            {"graph": graph.name, "runs": tb_runs, "memory": mem.to_json() if mem else None,
             "streams": streams}) + "\n")
        shutil.copy(Path(__file__).with_name("memory.py"), tmp / "l2h_memory.py")
        work = sum(s.work for s in stages) * max(1, len(tb_runs))
        if mem:  # a slow memory bounds the run time: every word at the shared bandwidth
            nbytes = sum(len(v["words"]) * v["repeat"] * v["word_bits"] / 8 for v in streams.values())
            work += int(nbytes / (mem.bytes_per_cycle * mem.channels)) + mem.latency * len(tb_runs)
        stage_of = {t: s.node for s in stages for _, t, d in s.ports if d == "out"}
        (tmp / f"test_{top}.py").write_text(render(
            "test_top.py.j2", top=top, graph=graph.name, runs=len(tb_runs), seed=seed, gap=gap,
            inputs=repr({t: _wt(graph, t) for t in graph.inputs}),
            outputs=repr({t: _wt(graph, t) for t in graph.outputs}),
            stage_of=repr(stage_of), max_cycles=int(work / (1 - gap) * 4) + 2000,
            mem_ports=repr({st["name"]: st["width"] for s in stages for st in s.streams}),
        ))
        (tmp / "rtl.json").write_text(json.dumps(
            {"top": top, "graph": graph.name, "sources": sources, "test_module": f"test_{top}",
             "stages": [{"node": s.node, "module": s.module, "op": graph.nodes[s.node].op,
                         "outputs": [t for _, t, d in s.ports if d == "out"]} for s in stages],
             "memory": mem.to_json() if mem else None, **(meta or {})}, indent=1) + "\n")
        if out_dir.exists():
            shutil.rmtree(out_dir)
        tmp.rename(out_dir)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return out_dir


def _unfused(graph: Graph) -> Graph:
    """The graph with its Q/K/V, gated-MLP and residual+norm stages expanded into the unfused
    stages (bit-identical, passes/fuse.py ``unfuse``), which the operator library maps; FIFOs are
    re-sized for the expanded structure. A fused linear act/residual has its own RTL (emit_linear)."""
    from ...passes.fifo import size_fifos
    from ...passes.fuse import unfuse

    graph, expanded = unfuse(graph)
    return size_fifos(graph)[0] if expanded else graph


def _wt(graph: Graph, t: str) -> tuple[int, bool, int]:
    """(element width, signed, elements per beat) of a top-level stream, for the bench."""
    ft: FixedType = fixed(graph.tensors[t].type)
    return (ft.width, ft.signed, beat(graph, t))


def _identifier(name: str) -> str:
    clean = "".join(c if c.isalnum() else "_" for c in name).strip("_") or "model"
    return clean if not clean[0].isdigit() else "m_" + clean
