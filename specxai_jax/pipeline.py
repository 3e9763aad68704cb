"""Saliency → rank normalization → FFT → radial spectrum → EF, fused on the device for many models.

Models are stacked along a leading axis M; images stream through in batches, and only running sums
(and a few example maps) stay on the device, so memory is bounded by the batch.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from specxai_jax import spectral
from specxai_jax.explain import vanilla_grad


@dataclasses.dataclass
class SpectralSummary:
    """Per-model EF statistics over n images, EF on the [0, 1] scale ("unit" convention)."""

    ef_mean: np.ndarray          # (M,)
    ef_std: np.ndarray           # (M,) standard deviation over images
    mean_spectrum: np.ndarray    # (M, K) mean normalized radial spectrum
    n_images: int
    dead_maps: np.ndarray        # (M,) count of all-zero saliency maps (EF defined as 0 there)
    examples: np.ndarray         # (M, E, H, W) the first E channel-summed saliency maps

    @property
    def ef_authors(self) -> np.ndarray:
        """EF / K: the authors' code convention (mean_k ω_k p_k)."""
        return self.ef_mean / self.mean_spectrum.shape[-1]


def saliency_maps(apply_fn: Callable, variables: dict, x: jax.Array, *, noise_std: float = 0.0,
                  samples: int = 1, key: jax.Array | None = None) -> jax.Array:
    """Channel-summed VanillaGrad of one model: (B, H, W, C) → (B, H, W)."""
    return vanilla_grad(apply_fn, variables, x, None, noise_std=noise_std, samples=samples, key=key).sum(axis=-1)


def make_batch_statistics(apply_fn: Callable, *, noise_std: float = 0.0, samples: int = 1):
    """jit: (stacked variables, images (B,H,W,C), key) → per-model sums over the batch.

    Returns (Σ EF, Σ EF², Σ p (K,), dead count, maps (M, B, H, W)).
    """

    def one_model(variables, x, key):
        maps = saliency_maps(apply_fn, variables, x, noise_std=noise_std, samples=samples, key=key)
        probs = spectral.normalized_spectrum(spectral.radial_power_spectrum(spectral.rank_normalize(maps)))
        ef = spectral.expected_frequency_from_spectrum(probs)
        dead = jnp.all(maps == 0, axis=(-2, -1))
        return ef.sum(), (ef**2).sum(), probs.sum(axis=0), dead.sum(), maps

    return jax.jit(jax.vmap(one_model, in_axes=(0, None, None)))


def summarize_saliency(apply_fn: Callable, variables: dict, images: np.ndarray, *, batch_size: int = 256,
                       noise_std: float = 0.0, samples: int = 1, seed: int = 0, n_examples: int = 8,
                       progress: Callable | None = None) -> SpectralSummary:
    """EF statistics of M stacked models over ``images`` (N, H, W, C), streamed in batches."""
    statistics = make_batch_statistics(apply_fn, noise_std=noise_std, samples=samples)
    count = images.shape[0]
    totals = None
    examples = None
    for start in range(0, count, batch_size):
        batch = jnp.asarray(images[start:start + batch_size])
        key = jax.random.fold_in(jax.random.key(seed), start)
        *sums, maps = statistics(variables, batch, key)
        totals = sums if totals is None else [a + b for a, b in zip(totals, sums)]
        if examples is None:
            examples = np.asarray(maps[:, :n_examples])
        if progress is not None:
            progress(batch.shape[0])
    ef_sum, ef_sq_sum, prob_sum, dead = (np.asarray(t, np.float64) for t in totals)
    mean = ef_sum / count
    variance = np.maximum(ef_sq_sum / count - mean**2, 0.0)
    return SpectralSummary(mean, np.sqrt(variance), prob_sum / count, count, dead.astype(int), examples)
