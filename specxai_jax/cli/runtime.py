"""Process-wide JAX settings, applied by the entry points (importing the library never changes them).

- :func:`use_cpu_devices`: expose the host CPU as several XLA devices, so models train side by side,
  one per device (:class:`specxai_jax.training.train.PerDeviceEngine`), and images are split over them.
- :func:`use_compile_cache`: JAX's persistent compilation cache, so a rerun, ``--fresh`` or the next
  command of a reproduction loads its programs instead of compiling them again.
"""

from __future__ import annotations

import os
from pathlib import Path

import jax

MAX_CPU_DEVICES = 8
CACHE_ENV = "SPECXAI_COMPILE_CACHE"


def default_cpu_devices() -> int:
    """One XLA CPU device per core this process may use, at most :data:`MAX_CPU_DEVICES`."""
    return max(1, min(len(os.sched_getaffinity(0)), MAX_CPU_DEVICES))


def use_cpu_devices(count: int | None = None) -> int:
    """Split the host CPU into ``count`` XLA devices (default :func:`default_cpu_devices`).

    Must run before JAX first computes anything; afterwards, or when ``XLA_FLAGS`` already sets a host
    device count, it changes nothing. Returns the number of CPU devices JAX will have.
    """
    count = default_cpu_devices() if count is None else count
    if "xla_force_host_platform_device_count" in os.environ.get("XLA_FLAGS", ""):
        return len(jax.devices("cpu"))
    try:
        jax.config.update("jax_num_cpu_devices", count)
    except RuntimeError:  # the backend already started (e.g. a caller that ran JAX before main)
        pass
    return len(jax.devices("cpu"))


def default_compile_cache() -> Path | None:
    """``$SPECXAI_COMPILE_CACHE`` (empty or ``off``: none), else ``$XDG_CACHE_HOME/specxai-jax/xla``."""
    value = os.environ.get(CACHE_ENV)
    if value is not None:
        return None if value.strip().lower() in ("", "off", "none") else Path(value)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "specxai-jax" / "xla"


def use_compile_cache(path: Path | None = None, min_compile_seconds: float = 0.05) -> Path | None:
    """Keep every program that took ≥ ``min_compile_seconds`` to compile in ``path`` (default
    :func:`default_compile_cache`) and load it from there next time. Returns the directory, or None
    when disabled or when the directory cannot be created (then nothing is cached)."""
    path = default_compile_cache() if path is None else path
    if path is None:
        return None
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    jax.config.update("jax_compilation_cache_dir", str(path))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", min_compile_seconds)
    return path
