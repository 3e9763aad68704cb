"""Spatial spectrum of explanation maps and their Expected Frequency (EF), all on-device.

Every function takes maps batched over leading axes, shape (..., H, W), any H and W.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

CONVENTIONS = ("unit", "authors")


@jax.jit
def rank_normalize(maps: jax.Array) -> jax.Array:
    """Each pixel → its average rank (1-based, ties share the mean rank) / (H·W); shape kept.

    One sort of all pixels gives the ascending order and its permutation; tied runs get the mean
    of their first and last position; a scatter puts the ranks back.
    """
    *lead, height, width = maps.shape
    count = height * width
    flat = maps.reshape(-1, count)
    ascending, order = sort_with_positions(flat)
    position = jnp.arange(count, dtype=jnp.int32)
    changes = ascending[:, 1:] != ascending[:, :-1]
    edge = jnp.ones_like(changes[:, :1])
    first = jax.lax.cummax(jnp.where(jnp.concatenate([edge, changes], axis=1), position, 0), axis=1)
    last = jax.lax.cummin(jnp.where(jnp.concatenate([changes, edge], axis=1), position, count), axis=1,
                          reverse=True)
    sorted_ranks = (first + last + 2).astype(maps.dtype) / (2.0 * count)
    rows = jnp.arange(flat.shape[0])[:, None]
    normalized = jnp.zeros_like(flat).at[rows, order].set(sorted_ranks, unique_indices=True)
    return normalized.reshape(*lead, height, width)


def sort_with_positions(flat: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Each row of (R, N) in ascending order, and the original positions of the sorted entries (ties by position).

    ``lax.top_k`` of the negated rows, which keeps equal entries in their order. (A bitonic sorting
    network ran no faster inside the fused pipeline on an AMD EPYC CPU and took ~2 s longer to compile;
    benchmarks/RESULTS.md.)
    """
    descending, order = jax.lax.top_k(-flat, flat.shape[-1])
    return -descending, order


def radius_bins(height: int, width: int) -> np.ndarray:
    """Integer radius ⌊√(dy² + dx²)⌋ of each pixel from the centre (H//2, W//2), shape (H, W)."""
    dy = np.arange(height)[:, None] - height // 2
    dx = np.arange(width)[None, :] - width // 2
    return np.floor(np.sqrt(dy**2 + dx**2)).astype(np.int32)


def _bin_average_matrix(height: int, width: int) -> np.ndarray:
    """(H·W, K) matrix whose column k averages the pixels at radius k (binning as one matmul)."""
    radius = radius_bins(height, width).ravel()
    onehot = np.eye(radius.max() + 1, dtype=np.float32)[radius]
    return onehot / onehot.sum(axis=0, keepdims=True)


def power_spectrum(maps: jax.Array) -> jax.Array:
    """|FFT2(map)|², zero frequency moved to (H//2, W//2); shape (..., H, W)."""
    spectrum = jnp.fft.fftshift(jnp.fft.fft2(maps), axes=(-2, -1))
    return jnp.real(spectrum * jnp.conj(spectrum))


def reject_channel_axis(maps: jax.Array) -> None:
    """Raise ValueError for (..., H, W, C) with a small channel axis C ≤ 4 (EF needs maps (..., H, W))."""
    shape = np.shape(maps)
    if len(shape) >= 3 and shape[-1] <= 4 and min(shape[-3], shape[-2]) > shape[-1]:
        raise ValueError(f"maps of shape {shape} look like (..., H, W, C) with a channel axis; spectral functions "
                         "take maps (..., H, W): sum the attributions over channels first (maps.sum(-1))")


def radial_power_spectrum(maps: jax.Array) -> jax.Array:
    """Mean power at each integer radius k = 0 … K−1 from the centre: (..., H, W) → (..., K).

    A trailing channel axis (..., H, W, C), C ≤ 4, is refused (:func:`reject_channel_axis`).
    """
    reject_channel_axis(maps)
    *lead, height, width = maps.shape
    power = power_spectrum(maps).reshape(*lead, height * width)
    return power @ jnp.asarray(_bin_average_matrix(height, width), power.dtype)


def normalized_spectrum(radial: jax.Array) -> jax.Array:
    """p_k = S_k / Σ S; an all-zero spectrum (dead map) gives all zeros, not NaN. (..., K)."""
    total = radial.sum(axis=-1, keepdims=True)
    safe_total = jnp.where(total > 0, total, 1.0)
    return jnp.where(total > 0, radial / safe_total, 0.0)


def frequency_axis(num_bins: int) -> jax.Array:
    """ω_k = k / (K − 1): the bins' frequencies on the [0, 1] scale, shape (K,)."""
    return jnp.arange(num_bins, dtype=jnp.float32) / max(num_bins - 1, 1)


def expected_frequency(maps: jax.Array, *, rank: bool = True, convention: str = "unit") -> jax.Array:
    """EF = Σ_k ω_k p_k per map, (..., H, W) → (...).

    ``rank`` rank-normalizes each map first (the paper's protocol). ``convention="unit"`` gives EF on
    the [0, 1] frequency scale; ``"authors"`` gives EF / K (the authors' code, mean_k ω_k p_k).
    A map with no power at all (all zeros without rank normalization) has EF 0; a map holding any NaN
    (a diverged network) has EF NaN. A trailing channel axis (..., H, W, C), C ≤ 4, is refused.
    """
    reject_channel_axis(maps)
    broken = jnp.isnan(maps).any(axis=(-2, -1))
    if rank:
        maps = rank_normalize(maps)
    ef = expected_frequency_from_spectrum(normalized_spectrum(radial_power_spectrum(maps)), convention)
    return jnp.where(broken, jnp.nan, ef)


def expected_frequency_from_spectrum(probs: jax.Array, convention: str = "unit") -> jax.Array:
    """EF of normalized radial spectra p (..., K) → (...); conventions as in expected_frequency."""
    if convention not in CONVENTIONS:
        raise ValueError(f"unknown EF convention {convention!r}; choose one of {CONVENTIONS}")
    num_bins = probs.shape[-1]
    ef = probs @ frequency_axis(num_bins).astype(probs.dtype)
    return ef / num_bins if convention == "authors" else ef
