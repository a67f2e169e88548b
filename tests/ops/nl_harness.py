"""Test helpers for the nonlinear kinds: one-node graphs, calibration, and a batch C++ harness.

``run_cpp(cases)`` renders every case's stage from its real template (templates/hls/ops/<kind>.j2)
with the conventions of docs/architecture.md (``weights``-style ``<node>_<key>`` arrays from the
``q_`` params, as native integers; one scalar per stream write), compiles all of them into ONE program with g++ and
the ap_types headers of hls4ml, runs it once and returns each case's raw outputs.
"""

from __future__ import annotations

import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import hls4ml
import numpy as np

from llm2hls.backends.hls.emit import template_env
from llm2hls.ir.graph import Graph, Node, Param
from llm2hls.ir.types import FixedType, TensorType, numtype_from_json
from llm2hls.numerics import quantize
from llm2hls.ops import op_kind
from llm2hls.ops.tables import fixed_for_max

REPO = Path(__file__).resolve().parents[2]
HLS_TEMPLATES = REPO / "templates" / "hls"
AP_TYPES = Path(hls4ml.__file__).parent / "templates" / "vivado" / "ap_types"

try:  # the real config once passes/quantize.py exists; the two attributes we read otherwise
    from llm2hls.passes.quantize import QuantConfig as _RealConfig  # type: ignore
except ImportError:  # pragma: no cover - depends on the other engineers' progress
    _RealConfig = None


@dataclass
class Config:
    """Stand-in for passes.quantize.QuantConfig: what the nonlinear kinds read."""

    act_bits: int = 16
    calib: dict = field(default_factory=dict)


def make_config(calib: dict, act_bits: int = 16):
    if _RealConfig is not None:
        try:
            return _RealConfig(act_bits=act_bits, calib=calib)
        except TypeError:
            pass
    return Config(act_bits=act_bits, calib=calib)


def one_node_graph(op: str, attrs: dict, in_shapes: list[tuple], out_shape: tuple,
                   params: dict | None = None, name: str = "n0") -> tuple[Graph, Node]:
    g = Graph(name)
    ins = []
    for i, shp in enumerate(in_shapes):
        t = f"{name}_in{i}"
        g.add_tensor(t, TensorType(tuple(shp)))
        ins.append(t)
    g.inputs = ins
    g.add_tensor(f"{name}_out", TensorType(tuple(out_shape)))
    g.outputs = [f"{name}_out"]
    node = Node(name, op, ins, [f"{name}_out"], dict(attrs),
                {k: Param(np.asarray(v)) for k, v in (params or {}).items()}, source=f"test.{name}")
    g.add_node(node)
    return g, node


def quantize_one(g: Graph, node: Node, calib_inputs: list[list[np.ndarray]],
                 in_types: list[FixedType] | None = None, act_bits: int = 16) -> list[FixedType]:
    """Type the inputs (from their calibration range unless given), calibrate, quantize the node."""
    kind = op_kind(node.op)
    calib: dict[str, list[np.ndarray]] = {t: [] for t in node.inputs + node.outputs}
    for sample in calib_inputs:
        for t, x in zip(node.inputs, sample):
            calib[t].append(np.asarray(x, dtype=np.float64))
        for t, y in zip(node.outputs, kind.run_float(node, sample)):
            calib[t].append(y)
    for i, t in enumerate(node.inputs):
        peak = max(float(np.abs(a).max()) for a in calib[t])
        dtype = in_types[i] if in_types else fixed_for_max(peak, act_bits)
        g.tensors[t].type = TensorType(g.tensors[t].type.shape, dtype)
    kind.quantize(node, g, make_config(calib, act_bits))
    return [g.tensors[t].type.dtype for t in node.inputs]


@dataclass
class CppCase:
    graph: Graph
    node: Node
    inputs: list[np.ndarray]  # raw int64 values (float values for a float graph), one per input


def _ctype(graph: Graph, t: str) -> str:
    return graph.tensors[t].type.dtype.c_type()


def _c_init(a: np.ndarray, float_fmt: bool = False) -> str:
    fmt = (lambda v: f"{float(v)!r}f") if float_fmt else (lambda v: f"{int(v)}LL")
    if a.ndim == 0:
        return fmt(a)
    if a.ndim == 1:
        return "{" + ", ".join(fmt(v) for v in a) + "}"
    return "{" + ",\n".join(_c_init(r, float_fmt) for r in a) + "}"


def _native_int(t) -> str:
    """C type for an integer param array. The templates only read entries as integers, so a
    native type holds the same values; g++ needs minutes (at -O0) for big ap_int initializers."""
    if not (t.is_fixed and t.frac == 0 and t.width <= 64):
        return t.c_type()
    return ("int" if t.width <= 32 else "long long") if t.signed else (
        "unsigned" if t.width <= 32 else "unsigned long long")


