"""Host-side reports of the defined-but-degenerate values the device pipeline returns.

The jitted code never produces NaN for the degenerate cases it knows (an all-zero saliency map has
EF = ``DEAD_MAP_EF``, see ``specxai_jax.spectral``); these helpers look at the results on the host and
say, once per call, what was degenerate or replaced, as a :class:`SpecxaiWarning`. A network whose
weights are not all finite has diverged: its EF is NaN, never a number (see :func:`all_finite`).
"""

from __future__ import annotations

import warnings
from typing import Sequence

import jax
import numpy as np

from specxai_jax.errors import SpecxaiWarning

DEAD_MAP_EF = 0.0
"""EF of an all-zero saliency map (a dead network): rank normalization makes it constant, so all its
power sits at frequency 0."""



def check_finite(name: str, values, *, replacement: float | None = None) -> np.ndarray:
    """``values`` as a numpy array, warning once if any entry is NaN or ±inf.

    With ``replacement`` the non-finite entries are replaced by it (and the warning says so);
    without, they are kept. The warning names ``name`` and counts the NaN and inf entries.
    """
    array = np.array(values, copy=True)
    bad = ~np.isfinite(array)
    if not bad.any():
        return array
    n_nan = int(np.isnan(array).sum())
    n_inf = int(bad.sum()) - n_nan
    what = f"{name}: {int(bad.sum())} of {array.size} values are not finite ({n_nan} NaN, {n_inf} inf)"
    if replacement is None:
        warnings.warn(f"{what}; kept as they are", SpecxaiWarning, stacklevel=2)
    else:
        array[bad] = replacement
        warnings.warn(f"{what}; replaced by {replacement}", SpecxaiWarning, stacklevel=2)
    return array


def dead_map_counts(maps) -> np.ndarray:
    """Number of all-zero maps: (..., N, H, W) → (...)."""
    maps = np.asarray(maps)
    return np.all(maps == 0, axis=(-2, -1)).sum(axis=-1)


def warn_dead_maps(dead_counts, n_images: int, labels: Sequence[str] | None = None) -> np.ndarray:
    """Warn once about every model whose saliency maps were all zero; returns the counts as an array.

    ``dead_counts`` (M,): all-zero maps per model out of ``n_images``; ``labels`` (M,) names the models
    (e.g. "softplus β=3 seed 0"). Those maps' EF is ``DEAD_MAP_EF``, which pulls the model's mean EF down.
    """
    counts = np.atleast_1d(np.asarray(dead_counts, dtype=int))
    names = list(labels) if labels is not None else [f"model {i}" for i in range(counts.size)]
    affected = [f"{names[i]} ({counts[i]}/{n_images})" for i in np.flatnonzero(counts)]
    if affected:
        warnings.warn(
            f"all-zero saliency maps (dead network) in {', '.join(affected)}; "
            f"their EF is defined as {DEAD_MAP_EF} and is included in the mean",
            SpecxaiWarning,
            stacklevel=2,
        )
    return counts


def all_finite(tree) -> bool:
    """True if every leaf of a pytree of arrays (e.g. a network's variables) is free of NaN and ±inf."""
    return all(bool(np.isfinite(np.asarray(leaf)).all()) for leaf in jax.tree.leaves(tree))


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman's ρ of two equal-length sequences: the correlation of their :func:`average_ranks`
    (inf ranks highest); NaN where either holds a NaN or is constant.

    SciPy's ``spearmanr`` computes the same; importing ``scipy.stats`` takes ~0.6 s of every sweep.
    """
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    if np.isnan(x).any() or np.isnan(y).any():
        return float("nan")
    rx, ry = average_ranks(x), average_ranks(y)
    if rx.std() == 0 or ry.std() == 0:
        return float("nan")
    return float(np.corrcoef(rx, ry)[0, 1])


def average_ranks(values: Sequence[float]) -> np.ndarray:
    """Ranks 1…n of a 1-D array, tied values sharing the average of their ranks, (n,) float64."""
    _, inverse, counts = np.unique(np.asarray(values), return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    return ((ends - counts + 1 + ends) / 2)[inverse.ravel()]
