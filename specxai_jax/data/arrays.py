"""``npz:PATH`` — a NumPy archive holding x_train, y_train, x_test, y_test."""

from __future__ import annotations

import os
import zipfile

import numpy as np

from specxai_jax.data import validate
from specxai_jax.errors import DataError

KEYS = ("x_train", "y_train", "x_test", "y_test")


def _is_npy(path: str) -> bool:
    """True if the file starts with the .npy magic string."""
    with open(path, "rb") as stream:
        return stream.read(6) == b"\x93NUMPY"


def load_npz(path: str) -> dict[str, np.ndarray]:
    """Raw arrays of the archive, checked: images (N, H, W, C) uint8 or float in [0, 1], labels int64 (N,)."""
    where = f"npz:{path}"
    if not os.path.isfile(path):
        raise DataError(f"{where}: no such file; give the path of a .npz made with "
                        "np.savez(PATH, x_train=..., y_train=..., x_test=..., y_test=...)")
    if not zipfile.is_zipfile(path):
        kind = "it holds a single .npy array" if _is_npy(path) else "it is not a zip archive"
        raise DataError(f"{where} is not a readable .npz archive ({kind}); write it with "
                        "np.savez(PATH, x_train=..., y_train=..., x_test=..., y_test=...)")
    try:
        with np.load(path, allow_pickle=False) as archive:
            missing = [key for key in KEYS if key not in archive.files]
            if missing:
                raise DataError(f"{where} lacks array(s) {', '.join(missing)} (it holds: "
                                f"{', '.join(archive.files) or 'nothing'}); save all of {', '.join(KEYS)}")
            raw = {key: archive[key] for key in KEYS}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as error:
        if isinstance(error, DataError):
            raise
        raise DataError(f"{where} is not a readable .npz archive ({type(error).__name__}: {error}); "
                        "write it with np.savez or np.savez_compressed") from None
    arrays = {}
    for split in ("train", "test"):
        images = validate.check_raw_images(f"{where} x_{split}", raw[f"x_{split}"])
        arrays[f"x_{split}"] = images
        arrays[f"y_{split}"] = validate.check_labels(f"{where} y_{split}", raw[f"y_{split}"], images.shape[0])
    return arrays
