"""Which code produced a run: the git commit of this checkout, when it is one."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # the checkout: specxai_jax/storage/provenance.py → repository root


def git_commit() -> str | None:
    """Full hash of HEAD, with "-dirty" when tracked files differ from it; None outside a git checkout."""
    try:
        top = subprocess.run(["git", "rev-parse", "--show-toplevel"], cwd=ROOT, capture_output=True, text=True,
                             timeout=10, check=True).stdout.strip()
        if Path(top).resolve() != ROOT:  # the package lies in some other repository (or is installed)
            return None
        return subprocess.run(["git", "describe", "--always", "--dirty", "--abbrev=40"], cwd=ROOT,
                              capture_output=True, text=True, timeout=30, check=True).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None
