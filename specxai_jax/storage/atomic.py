"""Files that are either absent, the old version or the complete new one — never half written.

Every writer stages into a temporary file in the destination's directory, fsyncs it and moves it into
place with ``os.replace`` (atomic on POSIX), so a kill at any moment leaves no partial file behind.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import math
import os
import tempfile
from pathlib import Path
from typing import IO, Any, Iterator

import numpy as np

TEMP_MARKER = ".tmp-"  # staged files are named ".<name>.tmp-<random>" next to their destination


def _fsync_directory(directory: Path) -> None:
    """Make a rename inside ``directory`` durable (no-op where directories cannot be opened)."""
    try:
        handle = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(handle)
    except OSError:
        pass
    finally:
        os.close(handle)


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w", **open_kwargs) -> Iterator[IO]:
    """Context manager yielding a staged file that replaces ``path`` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, staged = tempfile.mkstemp(prefix=f".{path.name}{TEMP_MARKER}", dir=path.parent)
    try:
        os.chmod(staged, 0o644)  # mkstemp's 0600 would make results unreadable to collaborators
        with os.fdopen(handle, mode, **open_kwargs) as stream:
            yield stream
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(staged, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(staged)
        raise
    _fsync_directory(path.parent)


def plain_json(value: Any) -> Any:
    """``value`` as standard JSON values: numpy/jax scalars and arrays as numbers and lists, paths as
    strings, tuples as lists; ±inf as the strings "inf" / "-inf" (``float()`` and
    :func:`specxai_jax.ops.activations.parse_beta` read them back), NaN as null.
    """
    if isinstance(value, np.generic):
        value = value.item()
    elif hasattr(value, "__array__") and not isinstance(value, (str, bytes)):
        value = np.asarray(value).tolist()
    if isinstance(value, float):
        if math.isnan(value):
            return None
        return ("inf" if value > 0 else "-inf") if math.isinf(value) else value
    if isinstance(value, dict):
        return {key if isinstance(key, str) else str(plain_json(key)): plain_json(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain_json(item) for item in value]
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if value is None or isinstance(value, (str, int, bool)):
        return value
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def to_json(obj: Any) -> str:
    """Pretty, standard JSON text (sorted keys; values as :func:`plain_json` writes them: no NaN/Infinity)."""
    return json.dumps(plain_json(obj), indent=2, sort_keys=True, allow_nan=False) + "\n"


def _restore_infinities(value: Any) -> Any:
    """Inverse of :func:`plain_json` for infinities: the strings "inf" / "-inf" back to floats."""
    if isinstance(value, str) and value in ("inf", "-inf"):
        return float(value)
    if isinstance(value, dict):
        return {key: _restore_infinities(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_restore_infinities(item) for item in value]
    return value


def from_json(text: str) -> Any:
    """Read JSON written by :func:`to_json`: "inf" / "-inf" become floats again (NaN stays None)."""
    return _restore_infinities(json.loads(text))


def write_text(path: str | os.PathLike, text: str) -> None:
    """Atomically write ``text`` (UTF-8) to ``path``."""
    with atomic_open(path, "w", encoding="utf-8") as stream:
        stream.write(text)


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Atomically write ``data`` to ``path``."""
    with atomic_open(path, "wb") as stream:
        stream.write(data)


def write_json(path: str | os.PathLike, obj: Any) -> None:
    """Atomically write ``obj`` as JSON (see :func:`to_json`)."""
    write_text(path, to_json(obj))


def write_csv(path: str | os.PathLike, rows: list[dict], columns: list[str]) -> None:
    """Atomically write ``rows`` as CSV with exactly ``columns`` (a row with another key raises).

    Floats are written with ``repr``, so they read back bit for bit.
    """
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), extrasaction="raise", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_text(path, buffer.getvalue())


def save_figure(fig, path: str | os.PathLike, **savefig_kwargs) -> None:
    """Atomically save a matplotlib figure; the format follows ``path``'s suffix (e.g. ``.png``)."""
    path = Path(path)
    file_format = path.suffix.lstrip(".") or "png"
    with atomic_open(path, "wb") as stream:
        fig.savefig(stream, format=file_format, **savefig_kwargs)


def sha256_file(path: str | os.PathLike) -> str:
    """Hex sha256 of one file's bytes."""
    with open(path, "rb") as stream:
        return hashlib.file_digest(stream, "sha256").hexdigest()


def sha256_tree(root: str | os.PathLike, *, exclude: tuple[str, ...] = ()) -> dict[str, str]:
    """{relative POSIX path: hex sha256} of every file under ``root`` except the ``exclude`` paths."""
    root = Path(root)
    digests = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file() or p.is_symlink()):
        relative = path.relative_to(root).as_posix()
        if relative not in exclude:
            digests[relative] = sha256_file(path)
    return digests


def sha256_text(text: str) -> str:
    """Hex sha256 of a string's UTF-8 bytes."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
