"""Resizing image batches with ``jax.image.resize`` (bilinear, antialiased when shrinking)."""

from __future__ import annotations

from collections import Counter

import jax
import numpy as np

from specxai_jax.data.validate import to_float_images

CHUNK = 512  # images resized per call (bounds device memory)


def resize_images(x: np.ndarray, height: int, width: int) -> np.ndarray:
    """(N, H, W, C) float32 → (N, height, width, C) float32, clipped to [0, 1]; no-op when sizes match."""
    if x.shape[1:3] == (height, width):
        return x
    out = [np.asarray(jax.image.resize(x[i:i + CHUNK], (min(CHUNK, x.shape[0] - i), height, width, x.shape[3]),
                                       method="linear", antialias=True))
           for i in range(0, x.shape[0], CHUNK)]
    return np.clip(np.concatenate(out), 0.0, 1.0).astype(np.float32)


def most_common_size(images: list[np.ndarray]) -> tuple[int, int]:
    """(H, W) shared by most images; ties go to the size seen first."""
    return Counter(image.shape[:2] for image in images).most_common(1)[0][0]


def stack_resized(images: list[np.ndarray], height: int, width: int) -> np.ndarray:
    """Images (H_i, W_i, C), uint8 or float in [0, 1] → float32 (N, height, width, C).

    Images of one size and dtype are converted and resized together, CHUNK at a time, so only the output is
    held as float32.
    """
    out = np.empty((len(images), height, width, images[0].shape[-1]), np.float32)
    groups: dict[tuple, list[int]] = {}
    for index, image in enumerate(images):
        groups.setdefault((image.shape, image.dtype.str), []).append(index)  # uint8 and float apart
    for indices in groups.values():
        for start in range(0, len(indices), CHUNK):
            chunk = indices[start:start + CHUNK]
            out[chunk] = resize_images(to_float_images(np.stack([images[i] for i in chunk])), height, width)
    return out
