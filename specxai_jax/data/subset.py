"""Deterministic subsets: the first ``limit`` indices of a seeded permutation."""

from __future__ import annotations

import numpy as np

from specxai_jax.errors import DataError


def subset_indices(count: int, limit: int | None, seed: int, stream: int) -> np.ndarray:
    """Indices (min(count, limit),) of the first ``limit`` items after a shuffle seeded by (seed, stream).

    ``limit=None`` keeps all ``count`` items in their stored order.
    """
    if limit is None:
        return np.arange(count)
    if isinstance(limit, bool) or not isinstance(limit, (int, np.integer)) or limit < 1:
        raise DataError(f"max_train/max_test must be a positive integer or None, got {limit!r}")
    return np.random.default_rng([seed, stream]).permutation(count)[:limit]
