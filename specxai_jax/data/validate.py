"""Checks on user-supplied images and labels; each failure is one :class:`DataError` line.

Float pixels outside [0, 1] are rejected, not rescaled: silently rescaling would change what every
explanation is measured against. uint8 pixels are scaled by 1/255.
"""

from __future__ import annotations

import warnings

import numpy as np

from specxai_jax.errors import DataError, SpecxaiWarning

MAX_CLASSES = 100_000  # more classes than any image benchmark (ImageNet-21k: 21,841); guards a typo'd label


def check_raw_images(where: str, x: np.ndarray) -> np.ndarray:
    """Raw images (N, H, W) or (N, H, W, C), uint8 or float → (N, H, W, C), dtype unchanged."""
    x = np.asarray(x)
    if x.ndim not in (3, 4):
        raise DataError(f"{where} has shape {x.shape}; expected images N×H×W×C or N×H×W (grayscale)")
    if x.ndim == 3:
        x = x[..., None]
    if x.shape[0] == 0:
        raise DataError(f"{where} is empty; give at least one image per split")
    if min(x.shape[1:]) == 0:
        raise DataError(f"{where} has shape {x.shape} with a zero-sized image axis; expected N×H×W×C")
    if x.dtype == np.uint8:
        return x
    if not np.issubdtype(x.dtype, np.floating):
        raise DataError(f"{where} has dtype {x.dtype}; store images as uint8 (0..255) or float in [0, 1]")
    if not np.isfinite(x).all():
        count = int(np.size(x) - np.count_nonzero(np.isfinite(x)))
        raise DataError(f"{where} has {count} non-finite pixels (NaN or inf); replace or drop those images")
    low, high = float(x.min()), float(x.max())
    if low < 0.0 or high > 1.0:
        raise DataError(f"{where} float pixels span [{low:g}, {high:g}], outside [0, 1]; "
                        "divide by 255 if they are 0..255 values, or store uint8")
    return x


def to_float_images(x: np.ndarray) -> np.ndarray:
    """uint8 → float32 / 255; float → float32 (already checked to lie in [0, 1])."""
    if x.dtype == np.uint8:
        return x.astype(np.float32) / np.float32(255.0)
    return x.astype(np.float32, copy=False)


def check_labels(where: str, y: np.ndarray, count: int) -> np.ndarray:
    """Integer class labels (N,) ≥ 0, one per image → int64 copy."""
    y = np.asarray(y)
    if y.ndim != 1:
        raise DataError(f"{where} has shape {y.shape}; expected one integer class index per image, shape ({count},)")
    if y.shape[0] != count:
        raise DataError(f"{where} has {y.shape[0]} labels but there are {count} images; give one label per image")
    if np.issubdtype(y.dtype, np.floating):
        if not (np.isfinite(y).all() and np.all(y == np.round(y))):
            raise DataError(f"{where} holds non-integer values; labels must be class indices 0, 1, 2, …")
    elif not np.issubdtype(y.dtype, np.integer):
        raise DataError(f"{where} has dtype {y.dtype}; labels must be integer class indices 0, 1, 2, …")
    if y.size and y.min() < 0:
        raise DataError(f"{where} has negative label {y.min():.0f}; labels must be class indices 0, 1, 2, …")
    if y.size and y.max() >= MAX_CLASSES:
        raise DataError(f"{where} has label {y.max():.0f}; labels must be class indices 0, 1, 2, … below {MAX_CLASSES}")
    return y.astype(np.int64)


def check_dataset(ds) -> None:
    """Every invariant of :class:`~specxai_jax.data.Dataset`; raise DataError on the first violation."""
    if not isinstance(ds.num_classes, (int, np.integer)) or ds.num_classes < 2:
        raise DataError(f"{ds.name}: the labels name {ds.num_classes!r} class(es); a classifier needs at least 2 classes")
    if ds.num_classes > MAX_CLASSES:
        raise DataError(f"{ds.name}: {ds.num_classes} classes is more than {MAX_CLASSES}; check the labels")
    shapes = []
    for split, x, y in (("train", ds.x_train, ds.y_train), ("test", ds.x_test, ds.y_test)):
        where = f"{ds.name} {split} split"
        if not isinstance(x, np.ndarray) or x.ndim != 4 or x.dtype != np.float32:
            raise DataError(f"{where}: images must be a float32 array N×H×W×C, got "
                            f"{getattr(x, 'dtype', type(x).__name__)} of shape {np.shape(x)}")
        if x.shape[0] == 0:
            raise DataError(f"{where} is empty; give at least one image per split")
        if not isinstance(y, np.ndarray) or y.dtype != np.int32 or y.shape != (x.shape[0],):
            raise DataError(f"{where}: labels must be int32 of shape ({x.shape[0]},), got "
                            f"{getattr(y, 'dtype', type(y).__name__)} of shape {np.shape(y)}")
        if not np.isfinite(x).all() or x.min() < 0.0 or x.max() > 1.0:
            raise DataError(f"{where}: pixels must be finite and lie in [0, 1]")
        if y.min() < 0 or y.max() >= ds.num_classes:
            raise DataError(f"{where}: labels span [{int(y.min())}, {int(y.max())}], outside "
                            f"[0, {ds.num_classes}); fix the labels or the class count")
        shapes.append(x.shape[1:])
    if shapes[0] != shapes[1]:
        raise DataError(f"{ds.name}: train images are {shapes[0]} but test images are {shapes[1]}; "
                        "use the same image size (or pass img_size to resize both)")
    unseen = np.setdiff1d(ds.y_test, ds.y_train)
    if unseen.size:
        warnings.warn(f"{ds.name}: test labels {unseen[:5].tolist()} never occur in the train split "
                      f"({unseen.size} classes); the model cannot learn them", SpecxaiWarning, stacklevel=3)
    if np.unique(ds.y_train).size < 2:
        raise DataError(f"{ds.name}: the train split holds a single class ({int(ds.y_train[0])}); "
                        "a classifier needs examples of at least 2 classes")
