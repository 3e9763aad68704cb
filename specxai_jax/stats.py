"""Statistics written once: Spearman ρ, bootstrap intervals, seed mean ± std with a t-interval, finiteness.

Also host-side reports of the defined-but-degenerate values the device pipeline returns.

The jitted code never produces NaN for the degenerate cases it knows (an all-zero saliency map has
EF = ``DEAD_MAP_EF``, see ``specxai_jax.spectral``); these helpers look at the results on the host and
say, once per call, what was degenerate or replaced, as a :class:`SpecxaiWarning`. A network whose
weights are not all finite has diverged: its EF is NaN, never a number (see :func:`all_finite`).
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from typing import Any, Callable, Sequence

import jax
import numpy as np
from numpy.typing import ArrayLike

from specxai_jax.errors import SpecxaiWarning

DEAD_MAP_EF = 0.0
"""EF of an all-zero saliency map (a dead network): rank normalization makes it constant, so all its
power sits at frequency 0."""



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


def weights_finite(variables: dict) -> bool:
    """True if a network's trained variables are all finite (its constants, such as β = inf, are not checked)."""
    return all_finite({name: tree for name, tree in variables.items() if name != "constants"})


def spearman(x: ArrayLike, y: ArrayLike) -> float:
    """Spearman's ρ of two equal-length sequences: the correlation of their :func:`average_ranks`
    (inf ranks highest); NaN where either holds a NaN or is constant.

    SciPy's ``spearmanr`` computes the same; importing ``scipy.stats`` takes ~0.6 s of every sweep.
    """
    a, b = np.asarray(x, np.float64), np.asarray(y, np.float64)
    if np.isnan(a).any() or np.isnan(b).any():
        return float("nan")
    rx, ry = average_ranks(a), average_ranks(b)
    if rx.std() == 0 or ry.std() == 0:
        return float("nan")
    return float(np.corrcoef(rx, ry)[0, 1])


def average_ranks(values: ArrayLike) -> np.ndarray:
    """Ranks 1…n of a 1-D array, tied values sharing the average of their ranks, (n,) float64."""
    _, inverse, counts = np.unique(np.asarray(values), return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    return ((ends - counts + 1 + ends) / 2)[inverse.ravel()]


def bootstrap_interval(statistic: Callable[..., float], *samples: ArrayLike, n_boot: int = 1000,
                       level: float = 0.95, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of ``statistic(*samples)``: the n samples (each (n,)) resampled jointly
    with replacement ``n_boot`` times (``numpy.random.default_rng(seed)``); draws giving NaN are left out.
    """
    arrays = [np.asarray(sample, np.float64) for sample in samples]
    count = len(arrays[0])
    if any(len(array) != count for array in arrays):
        raise ValueError(f"samples of different lengths {[len(array) for array in arrays]}")
    draws = np.random.default_rng(seed).integers(0, count, (n_boot, count))
    values = [statistic(*(array[draw] for array in arrays)) for draw in draws]
    tail = 50 * (1 - level)
    low, high = np.nanpercentile(values, [tail, 100 - tail])
    return float(low), float(high)


@dataclasses.dataclass(frozen=True)
class SeedMean:
    """Mean ± std (ddof 1) of one quantity over n seeds, with the mean's t-interval (low, high) at ``level``;
    std and interval NaN for a single seed."""

    mean: float
    std: float
    n: int
    low: float
    high: float
    level: float = 0.95


def t_half_width(std: ArrayLike, n: int, level: float = 0.95) -> Any:
    """Half-width of the mean's Student-t interval at ``level`` from the sample std (ddof 1) of n values:
    t_{n−1} quantile · std / √n, elementwise over ``std``; NaN for n < 2."""
    from scipy.special import stdtrit  # type: ignore[import-untyped]  # scipy.stats: ~0.6 s more per import

    if n < 2:
        return np.full_like(np.asarray(std, np.float64), np.nan)
    return stdtrit(n - 1, 0.5 + level / 2) * np.asarray(std, np.float64) / math.sqrt(n)


def seed_mean(values: ArrayLike, level: float = 0.95) -> SeedMean:
    """:class:`SeedMean` of one value per seed, (n,); ValueError for no values."""
    array = np.asarray(values, np.float64)
    if array.size == 0:
        raise ValueError("seed_mean of no values")
    mean = float(array.mean())
    if array.size < 2:
        return SeedMean(mean, math.nan, 1, math.nan, math.nan, level)
    std = float(array.std(ddof=1))
    half = float(t_half_width(std, array.size, level))
    return SeedMean(mean, std, int(array.size), mean - half, mean + half, level)

