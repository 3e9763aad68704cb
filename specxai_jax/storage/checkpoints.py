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
import re
import shutil
import uuid
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from specxai_jax.errors import CorruptCheckpoint
from specxai_jax.storage import atomic

MANIFEST = "manifest.json"
METADATA = "metadata.json"
STATE = "state"
FORMAT_VERSION = 1



@contextlib.contextmanager
def _quiet_orbax():
    """Hide orbax's log chatter (absl logging) while a save or restore runs; its failures are raised."""
    logger = logging.getLogger("absl")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


def _checkpointer():
    import orbax.checkpoint as ocp  # deferred: orbax is slow to import and only needed here

    if jax.process_count() > 1:   # multi-process run: each process saves and restores on its own, no barriers
        own = ocp.options.MultiprocessingOptions(primary_host=jax.process_index(), active_processes={jax.process_index()},
                                                 barrier_sync_key_prefix=f"process{jax.process_index()}")
        return ocp.StandardCheckpointer(multiprocessing_options=own)
    return ocp.StandardCheckpointer()


def _staging_name(path: Path, kind: str = "") -> str:
    """``.<name>.tmp-[kind]<pid>-<random>``: the pid tells a live writer's staging from a killed one's."""
    return f".{path.name}{atomic.TEMP_MARKER}{kind}{os.getpid()}-{uuid.uuid4().hex}"


def _writer_alive(name: str) -> bool:
    """True if the process that named a staging directory still runs (on this machine)."""
    match = re.search(rf"{re.escape(atomic.TEMP_MARKER)}(?:old-)?(\d+)-[0-9a-f]+$", name)
    if match is None:
        return False
    try:
        os.kill(int(match.group(1)), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True


def _remove_stale_staging(path: Path) -> None:
    """Delete staging directories that a killed save of ``path`` left behind (not those of a live save)."""
    for stale in path.parent.glob(f".{path.name}{atomic.TEMP_MARKER}*"):
        if not _writer_alive(stale.name):
            shutil.rmtree(stale, ignore_errors=True)


def save_variables(path: str | os.PathLike, variables: dict, metadata: dict) -> None:
    """Write ``variables`` (nested dict of arrays) and JSON ``metadata`` to the directory ``path``.

    Replaces an existing checkpoint at ``path``; a kill mid-save leaves the old one (or none).
    """
    path = Path(path).absolute()
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_staging(path)
    staging = path.parent / _staging_name(path)
    staging.mkdir()
    try:
        with _quiet_orbax(), _checkpointer() as checkpointer:
            checkpointer.save(staging / STATE, variables)
            checkpointer.wait_until_finished()
        atomic.write_json(staging / METADATA, metadata)
        manifest = {"format": FORMAT_VERSION, "files": atomic.sha256_tree(staging)}
        atomic.write_json(staging / MANIFEST, manifest)
        if path.exists():
            retired = path.parent / _staging_name(path, "old-")
            os.replace(path, retired)
            os.replace(staging, path)
            shutil.rmtree(retired, ignore_errors=True)
        else:
            os.replace(staging, path)
    except BaseException as error:
        shutil.rmtree(staging, ignore_errors=True)
        code = re.search(r"os_error_code='(\d+)'", str(error))  # tensorstore reports OS errors as text
        if isinstance(error, Exception) and not isinstance(error, OSError) and code:
            raise OSError(int(code.group(1)), os.strerror(int(code.group(1))), str(path)) from error
        raise


def verify(path: str | os.PathLike) -> dict:
    """Check every file of the checkpoint at ``path`` against its manifest; return the metadata.

    Raises :class:`CorruptCheckpoint` (or FileNotFoundError if ``path`` does not exist).
    """
    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"no checkpoint at {path}")
    links = [link.relative_to(path).as_posix() for link in path.rglob("*") if link.is_symlink()]
    if path.is_symlink() or links:
        raise CorruptCheckpoint(path, f"it holds symbolic links {links[:3]}; a checkpoint holds only its own files")
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
        return atomic.from_json((path / METADATA).read_text(encoding="utf-8"))
    except ValueError:
        raise CorruptCheckpoint(path, "metadata.json is not valid JSON") from None


def _restore_target(checkpointer, state: Path):
    """Abstract tree (shape, dtype, default device) of a saved state, so restore needs no saved sharding."""
    tree = checkpointer.metadata(state).item_metadata.tree
    sharding = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
    return jax.tree.map(lambda leaf: jax.ShapeDtypeStruct(leaf.shape, leaf.dtype, sharding=sharding), tree)


def load_variables(path: str | os.PathLike) -> tuple[dict, dict]:
    """(variables, metadata) of the checkpoint at ``path``, verified first.

    Arrays come back as jax arrays on the default device, bit for bit as saved, and not committed to
    it, so they stack with arrays placed on any device mesh.
    Raises :class:`CorruptCheckpoint` if anything does not check out, FileNotFoundError if absent.
    """
    path = Path(path).absolute()
    metadata = verify(path)
    try:
        with _quiet_orbax(), _checkpointer() as checkpointer:
            variables = checkpointer.restore(path / STATE, _restore_target(checkpointer, path / STATE))
    except Exception as error:  # orbax raises many kinds; any failure means unusable files
        raise CorruptCheckpoint(path, f"orbax could not restore the state ({error.__class__.__name__})") from error
    return jax.tree.map(lambda leaf: jnp.asarray(np.asarray(leaf)), variables), metadata
