"""Spatial spectrum of explanation maps and their Expected Frequency (EF), all on-device.

Every function takes maps batched over leading axes, shape (..., H, W), any H and W.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from specxai_jax import fast_forms

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

    Plain form ``lax.top_k``; CPU fast form :func:`bitonic_sort` (``fast_forms`` "bitonic_sort"),
    because XLA:CPU runs it about 4× faster than its comparator-based sort and ``top_k``
    (benchmarks/RESULTS.md).
    """
    if fast_forms.enabled("bitonic_sort"):
        return bitonic_sort(flat)
    descending, order = jax.lax.top_k(-flat, flat.shape[-1])
    return -descending, order


@jax.jit
def bitonic_sort(flat: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Sort the rows of (R, N) ascending (ties by position); returns (values, positions), both (R, N).

    Batcher's bitonic network over the rows padded with +inf to a power of two: log₂n(log₂n+1)/2
    vectorized compare-exchange steps that XLA fuses into plain loops (no library sorts this way).
    The rows sit on the last axis, so every step runs SIMD across the R independent sorts.
    """
    rows, count = flat.shape
    size = 1 << max(count - 1, 0).bit_length()
    values = jnp.pad(flat, ((0, 0), (0, size - count)), constant_values=jnp.inf).T       # (n, R)
    positions = jnp.broadcast_to(jnp.arange(size, dtype=jnp.int32)[:, None], values.shape)
    span = 2
    while span <= size:                      # merge bitonic runs of length `span`
        stride = span // 2
        while stride >= 1:                   # compare entries `stride` apart
            values, positions = _compare_exchange(values, positions, span, stride)
            stride //= 2
        span *= 2
    return values[:count].T, positions[:count].T


def _compare_exchange(values, positions, span: int, stride: int):
    """One bitonic step on (n, R): entry i meets i + stride; runs starting at a multiple of 2·span ascend."""
    size, rows = values.shape
    shape = (size // (2 * stride), 2, stride, rows)
    v, p = values.reshape(shape), positions.reshape(shape)
    ascending = jnp.asarray((np.arange(size // (2 * stride)) * 2 * stride & span) == 0)[:, None, None]
    second_smaller = (v[:, 1] < v[:, 0]) | ((v[:, 1] == v[:, 0]) & (p[:, 1] < p[:, 0]))
    swap = second_smaller == ascending

    def exchange(a):
        low, high = jnp.where(swap, a[:, 1], a[:, 0]), jnp.where(swap, a[:, 0], a[:, 1])
        return jnp.stack([low, high], axis=1).reshape(size, rows)

    return exchange(v), exchange(p)


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
