"""The machine a benchmark ran on, recorded next to its figures."""

from __future__ import annotations

import os
import platform


def machine(load: bool = False) -> dict:
    """CPU model, core count and Python version (and the 1/5/15-minute load average with ``load``)."""
    cpu = platform.processor()
    try:
        cpu = next(ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo") if ln.startswith("model name"))
    except (OSError, StopIteration):
        pass
    info = {"nproc": os.cpu_count(), "cpu": cpu, "python": platform.python_version()}
    if load:
        info["load_avg_at_start"] = os.getloadavg()
    return info
