"""Spectral complexity of explanations, Quantus-style: Expected Frequency, high-frequency mass, radial spectra.

Lower is simpler for every score here (power concentrated at low spatial frequencies). Each metric is a
class called the Quantus way (``metric(model=None, x_batch=, y_batch=, a_batch=, channel_first=None)``,
see :mod:`specxai_jax.metrics._convention`) beside a plain function of ``a_batch`` alone. Attributions
with channels are summed over them (the paper's channel-summed maps); computation is batched and jitted.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from specxai_jax import spectral
from specxai_jax.metrics._convention import QuantusStyleMetric


@functools.partial(jax.jit, static_argnames=("rank", "normalize"))
def _radial_spectra(maps: jax.Array, rank: bool, normalize: bool) -> jax.Array:
    if rank:
        maps = spectral.rank_normalize(maps)
    radial = spectral.radial_power_spectrum(maps)
    return spectral.normalized_spectrum(radial) if normalize else radial


def radial_spectra(a_batch, *, rank: bool = True, normalize: bool = True,
                   channel_axis: int | None = None) -> np.ndarray:
    """Radial power spectrum per map, (B, H, W) → (B, K); ``normalize`` divides each by its total (p_k)."""
    maps = jnp.asarray(spectral.as_maps(a_batch, channel_axis))
    return np.asarray(_radial_spectra(maps, rank, normalize))


def expected_frequency_scores(a_batch, *, rank: bool = True, convention: str = "unit",
                              channel_axis: int | None = None) -> np.ndarray:
    """EF per map, (B, H, W) → (B,): :func:`specxai_jax.spectral.expected_frequency` as NumPy."""
    return np.asarray(spectral.expected_frequency(a_batch, rank=rank, convention=convention,
                                                  channel_axis=channel_axis))


def _check_cutoff(cutoff: float) -> None:
    if not 0.0 <= cutoff < 1.0:
        raise ValueError(f"cutoff is a frequency on the [0, 1) scale of EF; got {cutoff}")


def high_frequency_mass(a_batch, *, cutoff: float = 0.5, rank: bool = True,
                        channel_axis: int | None = None) -> np.ndarray:
    """Σ p_k over the bins with ω_k > ``cutoff`` (ω on the [0, 1] scale of EF), (B, H, W) → (B,), in [0, 1]."""
    _check_cutoff(cutoff)
    probs = radial_spectra(a_batch, rank=rank, normalize=True, channel_axis=channel_axis)
    omega = np.arange(probs.shape[-1]) / max(probs.shape[-1] - 1, 1)
    return probs[:, omega > cutoff].sum(axis=-1)


def _summed_maps(a_nhwc: np.ndarray) -> np.ndarray:
    return a_nhwc.sum(axis=-1)


class ExpectedFrequency(QuantusStyleMetric):
    """EF per image (lower is simpler); ``convention`` "unit" (EF on [0, 1]) or "authors" (EF / K), ``rank`` as
    in :func:`specxai_jax.spectral.expected_frequency`."""

    score_direction = "lower"

    def __init__(self, *, rank: bool = True, convention: str = "unit"):
        spectral.check_convention(convention)
        self.rank, self.convention = rank, convention

    def scores(self, model, x_nhwc, y_batch, a_nhwc, key) -> np.ndarray:
        return expected_frequency_scores(_summed_maps(a_nhwc), rank=self.rank, convention=self.convention)


class HighFrequencyMass(QuantusStyleMetric):
    """Share of the normalized radial spectrum above the frequency ``cutoff`` per image (lower is simpler)."""

    score_direction = "lower"

    def __init__(self, *, cutoff: float = 0.5, rank: bool = True):
        _check_cutoff(cutoff)
        self.cutoff, self.rank = cutoff, rank

    def scores(self, model, x_nhwc, y_batch, a_nhwc, key) -> np.ndarray:
        return high_frequency_mass(_summed_maps(a_nhwc), cutoff=self.cutoff, rank=self.rank)


class RadialSpectrum(QuantusStyleMetric):
    """Radial power spectrum per image, one list of K values each (mass at high k: less simple)."""

    score_direction = "lower"

    def __init__(self, *, rank: bool = True, normalize: bool = True):
        self.rank, self.normalize = rank, normalize

    def scores(self, model, x_nhwc, y_batch, a_nhwc, key) -> np.ndarray:
        return radial_spectra(_summed_maps(a_nhwc), rank=self.rank, normalize=self.normalize)
