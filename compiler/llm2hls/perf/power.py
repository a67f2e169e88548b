"""Power model: board static power + fabric dynamic power + off-chip memory energy per byte.

``P = static_w(target) + activity x sum(resource x coefficient x f/100 MHz) + bytes/s x E_byte``

The coefficients are engineering estimates of UltraScale+ fabric power (the order of magnitude
AMD's Power Estimator gives at 12.5 % LUT toggle, 50 % BRAM enable), and the energy per byte comes
from published DRAM figures; docs/performance.md gives sources and the +-50 % uncertainty. Use
tokens/J to compare designs on one board, not as a measured number.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..targets import Target

# dynamic power in mW per unit per 100 MHz of kernel clock (estimates, +-50 %)
MW_PER_100MHZ = {"dsp": 0.6, "bram18": 0.5, "uram": 1.2, "lut": 0.0025, "ff": 0.0005}
# off-chip access energy, pJ per byte (HBM2 ~3.9 pJ/bit; DDR4 incl. PHY ~15 pJ/bit)
PJ_PER_BYTE = {"HBM2": 3.9 * 8, "HBM2e": 3.9 * 8, "DDR4": 15.0 * 8}
UNCERTAINTY = 0.5


@dataclass(frozen=True)
class Power:
    static_w: float
    fabric_w: float
    memory_w: float

    @property
    def total_w(self) -> float:
        return self.static_w + self.fabric_w + self.memory_w


def estimate_power(target: Target, resources: dict[str, int], activity: float,
                   offchip_bytes_per_s: float) -> Power:
    """Board power of a design using ``resources`` with compute ``activity`` in [0, 1]."""
    scale = target.clock_mhz / 100.0
    compute = resources.get("dsp", 0) * MW_PER_100MHZ["dsp"] * min(1.0, max(0.0, activity))
    rest = sum(resources.get(k, 0) * MW_PER_100MHZ[k] for k in ("bram18", "uram", "lut", "ff"))
    fabric_w = (compute + rest) * scale / 1000.0
    memory_w = offchip_bytes_per_s * PJ_PER_BYTE[target.memory.kind] * 1e-12
    return Power(target.static_w, fabric_w, memory_w)
