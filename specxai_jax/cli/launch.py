"""Start-up of the command-line entry points: glibc's malloc on transparent huge pages.

XLA:CPU allocates a program's buffers anew at every call, and glibc serves the large ones with fresh
memory mappings, so every training step touches tens of MB of new 4 KiB pages: a 64 px, depth-5 sweep
spends a fifth of its CPU time in the kernel's page-fault handler. glibc's tunable
``glibc.malloc.hugetlb=1`` (glibc ≥ 2.35) asks for transparent huge pages on those mappings, where the
kernel grants them on request ("madvise" mode): about 30× fewer faults, the sweep ~12 % faster, the
same numbers (benchmarks/RESULTS.md). glibc reads its tunables only when a process starts, so a command
started as a command (a console script, ``python -m experiments.…`` or ``python -m ntk.…``) runs
itself again, once, with the tunable added: this module is stdlib only, and :mod:`specxai_jax.cli.entry`
calls :func:`rerun_with_huge_pages` before importing anything else; importing the library never does. Nothing happens where the tunable is already set (set ``glibc.malloc.hugetlb=0`` to opt
out), where the kernel already uses huge pages everywhere or never, or off Linux/glibc.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Mapping

TUNABLE = "glibc.malloc.hugetlb"
THP_MODE = Path("/sys/kernel/mm/transparent_hugepage/enabled")


def huge_page_environment(environ: Mapping[str, str], thp_mode: str, libc: str) -> dict[str, str] | None:
    """``environ`` with glibc's huge-page tunable added, or None where adding it would change nothing.

    ``thp_mode``: the kernel's setting as /sys shows it ("always [madvise] never"); ``libc``:
    ``os.confstr("CS_GNU_LIBC_VERSION")`` ("glibc 2.36"), empty off glibc.
    """
    name, _, version = libc.partition(" ")
    if name != "glibc" or tuple(int(part) for part in version.split(".")[:2]) < (2, 35):
        return None
    if "[madvise]" not in thp_mode or TUNABLE in environ.get("GLIBC_TUNABLES", ""):
        return None
    tunables = ":".join(filter(None, (environ.get("GLIBC_TUNABLES"), f"{TUNABLE}=1")))
    return {**environ, "GLIBC_TUNABLES": tunables}




def rerun_with_huge_pages() -> None:
    """Replace this process by the same command with :data:`TUNABLE` set, where that helps (else return)."""
    if sys.platform != "linux":
        return
    try:
        environ = huge_page_environment(os.environ, THP_MODE.read_text(), os.confstr("CS_GNU_LIBC_VERSION") or "")
    except (OSError, ValueError):
        return
    if environ is not None:
        sys.stdout.flush()
        sys.stderr.flush()
        os.execve(sys.executable, sys.orig_argv, environ)
