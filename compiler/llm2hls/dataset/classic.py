"""Classic HLS kernels written for this project, each with a numpy oracle and a parameter grid.

Each kernel is a Jinja template under ``templates/dataset/kernels`` plus three functions here:
``ports`` (interface), ``inputs`` (random test vectors; vector 0 also hits the extremes) and
``oracle`` (an independent numpy/Python model of the arithmetic, bit for bit).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Callable

import jinja2
import numpy as np

from ..ir.types import FixedType
from ..numerics import convert
from .base import BaseDesign
from .toolchain import TEMPLATES

I64 = np.int64


@dataclass(frozen=True)
class Port:
    name: str
    ctype: str
    shape: tuple
    dir: str  # in | out
    kind: str = "array"  # array | scalar | stream

    @property
    def numel(self) -> int:
        return int(np.prod(self.shape)) if self.shape else 1


@dataclass(frozen=True)
class Kernel:
    name: str
    grid: dict  # param name -> list of values (cartesian product, filtered by ``valid``)
    typedefs: Callable[[dict], list[str]]
    ports: Callable[[dict], list[Port]]
    inputs: Callable[[dict, np.random.Generator, bool], dict]
    oracle: Callable[[dict, dict], dict]
    derived: Callable[[dict], dict] = lambda p: {}
    facts: Callable[[dict], dict] = lambda p: {}
    valid: Callable[[dict], bool] = lambda p: True
    family: str = ""


def _ri(rng, lo, hi, shape, extreme):
    """Random ints in [lo, hi]; for the harness vector the first elements are the extremes."""
    a = rng.integers(lo, hi + 1, size=shape, dtype=I64)
    if extreme and a.size >= 2:
        flat = a.reshape(-1)
        flat[0], flat[1] = hi, lo
    return a


# ---------------------------------------------------------------- integer kernels
def _gemm_oracle(p, x):
    return {"C": x["A"] @ x["B"]}


def _conv1d_oracle(p, x):
    n, t = p["N"], p["T"]
    y = np.array([int(np.dot(x["x"][i:i + t], x["w"])) for i in range(n)], dtype=I64)
    return {"y": y >> p["S"]}


def _conv2d_oracle(p, x):
    h, w = p["H"], p["W"]
    img, k = x["img"], x["k"]
    out = np.zeros((h - 2, w - 2), dtype=I64)
    for r in range(h - 2):
        for c in range(w - 2):
            out[r, c] = int(np.sum(img[r:r + 3, c:c + 3] * k))
    return {"out": out}


def _fir_oracle(p, x):
    full = np.convolve(x["x"], x["c"])[: p["N"]]
    return {"y": full.astype(I64) >> p["S"]}


def _hist_oracle(p, x):
    bins = np.zeros(p["B"], dtype=I64)
    np.add.at(bins, x["px"] >> (8 - p["LB"]), x["wt"])
    return {"hist": bins}


def _fft_twiddles(n):
    k = np.arange(n // 2)
    wr = np.floor(np.cos(2 * np.pi * k / n) * 16384 + 0.5).astype(I64)
    wi = np.floor(-np.sin(2 * np.pi * k / n) * 16384 + 0.5).astype(I64)
    return wr, wi


def _fft_oracle(p, x):
    n = p["N"]
    wr, wi = _fft_twiddles(n)
    re, im = [int(v) for v in x["xr"]], [int(v) for v in x["xi"]]
    half = 1
    while half < n:  # Python ints: >> is floor division, as gcc's arithmetic shift
        step = n // (2 * half)
        for g in range(0, n, 2 * half):
            for j in range(half):
                a, b, tw = g + j, g + j + half, j * step
                tr = (re[b] * int(wr[tw]) - im[b] * int(wi[tw])) >> 14
                ti = (re[b] * int(wi[tw]) + im[b] * int(wr[tw])) >> 14
                re[b], im[b] = (re[a] - tr) >> 1, (im[a] - ti) >> 1
                re[a], im[a] = (re[a] + tr) >> 1, (im[a] + ti) >> 1
        half *= 2
    return {"yr": np.array(re, dtype=I64), "yi": np.array(im, dtype=I64)}


def _spmv_inputs(p, rng, extreme):
    r, c, nnz = p["R"], p["C"], p["NNZ"]
    counts = np.bincount(rng.integers(0, r, size=nnz), minlength=r)
    rowptr = np.concatenate([[0], np.cumsum(counts)]).astype(I64)
    cols = np.concatenate([np.sort(rng.choice(c, size=k, replace=False)) if k <= c else
                           rng.integers(0, c, size=k) for k in counts]).astype(I64)
    return {"rowptr": rowptr, "col": cols, "val": _ri(rng, -512, 511, nnz, extreme),
            "x": _ri(rng, -512, 511, c, extreme)}


def _spmv_oracle(p, x):
    y = np.zeros(p["R"], dtype=I64)
    for r in range(p["R"]):
        s, e = x["rowptr"][r], x["rowptr"][r + 1]
        y[r] = int(np.dot(x["val"][s:e], x["x"][x["col"][s:e]]))
    return {"y": y}


def _stencil_oracle(p, x):
    a = x["in"]
    out = a.copy()
    s = a[1:-1, 1:-1] * 4 + a[:-2, 1:-1] + a[2:, 1:-1] + a[1:-1, :-2] + a[1:-1, 2:]
    out[1:-1, 1:-1] = s >> 3
    return {"out": out}


def _gather_oracle(p, x):
    return {"out": x["in"][x["idx"]] * x["scale"]}


def _dataflow_oracle(p, x):
    rows = x["in"].reshape(p["R"], p["C"])
    mean = rows.sum(axis=1) >> p["LOGC"]
    return {"out": (rows - mean[:, None]).reshape(-1)}


# ---------------------------------------------------------------- fixed-point kernels
def _matvec_derived(p):
    return {"AW": 16 + 8 + int(math.log2(p["K"])) + 1}


def _matvec_oracle(p, x):
    acc = x["W"] @ x["x"]  # exact, frac FX
    return {"y": convert(acc, p["FX"], FixedType(16, p["FY"], True, "RND", "SAT"))}


def _exp_table_q15(n, tsc):
    v = np.floor(np.exp(-np.arange(n) / 2.0**tsc) * 32768 + 0.5).astype(I64)
    return np.minimum(v, 32767)


def _softmax_derived(p):
    tbl = _exp_table_q15(p["TBL"], p["TSC"])
    return {"LOGN": int(math.log2(p["N"])), "table": [repr(float(v) / 32768) for v in tbl]}


def _softmax_oracle(p, x):
    tbl = _exp_table_q15(p["TBL"], p["TSC"])
    rows = x["in"].reshape(p["R"], p["N"])  # raw, frac 10
    out = []
    for row in rows:
        d = row.max() - row  # frac 10, >= 0
        idx = np.minimum(d >> (10 - p["TSC"]), p["TBL"] - 1)
        e = tbl[idx]  # frac 15
        s = int(e.sum())  # frac 15
        # ap_ufixed division e / sum: quotient frac = 15 + (W2 - I2) - 15 = 15, truncated
        out.append([(int(v) << 15) // s for v in e])
    return {"out": np.minimum(np.array(out, dtype=I64), (1 << 16) - 1).reshape(-1)}


def _isqrt(v: int) -> int:
    return math.isqrt(v)


def _layernorm_oracle(p, x):
    xs = x["x"]  # raw frac 10
    logc = p["LOGC"]
    mean = int(xs.sum()) >> logc  # sum_t >> LOGC then truncating assignment to frac 10
    d = xs - mean  # frac 10
    var = int(np.sum(d * d)) >> logc  # frac 20 (var_t >> drops bits below frac 20: exact floor)
    ve = var + int(round(p["EPS_VAL"] * 2**20))
    root = _isqrt(ve)  # frac 10
    q = (1 << 28) // root  # rstd raw, frac 18
    y = convert(d * q, 28, FixedType(16, 12, True, "RND", "SAT"))
    return {"y": y}


def _layernorm_derived(p):
    return {"LOGC": int(math.log2(p["C"])), "EPS": repr(p["EPS_VAL"])}


def _attn_derived(p):
    tbl = np.floor(np.exp(-np.arange(p["TBL"]) / 2.0 ** (p["SH"] - 2)) * 4096 + 0.5).astype(I64)
    return {"INV": int(math.floor(4096 / math.sqrt(p["D"]) + 0.5)), "table": [str(int(v)) for v in tbl]}


def _attn_oracle(p, x):
    d = _attn_derived(p)
    tbl = np.array([int(v) for v in d["table"]], dtype=I64)
    t = int(x["t"])
    s = ((x["K"] @ x["q"]) * d["INV"]) >> 12
    keep = np.arange(p["S"]) <= t
    mx = s[keep].max()
    idx = np.minimum((mx - s) >> p["SH"], p["TBL"] - 1)
    e = np.where(keep, tbl[np.clip(idx, 0, p["TBL"] - 1)], 0)
    acc = e @ x["V"]
    total = int(e.sum())
    out = np.array([int(a) // total if a >= 0 else -((-int(a)) // total) for a in acc], dtype=I64)
    return {"out": out}


def _log2(v):
    return int(math.log2(v))


KERNELS: dict[str, Kernel] = {k.name: k for k in [
    Kernel("gemm", {"N": [4, 8], "M": [4, 8], "K": [8, 16], "U": [2, 4]},
           lambda p: ["typedef short data_t;", "typedef int acc_t;"],
           lambda p: [Port("A", "data_t", (p["N"], p["K"]), "in"), Port("B", "data_t", (p["K"], p["M"]), "in"),
                      Port("C", "acc_t", (p["N"], p["M"]), "out")],
           lambda p, r, e: {"A": _ri(r, -2048, 2047, (p["N"], p["K"]), e), "B": _ri(r, -2048, 2047, (p["K"], p["M"]), e)},
           _gemm_oracle),
    Kernel("conv1d", {"N": [8, 16, 32], "T": [2, 4, 8], "S": [0, 3]},
           lambda p: ["typedef short data_t;", "typedef int out_t;"],
           lambda p: [Port("x", "data_t", (p["N"] + p["T"],), "in"), Port("w", "data_t", (p["T"],), "in"),
                      Port("y", "out_t", (p["N"],), "out")],
           lambda p, r, e: {"x": _ri(r, -4096, 4095, p["N"] + p["T"], e), "w": _ri(r, -4096, 4095, p["T"], e)},
           _conv1d_oracle),
    Kernel("conv2d", {"H": [5, 8], "W": [6, 9, 12]},
           lambda p: ["typedef unsigned char pix_t;", "typedef signed char coef_t;"],
           lambda p: [Port("img", "pix_t", (p["H"], p["W"]), "in"), Port("k", "coef_t", (3, 3), "in"),
                      Port("out", "int", (p["H"] - 2, p["W"] - 2), "out")],
           lambda p, r, e: {"img": _ri(r, 0, 255, (p["H"], p["W"]), e), "k": _ri(r, -128, 127, (3, 3), e)},
           _conv2d_oracle),
    Kernel("fir", {"N": [16, 32], "T": [4, 8, 16], "S": [0, 4]},
           lambda p: ["typedef short sample_t;", "typedef short coef_t;", "typedef int out_t;"],
           lambda p: [Port("x", "sample_t", (p["N"],), "in"), Port("c", "coef_t", (p["T"],), "in"),
                      Port("y", "out_t", (p["N"],), "out")],
           lambda p, r, e: {"x": _ri(r, -2048, 2047, p["N"], e), "c": _ri(r, -2048, 2047, p["T"], e)},
           _fir_oracle),
    Kernel("histogram", {"N": [32, 64], "LB": [2, 3, 4], "P": [2, 4]},
           lambda p: [],
           lambda p: [Port("px", "unsigned char", (p["N"],), "in"), Port("wt", "unsigned short", (p["N"],), "in"),
                      Port("hist", "int", (p["B"],), "out")],
           lambda p, r, e: {"px": _ri(r, 0, 255, p["N"], e), "wt": _ri(r, 0, 65535, p["N"], e)},
           _hist_oracle, derived=lambda p: {"B": 1 << p["LB"]}),
    Kernel("bitonic", {"N": [8, 16, 32]},
           lambda p: [],
           lambda p: [Port("in", "int", (p["N"],), "in"), Port("out", "int", (p["N"],), "out")],
           lambda p, r, e: {"in": _ri(r, -100000, 100000, p["N"], e)},
           lambda p, x: {"out": np.sort(x["in"])}, family="sort"),
    Kernel("insertion_sort", {"N": [8, 12, 16], "P": [2, 4]},
           lambda p: [],
           lambda p: [Port("in", "short", (p["N"],), "in"), Port("out", "short", (p["N"],), "out")],
           lambda p, r, e: {"in": _ri(r, -32768, 32767, p["N"], e)},
           lambda p, x: {"out": np.sort(x["in"])[::-1].copy()}, family="sort"),
    Kernel("spmv", {"R": [4, 8], "C": [8, 16], "NNZ": [12, 24]},
           lambda p: ["typedef short data_t;"],
           lambda p: [Port("rowptr", "int", (p["R"] + 1,), "in"), Port("col", "int", (p["NNZ"],), "in"),
                      Port("val", "data_t", (p["NNZ"],), "in"), Port("x", "data_t", (p["C"],), "in"),
                      Port("y", "int", (p["R"],), "out")],
           _spmv_inputs, _spmv_oracle),
    Kernel("stencil", {"H": [4, 6, 8], "W": [8, 16]},
           lambda p: [],
           lambda p: [Port("in", "int", (p["H"], p["W"]), "in"), Port("out", "int", (p["H"], p["W"]), "out")],
           lambda p, r, e: {"in": _ri(r, -1 << 20, 1 << 20, (p["H"], p["W"]), e)},
           _stencil_oracle),
    Kernel("fft", {"N": [8, 16, 32]},
           lambda p: [],
           lambda p: [Port("xr", "int", (p["N"],), "in"), Port("xi", "int", (p["N"],), "in"),
                      Port("yr", "int", (p["N"],), "out"), Port("yi", "int", (p["N"],), "out")],
           lambda p, r, e: {"xr": _ri(r, -4096, 4095, p["N"], e), "xi": _ri(r, -4096, 4095, p["N"], e)},
           _fft_oracle,
           derived=lambda p: {"LOG": _log2(p["N"]), "wr": [str(v) for v in _fft_twiddles(p["N"])[0]],
                              "wi": [str(v) for v in _fft_twiddles(p["N"])[1]]}),
    Kernel("matvec", {"N": [4, 8], "K": [8, 16, 32], "U": [2, 4], "FX": [10, 12], "FY": [6, 8]},
           lambda p: [f"typedef ap_fixed<16, {16 - p['FX']}> x_t;", "typedef ap_int<8> w_t;",
                      f"typedef ap_fixed<16, {16 - p['FY']}> y_t;"],
           lambda p: [Port("x", "x_t", (p["K"],), "in"), Port("W", "w_t", (p["N"], p["K"]), "in"),
                      Port("y", "y_t", (p["N"],), "out")],
           lambda p, r, e: {"x": _ri(r, -32768, 32767, p["K"], e), "W": _ri(r, -128, 127, (p["N"], p["K"]), e)},
           _matvec_oracle, derived=_matvec_derived),
    Kernel("softmax", {"R": [1, 2], "N": [8, 16], "TBL": [64, 128], "TSC": [3, 4]},
           lambda p: ["typedef ap_fixed<16, 6> in_t;", "typedef ap_ufixed<16, 1> prob_t;"],
           lambda p: [Port("in", "in_t", (p["R"] * p["N"],), "in", "stream"),
                      Port("out", "prob_t", (p["R"] * p["N"],), "out", "stream")],
           lambda p, r, e: {"in": _ri(r, -8192, 8191, p["R"] * p["N"], e)},
           _softmax_oracle, derived=_softmax_derived),
    Kernel("layernorm", {"C": [8, 16, 32], "P": [2, 4], "EPS_VAL": [2.0**-10, 2.0**-6]},
           lambda p: ["typedef ap_fixed<16, 6> in_t;", "typedef ap_fixed<16, 4, AP_RND, AP_SAT> out_t;"],
           lambda p: [Port("x", "in_t", (p["C"],), "in"), Port("y", "out_t", (p["C"],), "out")],
           lambda p, r, e: {"x": _ri(r, -8191, 8191, p["C"], e)},
           _layernorm_oracle, derived=_layernorm_derived),
    Kernel("attention", {"S": [4, 8], "D": [4, 8, 16], "TBL": [32, 64], "SH": [3, 4]},
           lambda p: ["typedef signed char qk_t;"],
           lambda p: [Port("q", "qk_t", (p["D"],), "in"), Port("K", "qk_t", (p["S"], p["D"]), "in"),
                      Port("V", "qk_t", (p["S"], p["D"]), "in"), Port("t", "int", (), "in", "scalar"),
                      Port("out", "int", (p["D"],), "out")],
           lambda p, r, e: {"q": _ri(r, -128, 127, p["D"], e), "K": _ri(r, -128, 127, (p["S"], p["D"]), e),
                            "V": _ri(r, -128, 127, (p["S"], p["D"]), e),
                            "t": np.array(0 if e else r.integers(0, p["S"]), dtype=I64)},
           _attn_oracle, derived=_attn_derived),
    Kernel("dataflow", {"R": [2, 4], "C": [4, 8, 16]},
           lambda p: ["typedef short data_t;", "typedef int res_t;"],
           lambda p: [Port("in", "data_t", (p["R"] * p["C"],), "in", "stream"),
                      Port("out", "res_t", (p["R"] * p["C"],), "out", "stream")],
           lambda p, r, e: {"in": _ri(r, -32768, 32767, p["R"] * p["C"], e)},
           _dataflow_oracle, derived=lambda p: {"LOGC": _log2(p["C"])},
           facts=lambda p: {"fifo_min_depth": {"a": 1, "b": p["C"], "m": 1},
                            "fifo_reason": {"b": f"'center' reads 'b' only after 'row_mean' has consumed a whole row "
                                                 f"of {p['C']} values from 'a', so 'b' must buffer {p['C']} values"}}),
    Kernel("gather", {"N": [16, 32, 64], "M": [8, 16]},
           lambda p: [],
           lambda p: [Port("in", "int", (p["N"],), "in"), Port("idx", "int", (p["M"],), "in"),
                      Port("out", "int", (p["M"],), "out"), Port("scale", "int", (), "in", "scalar")],
           lambda p, r, e: {"in": _ri(r, -1 << 20, 1 << 20, p["N"], e), "idx": _ri(r, 0, p["N"] - 1, p["M"], e),
                            "scale": np.array(r.integers(-100, 100), dtype=I64)},
           _gather_oracle),
]}


def param_grid(kernel: Kernel) -> list[dict]:
    """All valid parameter sets of ``kernel`` in a fixed order."""
    keys = sorted(kernel.grid)
    out = []
    for vals in itertools.product(*(kernel.grid[k] for k in keys)):
        p = dict(zip(keys, vals))
        if kernel.valid(p):
            out.append(p)
    return out


_ENV = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), undefined=jinja2.StrictUndefined,
                          keep_trailing_newline=True)


def _fmt(a: np.ndarray) -> str:
    return " ".join(str(int(v)) for v in np.asarray(a).reshape(-1)) + "\n"


def build_classic(kernel: Kernel, params: dict, n_vectors: int = 4, seed: int = 0) -> BaseDesign:
    """Render ``kernel`` with ``params`` into a base design with ``n_vectors`` oracle-checked vectors."""
    p = {**params, **kernel.derived(params)}
    ports = kernel.ports(p)
    top = kernel.name
    ctx = {"top": top, "kernel": kernel.name, "ports": ports, "typedefs": kernel.typedefs(p)}
    files = {
        "src/kernel.h": _ENV.get_template("kernel.h.j2").render(**ctx),
        "src/kernel.cpp": _ENV.get_template(f"kernels/{kernel.name}.cpp.j2").render(**p),
        "tb/tb.cpp": _ENV.get_template("tb.cpp.j2").render(**ctx),
        "tb/tb_io.h": (TEMPLATES / "tb_io.h").read_text(),
    }
    pid = "-".join(f"{k}{params[k]}" for k in sorted(params)).replace(".", "_")
    rng = np.random.default_rng([seed, _stable(pid)])
    vectors = []
    for v in range(n_vectors):
        x = kernel.inputs(p, rng, v == 0)
        y = kernel.oracle(p, x)
        vectors.append({"tb/input.txt": "".join(_fmt(x[q.name]) for q in ports if q.dir == "in"),
                        "tb/golden.txt": "".join(_fmt(y[q.name]) for q in ports if q.dir == "out")})
    from .. import __version__

    return BaseDesign(
        id=f"{kernel.name}-{pid}", family=kernel.family or kernel.name,
        provenance={"source": "classic", "kernel": kernel.name, "params": params,
                    "compiler_version": __version__, "vector_seed": seed},
        files=files, mutable=["src/kernel.cpp"], sources=["tb/tb.cpp", "src/kernel.cpp"],
        vectors=vectors, run_args=["tb/input.txt", "tb/golden.txt"], facts=kernel.facts(p))


def _stable(s: str) -> int:
    import zlib

    return zlib.crc32(s.encode())
