"""The in-memory dataset every source produces."""

from __future__ import annotations

import dataclasses
import functools
import hashlib

import numpy as np

from specxai_jax.data import validate


@dataclasses.dataclass(frozen=True)
class Dataset:
    """Images (N, H, W, C) float32 in [0, 1] and labels (N,) int32 in [0, num_classes).

    Construction validates every array (see :func:`specxai_jax.data.validate.check_dataset`) and
    raises :class:`DataError` on the first problem.
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int

    def __post_init__(self):
        validate.check_dataset(self)

    @functools.cached_property
    def fingerprint(self) -> str:
        """Hex sha256 of the content: class count and every array's dtype, shape and bytes (not the name)."""
        digest = hashlib.sha256(f"classes={int(self.num_classes)}".encode())
        for array in (self.x_train, self.y_train, self.x_test, self.y_test):
            digest.update(f"|{array.dtype.str}{array.shape}|".encode())
            digest.update(np.ascontiguousarray(array).data)
        return digest.hexdigest()

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(H, W, C) of one image."""
        return tuple(self.x_train.shape[1:])
