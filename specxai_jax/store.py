"""Results of a sweep on disk, one entry per trained model, keyed by the settings that made it.

Layout under ``root``::

    models/<key>/checkpoint/            trained variables + metadata (specxai_jax.checkpoints)
    models/<key>/result.json            the model's metrics record + its sha256
    models/<key>/result.npz             optional arrays of the record (spectra, example maps)

``<key>`` is :func:`config_key` of every setting that changes the model's numbers. Results of other
explanation settings for the same model sit beside it as ``result-<explain_key>.json``. Every file is
written atomically; anything that fails its checksum is reported (``SpecxaiWarning``), deleted and
reported as missing, so the caller recomputes it.
"""

from __future__ import annotations

import io
import json
import math
import numbers
import os
import shutil
import uuid
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from specxai_jax import atomic, checkpoints
from specxai_jax.numerics import SpecxaiWarning

KEY_LENGTH = 16  # hex characters of sha256 kept: 64 bits, collision-free for any real sweep


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
        """Directory of one model's entry."""
        return self.models / key

    def checkpoint_path(self, key: str) -> Path:
        return self.entry(key) / "checkpoint"

    def _result_path(self, key: str, explain_key: str) -> Path:
        return self.entry(key) / (f"result-{explain_key}.json" if explain_key else "result.json")

    # -- trained models -------------------------------------------------------------------------

    def has_checkpoint(self, key: str) -> bool:
        """True if a finished checkpoint exists (its checksums are verified by :meth:`load_checkpoint`)."""
        return (self.checkpoint_path(key) / checkpoints.MANIFEST).is_file()

    def save_checkpoint(self, key: str, variables: dict, metadata: dict) -> dict:
        """Store one model's variables (unstacked tree) and JSON metadata (settings, epochs, accuracy …).

        Returns the metadata as :meth:`load_checkpoint` will read it back (plain JSON values)."""
        metadata = json.loads(atomic.to_json(metadata))
        checkpoints.save_variables(self.checkpoint_path(key), variables, metadata)
        return metadata

    def load_checkpoint(self, key: str) -> tuple[dict, dict] | None:
        """(variables, metadata), or None if absent or corrupt — a corrupt entry is warned about and
        deleted whole (checkpoint and results), so the model is retrained and re-explained."""
        try:
            return checkpoints.load_variables(self.checkpoint_path(key))
        except FileNotFoundError:
            return None
        except checkpoints.CorruptCheckpoint as error:
            self._report_and_discard(self.entry(key), str(error))
            return None

    # -- explanation results --------------------------------------------------------------------

    def has_result(self, key: str, *, explain_key: str = "") -> bool:
        return self._result_path(key, explain_key).is_file()

    def save_result(self, key: str, record: dict, arrays: Mapping[str, np.ndarray] | None = None, *,
                    explain_key: str = "") -> dict:
        """Store a model's metrics ``record`` (JSON-able dict) and optional named ``arrays``.

        Returns the record as :meth:`load_result` will read it back (plain JSON values)."""
        path = self._result_path(key, explain_key)
        record = json.loads(atomic.to_json(record))  # plain JSON values, as they will read back
        content = {"record": record, "sha256": _record_digest(record)}
        if arrays:
            buffer = io.BytesIO()
            np.savez(buffer, **{name: np.asarray(array) for name, array in arrays.items()})
            arrays_path = path.with_suffix(".npz")
            atomic.write_bytes(arrays_path, buffer.getvalue())
            content["arrays"] = {"file": arrays_path.name, "sha256": atomic.sha256_file(arrays_path)}
        atomic.write_json(path, content)
        return record

    def load_result(self, key: str, *, explain_key: str = "") -> tuple[dict, dict[str, np.ndarray]] | None:
        """(record, arrays), or None if absent or corrupt — a corrupt result is warned about and deleted
        (the checkpoint stays), so only the explanation is recomputed."""
        path = self._result_path(key, explain_key)
        if not path.is_file():
            return None
        try:
            content = json.loads(path.read_text(encoding="utf-8"))
            record = content["record"]
            if _record_digest(record) != content["sha256"]:
                raise ValueError("checksum mismatch")
            arrays = {}
            if "arrays" in content:
                arrays_path = path.parent / content["arrays"]["file"]
                if atomic.sha256_file(arrays_path) != content["arrays"]["sha256"]:
                    raise ValueError(f"checksum mismatch in {arrays_path.name}")
                with np.load(arrays_path) as stored:
                    arrays = {name: stored[name] for name in stored.files}
        except (OSError, ValueError, KeyError, TypeError) as error:
            self._report_and_discard(path, f"corrupt result {path}: {error}")
            path.with_suffix(".npz").unlink(missing_ok=True)
            return None
        return record, arrays

    # -- housekeeping ---------------------------------------------------------------------------

    def discard(self, key: str) -> None:
        """Delete one model's entry (checkpoint and results)."""
        _remove(self.entry(key))

    def clear(self) -> None:
        """Delete every stored model (``--fresh``)."""
        _remove(self.models)

    def _report_and_discard(self, path: Path, reason: str) -> None:
        warnings.warn(f"{reason}; deleted, it will be recomputed", SpecxaiWarning, stacklevel=3)
        _remove(path)


def _remove(path: Path) -> None:
    """Delete a file or directory tree; a directory is first renamed away so it vanishes at once."""
    if path.is_dir():
        trash = path.parent / f".{path.name}{atomic.TEMP_MARKER}trash-{uuid.uuid4().hex}"
        os.replace(path, trash)
        shutil.rmtree(trash, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
