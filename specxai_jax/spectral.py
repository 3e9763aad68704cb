"""Spatial spectrum of explanation maps and their Expected Frequency (EF), all on-device.

Maps are one (H, W) map or a batch (B, H, W), any H and W. Attributions with a channel axis — Captum's
(B, C, H, W), NHWC / PAIR's (B, H, W, C) or one (H, W, C) — need ``channel_axis=`` and are summed over
it first (the paper's channel-summed maps); a 4-D input without it is refused, never read per channel.
NumPy arrays, JAX arrays and torch tensors are accepted (torch is only touched when a tensor is passed).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from specxai_jax.errors import MapLayoutError, RankGradientError

CONVENTIONS = ("unit", "authors")


def as_maps(maps, channel_axis: int | None = None):
    """Maps (H, W) or (B, H, W) from any accepted input; shape kept unless a channel axis is summed.

    Torch tensors become NumPy arrays (``.detach().cpu().numpy()``); ``channel_axis`` sums one
    (H, W, C) / (C, H, W) map or a batch (B, C, H, W) / (B, H, W, C) over that axis.
    """
    if type(maps).__module__.startswith("torch"):
        maps = maps.detach().cpu().numpy()
    shape = np.shape(maps)
    if channel_axis is not None:
        if len(shape) not in (3, 4) or not -len(shape) <= channel_axis < len(shape):
            raise MapLayoutError(f"channel_axis={channel_axis} does not fit maps of shape {shape}: it names the "
                                 "channel axis of one map (H, W, C) / (C, H, W) or a batch (B, C, H, W) / (B, H, W, C)")
        return jnp.sum(maps, axis=channel_axis)
    if len(shape) == 4:
        raise MapLayoutError(f"maps of shape {shape} have a channel axis: 4-D maps need channel_axis= (1 for Captum's "
                             "NCHW, -1 for NHWC/PAIR); channels are summed")
    if len(shape) == 3 and shape[-1] <= 4 and min(shape[-3], shape[-2]) > shape[-1]:
        raise MapLayoutError(f"maps of shape {shape} look like one (H, W, C) map with a channel axis: pass "
                             "channel_axis=-1 (channels are summed), or maps (B, H, W)")
    if len(shape) not in (2, 3):
        raise MapLayoutError(f"maps of shape {shape}: expected one map (H, W) or a batch (B, H, W)")
    return maps


@jax.custom_jvp
def _ranks(maps: jax.Array) -> jax.Array:
    """Each pixel → its average rank (1-based, ties share the mean rank) / (H·W); (..., H, W) kept.

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


@_ranks.defjvp
def _refuse_rank_derivative(primals, tangents):
    raise RankGradientError("rank normalization has no gradient (ranks are piecewise constant in the map); "
                            "differentiate expected_frequency(..., rank=False) instead")


_rank_normalize = jax.jit(_ranks)


def rank_normalize(maps, *, channel_axis: int | None = None) -> jax.Array:
    """Each pixel → its average rank (1-based, ties share the mean rank) / (H·W): (B, H, W) or (H, W) kept.

    Differentiating it raises :class:`RankGradientError` (ranks have no gradient).
    """
    return _rank_normalize(as_maps(maps, channel_axis))


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


def _power_spectrum(maps: jax.Array) -> jax.Array:
    spectrum = jnp.fft.fftshift(jnp.fft.fft2(maps), axes=(-2, -1))
    return jnp.real(spectrum * jnp.conj(spectrum))


def power_spectrum(maps, *, channel_axis: int | None = None) -> jax.Array:
    """|FFT2(map)|², zero frequency moved to (H//2, W//2): (B, H, W) or (H, W), shape kept."""
    return _power_spectrum(jnp.asarray(as_maps(maps, channel_axis)))


def _radial_power_spectrum(maps: jax.Array) -> jax.Array:
    *lead, height, width = maps.shape
    power = _power_spectrum(maps).reshape(*lead, height * width)
    return power @ jnp.asarray(_bin_average_matrix(height, width), power.dtype)


def radial_power_spectrum(maps, *, channel_axis: int | None = None) -> jax.Array:
    """Mean power at each integer radius k = 0 … K−1 from the centre: (B, H, W) → (B, K), (H, W) → (K,)."""
    return _radial_power_spectrum(jnp.asarray(as_maps(maps, channel_axis)))


def normalized_spectrum(radial: jax.Array) -> jax.Array:
    """p_k = S_k / Σ S; an all-zero spectrum (dead map) gives all zeros, not NaN. (..., K)."""
    total = radial.sum(axis=-1, keepdims=True)
    safe_total = jnp.where(total > 0, total, 1.0)
    return jnp.where(total > 0, radial / safe_total, 0.0)


def frequency_axis(num_bins: int) -> jax.Array:
    """ω_k = k / (K − 1): the bins' frequencies on the [0, 1] scale, shape (K,)."""
    return jnp.arange(num_bins, dtype=jnp.float32) / max(num_bins - 1, 1)


def check_convention(convention: str) -> None:
    """Raise ValueError for an EF convention that is not one of CONVENTIONS."""
    if convention not in CONVENTIONS:
        raise ValueError(f"unknown EF convention {convention!r}; choose one of {CONVENTIONS}")


@functools.partial(jax.jit, static_argnames=("rank", "convention"))
def _expected_frequency(maps: jax.Array, rank: bool, convention: str) -> jax.Array:
    broken = jnp.isnan(maps).any(axis=(-2, -1))
    if rank:
        maps = _ranks(maps)
    ef = expected_frequency_from_spectrum(normalized_spectrum(_radial_power_spectrum(maps)), convention)
    return jnp.where(broken, jnp.nan, ef)


def expected_frequency(maps, *, rank: bool = True, convention: str = "unit",
                       channel_axis: int | None = None) -> jax.Array:
    """EF = Σ_k ω_k p_k per map: (B, H, W) → (B,), (H, W) → ().

    ``rank`` rank-normalizes each map first (the paper's protocol; no gradient: differentiating it raises
    :class:`RankGradientError`); ``rank=False`` gives the raw EF, differentiable in the map.
    ``convention="unit"`` gives EF on the [0, 1] frequency scale; ``"authors"`` gives EF / K (the authors'
    code, mean_k ω_k p_k). A map with no power at all (all zeros without rank normalization) has EF 0; a
    map holding any NaN (a diverged network) has EF NaN. ``channel_axis``: see :func:`as_maps`.
    """
    check_convention(convention)
    return _expected_frequency(jnp.asarray(as_maps(maps, channel_axis)), rank, convention)


def expected_frequency_from_spectrum(probs: jax.Array, convention: str = "unit") -> jax.Array:
    """EF of normalized radial spectra p (..., K) → (...); conventions as in expected_frequency."""
    check_convention(convention)
    num_bins = probs.shape[-1]
    ef = probs @ frequency_axis(num_bins).astype(probs.dtype)
    return ef / num_bins if convention == "authors" else ef
