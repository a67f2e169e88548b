"""Board database: off-chip memory, on-chip resources, clock and power of the supported targets.

Every figure comes from the vendor's data sheet or product brief; docs/targets.md lists the
source of each one and marks the uncertain ones. The performance model (``llm2hls.perf``) and the
exploration (``llm2hls.dse``) read boards only through :func:`get_target`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

from ..errors import UserError

BRAM18_BITS = 18 * 1024
URAM_BITS = 288 * 1024


@dataclass(frozen=True)
class MemorySpec:
    """The off-chip memory the accelerator streams weights and the KV cache from.

    ``channels`` are the independent ports a kernel can keep busy at once (HBM pseudo-channels,
    or the PS-side AXI HP ports of a Zynq); ``gbps_per_channel`` is the peak of one channel in
    GB/s (1e9 bytes/s) and ``latency_ns`` the typical idle read latency (used to size prefetch
    buffers and, later, by the RTL memory model).
    """

    kind: str  # "HBM2", "HBM2e", "DDR4"
    channels: int
    gbps_per_channel: float
    capacity_gb: float
    latency_ns: float
    burst_efficiency: float  # eta: sustained / peak for long sequential bursts (assumption)

    @property
    def total_gbps(self) -> float:
        return self.channels * self.gbps_per_channel


@dataclass(frozen=True)
class Target:
    """One board: off-chip memory, FPGA fabric resources, default kernel clock, board power."""

    name: str
    part: str
    description: str
    memory: MemorySpec
    bram18: int
    uram: int
    dsp: int
    lut: int
    ff: int
    clock_mhz: float
    static_w: float  # board idle power (FPGA static + memory + regulators), an estimate
    max_w: float  # board power limit from the vendor
    port_bits: int = 512  # width of one kernel m_axi port
    usable: float = 0.8  # fraction of the fabric a kernel may use (shell, routing, timing margin)
    notes: str = ""

    @property
    def onchip_bytes(self) -> int:
        """All BRAM + URAM capacity in bytes."""
        return (self.bram18 * BRAM18_BITS + self.uram * URAM_BITS) // 8

    def budget(self) -> dict[str, int]:
        """Resources a kernel may use: ``usable`` x the device totals."""
        return {k: int(getattr(self, k) * self.usable) for k in ("dsp", "bram18", "uram", "lut", "ff")}

    def with_clock(self, mhz: float | None) -> "Target":
        return self if mhz is None else replace(self, clock_mhz=float(mhz))

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["memory"]["total_gbps"] = self.memory.total_gbps
        d["onchip_bytes"] = self.onchip_bytes
        return d


_HBM_U280 = MemorySpec("HBM2", 32, 460 / 32, 8, 250.0, 0.85)

TARGETS: dict[str, Target] = {
    t.name: t
    for t in (
        Target(
            "U280", "xcu280-fsvh2892-2L-e", "AMD Alveo U280 (UltraScale+ VU37P-class, 8 GB HBM2)",
            _HBM_U280, bram18=4032, uram=960, dsp=9024, lut=1_304_000, ff=2_607_000,
            clock_mhz=300, static_w=30, max_w=225,
            notes="also 2x16 GB DDR4 (38 GB/s), not modeled",
        ),
        Target(
            "U55C", "xcu55c-fsvh2892-2L-e", "AMD Alveo U55C (16 GB HBM2)",
            replace(_HBM_U280, capacity_gb=16), bram18=4032, uram=960, dsp=9024,
            lut=1_304_000, ff=2_607_000, clock_mhz=300, static_w=25, max_w=150,
        ),
        Target(
            "V80", "xcv80-lsva4737-2MHP-e-S", "AMD Alveo V80 (Versal HBM, 32 GB HBM2e)",
            MemorySpec("HBM2e", 32, 820 / 32, 32, 250.0, 0.85), bram18=2 * 3741, uram=1925,
            dsp=10_848, lut=2_574_000, ff=5_148_000, clock_mhz=300, static_w=40, max_w=190,
            notes="BRAM/URAM counts uncertain; also 32 GB DDR4, not modeled",
        ),
        Target(
            "ZCU102", "xczu9eg-ffvb1156-2-e", "AMD Zynq UltraScale+ ZCU102 (PS DDR4, 64-bit)",
            MemorySpec("DDR4", 4, 19.2 / 4, 4, 150.0, 0.8), bram18=1824, uram=0, dsp=2520,
            lut=274_080, ff=548_160, clock_mhz=300, static_w=15, max_w=60, port_bits=128,
            notes="channels = 4 PL-side AXI HP ports sharing one 64-bit DDR4-2400 controller",
        ),
        Target(
            "KV260", "xck26-sfvc784-2LV-c", "AMD Kria KV260 (K26 SOM, 4 GB DDR4, 64-bit)",
            MemorySpec("DDR4", 4, 19.2 / 4, 4, 150.0, 0.8), bram18=288, uram=64, dsp=1248,
            lut=117_120, ff=234_240, clock_mhz=300, static_w=6, max_w=36, port_bits=128,
            notes="channels = 4 PL-side AXI HP ports sharing one 64-bit DDR4-2400 controller",
        ),
        Target(
            "generic", "-", "A generic mid-range FPGA with one DDR4-2400 channel (assumed figures)",
            MemorySpec("DDR4", 1, 19.2, 4, 150.0, 0.8), bram18=1000, uram=0, dsp=1000,
            lut=200_000, ff=400_000, clock_mhz=200, static_w=10, max_w=50, port_bits=512,
            notes="not a product: a neutral baseline for what-if studies",
        ),
    )
}


def target_names() -> list[str]:
    return list(TARGETS)


def get_target(name: str, clock_mhz: float | None = None) -> Target:
    """The target called ``name`` (case-insensitive), optionally at another kernel clock."""
    for key, t in TARGETS.items():
        if key.lower() == name.strip().lower():
            if clock_mhz is not None and clock_mhz <= 0:
                raise UserError(f"clock {clock_mhz} MHz is not positive; pass e.g. --clock-mhz 300")
            return t.with_clock(clock_mhz)
    raise UserError(f"unknown target {name!r}; known targets: {', '.join(TARGETS)}")
