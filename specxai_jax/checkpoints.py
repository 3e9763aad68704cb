"""Flax variable trees on disk with orbax, verified by a sha256 manifest before they are used.

A checkpoint is a directory::

    path/state/          the variable tree (orbax StandardCheckpointer)
    path/metadata.json   the caller's JSON metadata
    path/manifest.json   sha256 of every other file, written last

The whole directory is staged next to ``path`` and renamed into place, so ``path`` either does not
exist or is complete. Loading re-hashes every file; a missing, extra, truncated or altered file raises
:class:`CorruptCheckpoint` instead of returning wrong arrays.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import uuid
from pathlib import Path

import jax

from specxai_jax import atomic

MANIFEST = "manifest.json"
METADATA = "metadata.json"
STATE = "state"
FORMAT_VERSION = 1


class CorruptCheckpoint(Exception):
    """A checkpoint directory is incomplete or its files do not match their manifest."""

    def __init__(self, path: str | os.PathLike, reason: str):
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"corrupt checkpoint {self.path}: {reason}")


@contextlib.contextmanager
def _quiet_orbax():
    """Hide orbax's INFO/WARNING chatter (absl logging) while a save or restore runs."""
    logger = logging.getLogger("absl")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _checkpointer():
    import orbax.checkpoint as ocp  # deferred: orbax is slow to import and only needed here

    return ocp.StandardCheckpointer()


def _remove_stale_staging(path: Path) -> None:
    """Delete staging directories that a killed save of ``path`` left behind."""
    for stale in path.parent.glob(f".{path.name}{atomic.TEMP_MARKER}*"):
        shutil.rmtree(stale, ignore_errors=True)


def save_variables(path: str | os.PathLike, variables: dict, metadata: dict) -> None:
    """Write ``variables`` (nested dict of arrays) and JSON ``metadata`` to the directory ``path``.

    Replaces an existing checkpoint at ``path``; a kill mid-save leaves the old one (or none).
    """
    path = Path(path).absolute()
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_staging(path)
    staging = path.parent / f".{path.name}{atomic.TEMP_MARKER}{uuid.uuid4().hex}"
    staging.mkdir()
    try:
        with _quiet_orbax(), _checkpointer() as checkpointer:
            checkpointer.save(staging / STATE, variables)
            checkpointer.wait_until_finished()
        atomic.write_json(staging / METADATA, metadata)
        manifest = {"format": FORMAT_VERSION, "files": atomic.sha256_tree(staging)}
        atomic.write_json(staging / MANIFEST, manifest)
        if path.exists():
            retired = path.parent / f".{path.name}{atomic.TEMP_MARKER}old-{uuid.uuid4().hex}"
            os.replace(path, retired)
            os.replace(staging, path)
            shutil.rmtree(retired, ignore_errors=True)
        else:
            os.replace(staging, path)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def verify(path: str | os.PathLike) -> dict:
    """Check every file of the checkpoint at ``path`` against its manifest; return the metadata.

    Raises :class:`CorruptCheckpoint` (or FileNotFoundError if ``path`` does not exist).
    """
    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        manifest = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
        expected = manifest["files"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise CorruptCheckpoint(path, f"manifest missing or unreadable ({error.__class__.__name__})") from None
    try:
        actual = atomic.sha256_tree(path, exclude=(MANIFEST,))
    except OSError as error:
        raise CorruptCheckpoint(path, f"unreadable file ({error})") from None
    if actual.keys() != expected.keys():
        missing = sorted(expected.keys() - actual.keys())
        extra = sorted(actual.keys() - expected.keys())
        raise CorruptCheckpoint(path, f"missing files {missing[:3]}, unexpected files {extra[:3]}")
    changed = sorted(name for name, digest in expected.items() if actual[name] != digest)
    if changed:
        raise CorruptCheckpoint(path, f"checksum mismatch in {changed[:3]}")
    try:
        return json.loads((path / METADATA).read_text(encoding="utf-8"))
    except ValueError:
        raise CorruptCheckpoint(path, "metadata.json is not valid JSON") from None


def _restore_target(checkpointer, state: Path):
    """Abstract tree (shape, dtype, default device) of a saved state, so restore needs no saved sharding."""
    tree = checkpointer.metadata(state).item_metadata.tree
    sharding = jax.sharding.SingleDeviceSharding(jax.devices()[0])
    return jax.tree.map(lambda leaf: jax.ShapeDtypeStruct(leaf.shape, leaf.dtype, sharding=sharding), tree)


def load_variables(path: str | os.PathLike) -> tuple[dict, dict]:
    """(variables, metadata) of the checkpoint at ``path``, verified first.

    Arrays come back as jax arrays on the default device, bit for bit as saved.
    Raises :class:`CorruptCheckpoint` if anything does not check out, FileNotFoundError if absent.
    """
    path = Path(path).absolute()
    metadata = verify(path)
    try:
        with _quiet_orbax(), _checkpointer() as checkpointer:
            variables = checkpointer.restore(path / STATE, _restore_target(checkpointer, path / STATE))
    except Exception as error:  # orbax raises many kinds; any failure means unusable files
        raise CorruptCheckpoint(path, f"orbax could not restore the state ({error.__class__.__name__})") from error
    return variables, metadata
