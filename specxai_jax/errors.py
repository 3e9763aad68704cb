"""Every exception and warning the library raises on purpose (a leaf module: it imports nothing).

The command line turns each user error (:class:`UsageError`, :class:`DataError`, :class:`CorruptCheckpoint`)
into one ``error: …`` line and exit code 2 (:mod:`specxai_jax.cli.validation`); library callers catch them
as usual. Messages name library arguments; the command line adds flag names where they differ.
"""

from __future__ import annotations

import os
from pathlib import Path


class UsageError(ValueError):
    """A user's setting cannot be used; the message says what is wrong and how to fix it."""


class DataError(ValueError):
    """A dataset cannot be used; the message is one line saying what is wrong and how to fix it."""

    def __init__(self, message: str):
        super().__init__(" ".join(str(message).split()))


class CorruptCheckpoint(Exception):
    """A checkpoint directory is incomplete or its files do not match their manifest."""

    def __init__(self, path: str | os.PathLike, reason: str):
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"corrupt checkpoint {self.path}: {reason}")


class PretrainedCheckpointError(UsageError):
    """A pretrained (Hugging Face) checkpoint cannot be found, read or matched to its architecture."""


class StoreBusy(Exception):
    """The store cannot be used now: another process holds its lock, or ``models`` is not a directory."""


class NeuralTangentsMissing(UsageError, ImportError):
    """neural-tangents is not installed; the message names the install command."""


class MapLayoutError(UsageError):
    """Maps that are not one (H, W) map or a batch (B, H, W) once their channels are summed."""


class RankGradientError(UsageError):
    """A derivative asked of rank-normalized maps: ranks are piecewise constant and have none."""


class SpecxaiWarning(UserWarning):
    """A result is defined but degenerate (dead network, non-finite value replaced, entry recomputed)."""


USER_ERRORS = (UsageError, DataError, CorruptCheckpoint)
"""The errors that mean "the user's input is wrong": one line and exit code 2 on the command line."""
