"""What a benchmark ran on: device, package versions, XLA flags, load; and the median of timed runs."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import statistics
import time
from typing import Callable

import jax


def describe() -> dict:
    """Device, CPU, versions of the packages that matter, XLA_FLAGS and the 1-minute load average."""
    versions = {}
    for name in ("jax", "jaxlib", "flax", "numpy", "scipy", "torch"):
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    device = jax.devices()[0]
    return {
        "device": f"{device.platform}:{device.device_kind}",
        "device_count": jax.device_count(),
        "cpu": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "versions": versions,
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
        "load_average_1min": os.getloadavg()[0],
    }


def median_seconds(runs: dict[str, Callable[[], None]], repeats: int) -> dict[str, list[float]]:
    """Wall seconds of each callable, ``repeats`` times, interleaved so load spikes hit all alike."""
    seconds = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            start = time.perf_counter()
            run()
            seconds[name].append(time.perf_counter() - start)
    return seconds


def median(values: list[float]) -> float:
    return float(statistics.median(values))
