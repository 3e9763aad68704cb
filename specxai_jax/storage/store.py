"""Results of a sweep on disk, one entry per trained model, keyed by the settings that made it.

Layout under ``root``::

    models/<key>/checkpoint/            trained variables + metadata (specxai_jax.storage.checkpoints)
    models/<key>/result.json            the model's metrics record + its sha256
    models/<key>/result.npz             optional arrays of the record (spectra, example maps)
    models/<key>/result.seal            sha256 of result.json as written (it vouches for the record)

``<key>`` is :func:`config_key` of every setting that changes the model's numbers. Results of other
explanation settings for the same model sit beside it as ``result-<explain_key>.json``. Every file is
written atomically and names the entry it belongs to; a result also names the checkpoint it was
computed from, and its seal vouches for the result file as a whole. The pieces vouch for each other, so
an edit of any one file is caught, even one whose own checksum was recomputed: a forged record fails its
seal, a forged checkpoint (metadata and manifest rewritten together) fails the manifest digest its results
name. This is integrity against accidents and one-file edits, not cryptography: an edit of every piece
together goes unnoticed. Anything that fails its checksum, sits in another entry, belongs to another checkpoint,
fails the caller's ``check`` of its fields, or resolves outside ``root`` is reported (``SpecxaiWarning``),
deleted and reported as missing, so the caller recomputes it. Only files of this layout are ever read
or deleted.
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import json
import math
import numbers
import os
import re
import shutil
import uuid
import warnings
import zipfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from specxai_jax.errors import SpecxaiWarning, StoreBusy
from specxai_jax.storage import atomic, checkpoints

KEY_LENGTH = 16  # hex characters of sha256 kept: 64 bits, collision-free for any real sweep
KEY_PATTERN = re.compile(f"[0-9a-f]{{{KEY_LENGTH}}}")
ENTRY_FILE = re.compile(rf"checkpoint|result(-[0-9a-f]{{{KEY_LENGTH}}})?\.(json|npz|seal)|\..*{re.escape(atomic.TEMP_MARKER)}.*")
LOCK = ".lock"
STORE_KEY = "store_key"  # metadata field naming the entry a checkpoint was saved into



def canonical_settings(value: Any) -> Any:
    """Settings as plain JSON values with one spelling per meaning.

    Integral numbers become ints (3 == 3.0 == np.int64(3)), ±inf becomes "inf"/"-inf", tuples become
    lists, paths become strings; NaN and unknown types raise (they cannot name a configuration).
    """
    if value is None or isinstance(value, (bool, np.bool_, str)):
        return value.item() if isinstance(value, np.bool_) else value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        number = float(value)
        if math.isnan(number):
            raise ValueError("a setting is NaN; it cannot identify a configuration")
        if math.isinf(number):
            return "inf" if number > 0 else "-inf"
        return int(number) if number.is_integer() else number
    if isinstance(value, Mapping):
        if not all(isinstance(name, str) for name in value):
            raise TypeError(f"setting names must be strings, got {sorted(map(repr, value))}")
        return {name: canonical_settings(item) for name, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [canonical_settings(item) for item in value]
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, np.ndarray):
        return canonical_settings(value.tolist())
    raise TypeError(f"cannot use a {type(value).__name__} as a setting")


def config_key(settings: Mapping[str, Any]) -> str:
    """Stable hex key of a settings dict: sha256 of its canonical, key-sorted JSON."""
    text = json.dumps(canonical_settings(settings), sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return atomic.sha256_text(text)[:KEY_LENGTH]


def model_settings(fingerprint: str, version: int, settings: Mapping[str, Any]) -> dict:
    """The one key scheme of trained models (β-sweeps and explanation-gap models alike): every setting that
    changes a model's numbers, the content ``fingerprint`` of its data (changed data under the same name
    is never reused) and the ``version`` of the code's numbers (bumped when a code change alters them).
    Its :func:`config_key` names the model's store entry."""
    return {"data": fingerprint, "format": version, **settings}


def model_key(fingerprint: str, version: int, settings: Mapping[str, Any]) -> str:
    """:func:`config_key` of :func:`model_settings`: the store entry of one trained model."""
    return config_key(model_settings(fingerprint, version, settings))


def skip_message(stage: str, skipped: int, total: int, root: str | os.PathLike) -> str:
    """The one line a resumed sweep prints, e.g. "skipped training 2 of 3 models (stored in DIR; --fresh recomputes)"."""
    return f"skipped {stage} {skipped} of {total} models (stored in {Path(root) / 'models'}; --fresh recomputes)"


def _record_digest(record: Any) -> str:
    """sha256 of a record's canonical JSON text (stable through a JSON round trip)."""
    return atomic.sha256_text(json.dumps(record, sort_keys=True))


