"""The RTL of a compiled project (``hls_out/<name>/``), generated on demand from its ``ir.json``.

``llm2hls compile`` stays fast: it writes the quantized IR and the C testbench data; the RTL is
rendered the first time ``llm2hls simulate`` (or ``report --synth``) needs it, and again whenever
``ir.json`` / ``ir_params.npz`` change (their hash is recorded in ``rtl/rtl.json``).

The bench runs the project's own test inference (``tb/<input>.txt`` with the golden outputs
``tb/<output>.golden.txt`` of the compile step) followed by random inferences whose golden
outputs come from the reference interpreter, so the initiation interval is measured too.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from ...errors import UserError
from ...ir.graph import Graph
from .backend import random_inputs, reference_golden, write_rtl

EXTRA_RUNS = 1
"""Random inferences after the project's test inference (>= 1 so the II can be measured)."""


def ir_digest(project: Path) -> str:
    """Hash of the project's quantized IR (structure and params)."""
    h = hashlib.sha256()
    for name in ("ir.json", "ir_params.npz"):
        p = project / name
        if p.exists():
            h.update(p.read_bytes())
    return h.hexdigest()


def load_project_graph(project: Path) -> Graph:
    """The quantized graph of a compiled project, or a UserError saying what is missing."""
    from ...ir.serialize import load_graph

    ir = Path(project) / "ir.json"
    if not ir.exists():
        raise UserError(f"{project} has no ir.json; compile a model into it first "
                        "(llm2hls compile MODEL --out DIR)")
    try:
        return load_graph(ir)
    except (ValueError, KeyError, OSError) as e:
        raise UserError(f"{ir} cannot be loaded ({e}); re-run llm2hls compile") from None


def read_tb(path: Path, shape: tuple[int, ...]) -> np.ndarray:
    """Raw integers of one testbench data file (one token per line), in ``shape``."""
    try:
        vals = np.array([int(v) for v in path.read_text().split()], dtype=np.int64)
    except ValueError:
        raise UserError(f"{path} holds non-integer values: the project was compiled in float; "
                        "RTL simulation needs a quantized project (--quant w8a16)") from None
    if vals.size != int(np.prod(shape)):
        raise UserError(f"{path} holds {vals.size} values, expected {int(np.prod(shape))}; "
                        "re-run llm2hls compile")
    return vals.reshape(shape)


def project_runs(project: Path, graph: Graph, extra: int = EXTRA_RUNS, seed: int = 0):
    """(inputs per run, golden outputs per run): the project's test data, then random runs."""
    tb = Path(project) / "tb"
    inp = {t: read_tb(tb / f"{t}.txt", graph.tensors[t].type.shape) for t in graph.inputs}
    gold = {t: read_tb(tb / f"{t}.golden.txt", graph.tensors[t].type.shape) for t in graph.outputs}
    rng = np.random.default_rng(seed)
    inputs = [inp] + [random_inputs(graph, rng) for _ in range(extra)]
    golden = [gold] + [reference_golden(graph, x) for x in inputs[1:]]
    return inputs, golden


def ensure_project_rtl(project: Path, seed: int = 0) -> Path:
    """``project/rtl``, (re)generated from ``ir.json`` when missing or stale. Returns its path."""
    project = Path(project)
    rtl = project / "rtl"
    digest = ir_digest(project)
    spec = rtl / "rtl.json"
    if spec.exists() and json.loads(spec.read_text()).get("ir_digest") == digest:
        return rtl
    graph = load_project_graph(project)
    inputs, golden = project_runs(project, graph, seed=seed)
    table = {id(x): g for x, g in zip(inputs, golden)}
    write_rtl(graph, rtl, inputs=inputs, golden=lambda _g, x: table[id(x)], seed=seed,
              meta={"ir_digest": digest})
    return rtl