def _weights(node: Node, quantized: bool) -> str:
    out = []
    for key, p in node.params.items():
        if key.startswith("q_") != quantized:
            continue
        if quantized:
            ctype = _native_int(numtype_from_json(node.attrs["param_types"][key]))
            body = _c_init(p.data)
        else:
            ctype = "float"
            body = _c_init(p.data.astype(np.float64), float_fmt=True)
        dims = "".join(f"[{d}]" for d in p.data.shape)
        out.append(f"static const {ctype} {node.name}_{key}{dims} = {body};")
    return "\n".join(out)


def _quantized(graph: Graph, node: Node) -> bool:
    return graph.tensors[node.outputs[0]].type.dtype.is_fixed


def render_stage(graph: Graph, node: Node) -> str:
    """The stage function of ``node`` from its kind's template (the backend's conventions)."""
    env = template_env()
    kind = op_kind(node.op)
    # one element per stream transfer (beat 1): the stage's arithmetic is what these tests check
    port = lambda t: {"name": t, "ctype": _ctype(graph, t), "shape": graph.tensors[t].type.shape,
                      "beat": 1, "stype": _ctype(graph, t)}
    ctx = {
        "node": node, "fn": node.name,
        "ins": [port(t) for t in node.inputs], "outs": [port(t) for t in node.outputs],
        "S": graph.tensors[node.outputs[0]].type.shape[0],
        "quantized": _quantized(graph, node),
        **kind.hls_context(node, graph),
    }
    return env.get_template(f"ops/{kind.hls_template}").render(**ctx)


def build_source(cases: list[CppCase]) -> str:
    parts = ["#include <cstdio>", "#include <hls_stream.h>", '#include "llm2hls_nonlinear.h"', ""]
    calls = []
    for i, c in enumerate(cases):
        g, n = c.graph, c.node
        q = _quantized(g, n)
        parts += [f"namespace case{i} {{", _weights(n, q), render_stage(g, n), "}", ""]
        body = [f"    {{  // case {i}: {n.op}"]
        for j, t in enumerate(n.inputs):
            ct, numel = _ctype(g, t), g.tensors[t].type.numel
            if q:
                conv = f"llm2hls::nl::from_raw<{ct}, {g.tensors[t].type.dtype.frac}>(r)"
                read = 'long long r; if (scanf("%lld", &r) != 1) return 1;'
            else:
                conv, read = "(float)r", 'double r; if (scanf("%lf", &r) != 1) return 1;'
            body += [f"        hls::stream<{ct}> in{j};",
                     f"        for (int e = 0; e < {numel}; ++e) {{ {read} in{j}.write({conv}); }}"]
        ot = n.outputs[0]
        show = 'printf("%lld\\n", llm2hls::nl::raw(out0.read()))' if q else 'printf("%.9g\\n", (double)out0.read())'
        body += [f"        hls::stream<{_ctype(g, ot)}> out0;",
                 f"        case{i}::{n.name}({', '.join(f'in{j}' for j in range(len(n.inputs)))}, out0);",
                 f"        for (int e = 0; e < {g.tensors[ot].type.numel}; ++e) {show};",
                 "        if (!out0.empty()) return 2;",
                 *[f"        if (!in{j}.empty()) return 3;" for j in range(len(n.inputs))],
                 "    }"]
        calls += body
    parts += ["int main() {", *calls, "    return 0;", "}"]
    return "\n".join(parts)


def run_cpp(cases: list[CppCase], workdir: str | None = None) -> list[np.ndarray]:
    """Compile all cases into one program, run it, return raw outputs (shaped) per case."""
    src = build_source(cases)
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        cpp, exe = Path(tmp) / "nl.cpp", Path(tmp) / "nl"
        cpp.write_text(src)
        cmd = ["g++", "-std=c++14", "-O0", "-isystem", str(AP_TYPES), "-I", str(HLS_TEMPLATES),
               "-Wno-unknown-pragmas", "-Wno-unused-label", "-o", str(exe), str(cpp)]
        res = subprocess.run(cmd, capture_output=True, text=True)
        if res.returncode != 0:
            raise AssertionError(f"g++ failed:\n{res.stderr[:4000]}")
        data = "\n".join(" ".join(_fmt_value(v) for v in np.ravel(x)) for c in cases for x in c.inputs)
        run = subprocess.run([str(exe)], input=data, capture_output=True, text=True, timeout=120)
        if run.returncode != 0:
            raise AssertionError(f"C++ harness exited {run.returncode}: {run.stderr[:2000]}")
    vals = run.stdout.split()
    outs, pos = [], 0
    for c in cases:
        shape = c.graph.tensors[c.node.outputs[0]].type.shape
        n = int(np.prod(shape))
        dtype = np.int64 if _quantized(c.graph, c.node) else np.float64
        outs.append(np.array(vals[pos:pos + n], dtype=dtype).reshape(shape))
        pos += n
    assert pos == len(vals), "harness printed more values than expected"
    return outs


def _fmt_value(v) -> str:
    return str(int(v)) if isinstance(v, (np.integer, int)) else repr(float(v))


def raw_inputs(g: Graph, node: Node, xs: list[np.ndarray]) -> list[np.ndarray]:
    return [quantize(x, g.tensors[t].type.dtype) for t, x in zip(node.inputs, xs)]