class ResultStore:
    """Per-model checkpoints and result records under ``root/models/<key>/``."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        self.models = self.root / "models"

    def entry(self, key: str) -> Path:
        """Directory of one model's entry (``key`` must be a :func:`config_key`)."""
        if not isinstance(key, str) or not KEY_PATTERN.fullmatch(key):
            raise ValueError(f"store key {key!r} is not a config_key")
        return self.models / key

    def _inside(self, path: Path) -> bool:
        """True if ``path`` (links followed) lies inside the store's directory."""
        return path.resolve().is_relative_to(self.models.resolve())

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the store exclusively for this process; :class:`StoreBusy` if another one holds it."""
        try:
            self.models.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            raise StoreBusy(f"{self.models} exists and is not a directory; move it or choose another "
                            "output directory") from None
        with open(self.models / LOCK, "a") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise StoreBusy(f"another process is using {self.models}; wait for it to finish "
                                "or choose another output directory") from None
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _usable_entry(self, key: str) -> Path:
        """The entry's directory, created; anything else in its place (a file, a link) is discarded first."""
        entry = self.entry(key)
        if entry.is_symlink() or (entry.exists() and not entry.is_dir()):
            self._report_and_discard(entry, f"store entry {entry} is not a directory")
        entry.mkdir(parents=True, exist_ok=True)
        return entry

    def checkpoint_path(self, key: str) -> Path:
        return self.entry(key) / "checkpoint"

    def _result_path(self, key: str, explain_key: str) -> Path:
        return self.entry(key) / (f"result-{explain_key}.json" if explain_key else "result.json")

    # -- trained models -------------------------------------------------------------------------

    def has_checkpoint(self, key: str) -> bool:
        """True if a finished checkpoint exists (its checksums are verified by :meth:`load_checkpoint`)."""
        return (self.checkpoint_path(key) / checkpoints.MANIFEST).is_file()

    def _checkpoint_digest(self, key: str) -> str | None:
        """sha256 of the checkpoint's manifest (which hashes all its files), None if there is none."""
        manifest = self.checkpoint_path(key) / checkpoints.MANIFEST
        return atomic.sha256_file(manifest) if manifest.is_file() and self._inside(manifest) else None

    def save_checkpoint(self, key: str, variables: dict, metadata: dict) -> dict:
        """Store one model's variables (unstacked tree) and JSON metadata (settings, epochs, accuracy …).

        Returns the metadata as :meth:`load_checkpoint` will read it back (plain JSON values)."""
        metadata = atomic.from_json(atomic.to_json(metadata))
        entry = self._usable_entry(key)
        for stale in entry.glob("result*.*"):  # computed from the checkpoint this one replaces
            _remove(stale)
        checkpoints.save_variables(self.checkpoint_path(key), variables, {**metadata, STORE_KEY: key})
        return metadata

    def load_checkpoint(self, key: str, *, check: Callable[[dict], Any] | None = None) -> tuple[dict, dict] | None:
        """(variables, metadata), or None if absent or unusable — a corrupt checkpoint, one saved for
        another entry, one outside the store or one whose metadata fails ``check`` (which raises
        ValueError, TypeError or KeyError) is warned about and deleted with the entry's results, so
        the model is retrained and re-explained."""
        path = self.checkpoint_path(key)
        if not path.exists() and not path.is_symlink():
            return None
        try:
            if not self._inside(path) or path.is_symlink():
                raise checkpoints.CorruptCheckpoint(path, "it lies outside the store")
            variables, metadata = checkpoints.load_variables(path)
            if not isinstance(metadata, dict) or metadata.pop(STORE_KEY, None) != key:
                raise checkpoints.CorruptCheckpoint(path, "it was saved for another entry")
            if not self._results_vouch_for_checkpoint(key):
                raise checkpoints.CorruptCheckpoint(path, "its manifest is not the one its results were computed from")
            if check is not None:
                check(metadata)
        except FileNotFoundError:
            return None
        except checkpoints.CorruptCheckpoint as error:
            self._report_and_discard(self.entry(key), str(error))
            return None
        except (ValueError, TypeError, KeyError, AttributeError) as error:
            self._report_and_discard(self.entry(key), f"checkpoint {path} has unusable metadata ({error})")
            return None
        return variables, metadata

    def _results_vouch_for_checkpoint(self, key: str) -> bool:
        """False if a result of the entry names another checkpoint manifest than the present one: the checkpoint
        was edited (e.g. its metadata and manifest both rewritten) or replaced after the result was computed."""
        digest = self._checkpoint_digest(key)
        for result in self.entry(key).glob("result*.json"):
            try:
                named = json.loads(result.read_text(encoding="utf-8")).get("checkpoint")
            except (OSError, ValueError, AttributeError):
                continue  # an unreadable result is load_result's to discard
            if named is not None and named != digest:
                return False
        return True

    # -- explanation results --------------------------------------------------------------------

    def has_result(self, key: str, *, explain_key: str = "") -> bool:
        return self._result_path(key, explain_key).is_file()

    def save_result(self, key: str, record: dict, arrays: Mapping[str, np.ndarray] | None = None, *,
                    explain_key: str = "") -> dict:
        """Store a model's metrics ``record`` (JSON-able dict) and optional named ``arrays``, tied to this
        entry, ``explain_key`` and the entry's current checkpoint.

        Returns the record as :meth:`load_result` will read it back (plain JSON values)."""
        path = self._result_path(key, explain_key)
        self._usable_entry(key)
        record = atomic.from_json(atomic.to_json(record))  # plain JSON values, as they will read back
        identity = {"key": key, "explain_key": explain_key, "checkpoint": self._checkpoint_digest(key)}
        content = {"record": record, "sha256": _record_digest(record), **identity}
        if arrays:
            arrays_path = path.with_suffix(".npz")
            atomic.write_bytes(arrays_path, _npz_bytes(arrays))
            content["arrays"] = {"file": arrays_path.name, "sha256": atomic.sha256_file(arrays_path)}
        atomic.write_json(path, content)
        atomic.write_bytes(path.with_suffix(".seal"), atomic.sha256_file(path).encode())
        return record

    def load_result(self, key: str, *, explain_key: str = "",
                    check: Callable[[dict], Any] | None = None) -> tuple[dict, dict[str, np.ndarray]] | None:
        """(record, arrays), or None if absent or unusable — a corrupt result, one written for another
        entry, explanation setting or checkpoint, or one whose record fails ``check`` (which raises
        ValueError, TypeError or KeyError) is warned about and deleted (the checkpoint stays), so only
        the explanation is recomputed. Only the entry's own ``.npz`` is read, never a path the JSON names."""
        path = self._result_path(key, explain_key)
        arrays_path, seal_path = path.with_suffix(".npz"), path.with_suffix(".seal")
        if not path.exists() and not path.is_symlink():
            return None
        try:
            for file in (path, arrays_path, seal_path):
                if file.is_symlink() or ((file.exists() or file == path) and not (file.is_file() and self._inside(file))):
                    raise ValueError(f"{file.name} is not a regular file inside the store")
            if not seal_path.exists() or seal_path.read_text(encoding="ascii") != atomic.sha256_file(path):
                raise ValueError(f"{path.name} does not match its seal {seal_path.name} (edited, or written before seals)")
            content = atomic.from_json(path.read_text(encoding="utf-8"))
            record = content["record"]
            if not isinstance(record, dict) or _record_digest(record) != content["sha256"]:
                raise ValueError("checksum mismatch")
            wanted = {"key": key, "explain_key": explain_key, "checkpoint": self._checkpoint_digest(key)}
            stored = {name: content.get(name) for name in wanted}
            if stored != wanted:
                raise ValueError(f"it belongs to {stored}, not this entry {wanted}")
            if check is not None:
                check(record)
            arrays = {}
            if "arrays" in content:
                if atomic.sha256_file(arrays_path) != content["arrays"]["sha256"]:
                    raise ValueError(f"checksum mismatch in {arrays_path.name}")
                with np.load(arrays_path, allow_pickle=False) as stored_arrays:
                    arrays = {name: stored_arrays[name] for name in stored_arrays.files}
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
            self._report_and_discard(path, f"corrupt result {path}: {error}")
            _remove(arrays_path)
            _remove(seal_path)
            return None
        return record, arrays

    # -- housekeeping ---------------------------------------------------------------------------

    def discard(self, key: str) -> None:
        """Delete one model's entry (checkpoint and results)."""
        _remove(self.entry(key))

    def clear(self) -> list[Path]:
        """Delete every stored model (``--fresh``): only entries of this layout, which hold nothing else.

        Returns what was left alone (foreign files; warned about)."""
        if not self.models.is_dir() or self.models.is_symlink():
            return [self.models] if self.models.exists() or self.models.is_symlink() else []
        kept = []
        for path in sorted(self.models.iterdir()):
            ours = path.name == LOCK or (path.name.startswith(".") and atomic.TEMP_MARKER in path.name
                                         and not path.is_symlink())
            if KEY_PATTERN.fullmatch(path.name) and path.is_dir() and not path.is_symlink():
                ours = all(ENTRY_FILE.fullmatch(child.name) for child in path.iterdir())
            if not ours:
                kept.append(path)
            elif path.name != LOCK:
                _remove(path)
        if kept:
            warnings.warn(f"--fresh left {len(kept)} file(s) it did not write in {self.models}, e.g. {kept[0].name}",
                          SpecxaiWarning, stacklevel=2)
        return kept

    def _report_and_discard(self, path: Path, reason: str) -> None:
        warnings.warn(f"{reason}; deleted, it will be recomputed", SpecxaiWarning, stacklevel=3)
        _remove(path)


def _npz_bytes(arrays: Mapping[str, np.ndarray]) -> bytes:
    """The .npz archive (as np.savez writes it) of named ``arrays``; unlike ``np.savez(file, **arrays)``, any
    name works, "allow_pickle" and "file" included."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, array in arrays.items():
            with archive.open(f"{name}.npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.asarray(array))
    return buffer.getvalue()


def _remove(path: Path) -> None:
    """Delete a file, link or directory tree; a directory is first renamed away so it vanishes at once."""
    if path.is_symlink():
        path.unlink()
    elif path.is_dir():
        trash = path.parent / f".{path.name}{atomic.TEMP_MARKER}trash-{uuid.uuid4().hex}"
        os.replace(path, trash)
        shutil.rmtree(trash, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
