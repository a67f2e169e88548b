"""The op-kind interface and registry.

One op kind = one class in one module of this package. The class holds everything the compiler
knows about the kind, so adding an op touches that module and its templates only:

* ``run_float`` — the float meaning (reference interpreter, float mode; matches PyTorch);
* ``quantize`` — choose the output numeric type and integer parameters from calibration;
* ``run_int`` — the exact integer meaning (the golden model every backend reproduces bit for bit);
* ``cost`` — MACs, parameter bytes, analytical cycles and resources (formulas in docs/report.md);
* ``hls_template`` + ``hls_context`` — the Jinja template (``templates/hls/ops/<kind>.j2``) and the
  variables it needs to emit this stage as one Vitis HLS function.

Kinds register themselves with :func:`register`; passes and backends look them up with
:func:`op_kind` and never switch on op names.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

if TYPE_CHECKING:
    from ..ir.graph import Graph, Node
    from ..passes.quantize import QuantConfig


@dataclass
class Cost:
    """Analytical cost of one stage (per inference of ``tokens`` tokens)."""

    macs: int = 0
    param_bytes: int = 0
    cycles: int = 0  # latency estimate of the stage alone, in clock cycles
    ii: int = 1  # initiation interval of the stage's inner pipeline
    dsp: int = 0
    bram18: int = 0
    lut: int = 0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class OpKind:
    """Base class of op kinds. Subclasses set ``name`` and override what applies to them."""

    name: ClassVar[str] = ""
    hls_template: ClassVar[str] = ""  # file under templates/hls/ops/

    # ---- meaning ------------------------------------------------------------------------
    def run_float(self, node: "Node", inputs: list[np.ndarray]) -> list[np.ndarray]:
        raise NotImplementedError(f"{self.name}: float semantics")

    def quantize(self, node: "Node", graph: "Graph", config: "QuantConfig") -> None:
        """Set the numeric types of ``node``'s outputs and add its integer params/attrs.

        Input tensors are already typed (nodes are quantized in topological order); calibration
        statistics are in ``graph.tensors[name].meta`` (``max_abs``, ``absmax_per_channel``...).
        """
        raise NotImplementedError(f"{self.name}: quantization")

    def run_int(self, node: "Node", inputs: list[np.ndarray], graph: "Graph") -> list[np.ndarray]:
        raise NotImplementedError(f"{self.name}: integer semantics")

    # ---- cost ---------------------------------------------------------------------------
    def cost(self, node: "Node", graph: "Graph") -> Cost:
        return Cost(param_bytes=param_bytes(node))

    # ---- HLS backend --------------------------------------------------------------------
    def hls_context(self, node: "Node", graph: "Graph") -> dict[str, Any]:
        """Template variables for this stage beyond the common ones (see backends/hls)."""
        return {}


_REGISTRY: dict[str, OpKind] = {}


def register(cls: type[OpKind]) -> type[OpKind]:
    """Class decorator: make an op kind known to the compiler by its ``name``."""
    if not cls.name:
        raise ValueError(f"{cls.__name__} has no name")
    if cls.name in _REGISTRY:
        raise ValueError(f"op kind {cls.name!r} registered twice")
    _REGISTRY[cls.name] = cls()
    return cls


def op_kind(name: str) -> OpKind:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown op kind {name!r}; known: {sorted(_REGISTRY)}") from None


def all_op_kinds() -> dict[str, OpKind]:
    return dict(_REGISTRY)


def param_bytes(node: "Node") -> int:
    """Bytes of the params a stage keeps in hardware.

    Convention: float params keep their PyTorch-like names (``weight``, ``bias`` ...); the quantize
    pass adds integer versions prefixed ``q_`` and records their bit widths in
    ``attrs['param_bits']``. Once any ``q_`` param exists, only those are counted.
    """
    quantized = any(k.startswith("q_") for k in node.params)
    total = 0
    for key, p in node.params.items():
        if quantized and not key.startswith("q_"):
            continue
        bits = node.attrs.get("param_bits", {}).get(key)
        total += (p.data.size * bits + 7) // 8 if bits else p.data.nbytes
    return int(total)
