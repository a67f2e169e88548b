"""Plots of a modeled design (matplotlib, Agg backend, PNG files).

:func:`write_plots` is the entry point the report module calls: it writes ``roofline.png``,
``stage_breakdown.png`` and ``resources.png`` into a folder and returns their paths.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402

from ..targets import Target  # noqa: E402
from .model import Performance  # noqa: E402


def plot_roofline(perf: Performance, target: Target, path: Path, title: str = "",
                  eta: float | None = None) -> Path:
    """Decode tokens/s against off-chip bytes per token, with the bandwidth roofline."""
    bw = target.memory.total_gbps * 1e9
    eta = target.memory.burst_efficiency if eta is None else eta
    x0 = perf.offchip_bytes_per_token
    # everything on chip (x0 = 0): span the all-off-chip bytes and draw the design as a level
    ref = x0 or bw / perf.roofline_all_offchip_tps
    xs = [ref * f for f in (0.1, 0.2, 0.5, 1, 2, 5, 10)]
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    ax.loglog(xs, [bw / x for x in xs], "k-", label=f"peak {target.memory.total_gbps:.0f} GB/s")
    ax.loglog(xs, [eta * bw / x for x in xs], "k--", label=f"eta = {eta:.2f} x peak")
    if x0:
        ax.plot([x0], [perf.decode_tps], "o", color="tab:red", ms=9,
                label=f"design: {perf.decode_tps:.0f} tok/s ({perf.fraction_of_roofline:.0%} of roofline)")
    else:
        ax.axhline(perf.decode_tps, color="tab:red",
                   label=f"design: {perf.decode_tps:.0f} tok/s, all on chip (no off-chip bytes)")
    ax.set_xlabel("off-chip bytes per decoded token")
    ax.set_ylabel("decode tokens/s (batch 1)")
    ax.set_title(title or f"Bandwidth roofline on {target.name}")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, path)


def plot_stage_breakdown(perf: Performance, clock_mhz: float, path: Path, top: int = 14) -> Path:
    """Decode time per stage (all layer copies), split into compute- and memory-bound time."""
    rows = sorted(perf.stages_decode, key=lambda s: -s.total)[:top][::-1]
    us = [s.total / clock_mhz for s in rows]
    colors = ["tab:blue" if s.bound == "memory" else "tab:orange" for s in rows]
    fig, ax = plt.subplots(figsize=(6.4, 0.32 * len(rows) + 1.4))
    ax.barh([f"{s.name} x{s.count}" for s in rows], us, color=colors)
    ax.set_xlabel("microseconds per decode step (blue: memory-bound, orange: compute-bound)")
    ax.set_title(f"Decode step {perf.decode_step_s * 1e3:.3f} ms: per-stage time")
    ax.grid(True, axis="x", alpha=0.3)
    return _save(fig, path)


def plot_resources(perf: Performance, target: Target, path: Path) -> Path:
    """Used share of each resource, with the kernel budget line."""
    keys = ["dsp", "bram18", "uram", "lut", "ff"]
    shares = [100 * perf.utilization[k] for k in keys]
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    bars = ax.bar([k.upper() for k in keys], shares,
                  color=["tab:red" if s > 100 * target.usable else "tab:green" for s in shares])
    for b, k in zip(bars, keys):
        ax.annotate(f"{perf.resources[k]:,}", (b.get_x() + b.get_width() / 2, b.get_height()),
                    ha="center", va="bottom", fontsize=8)
    ax.axhline(100 * target.usable, color="k", ls="--", label=f"kernel budget ({target.usable:.0%})")
    ax.set_ylim(0, 110)
    ax.set_ylabel(f"% of {target.name} ({target.part})")
    ax.set_title("Resources against the board")
    ax.legend(fontsize=8)
    return _save(fig, path)


def write_plots(perf: Performance, target: Target, folder: str | Path, title: str = "") -> dict[str, Path]:
    """Write the three plots into ``folder`` (created if needed); returns name -> path."""
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    return {
        "roofline": plot_roofline(perf, target, out / "roofline.png", title),
        "stage_breakdown": plot_stage_breakdown(perf, target.clock_mhz, out / "stage_breakdown.png"),
        "resources": plot_resources(perf, target, out / "resources.png"),
    }


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)
