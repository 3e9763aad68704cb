"""EF-regularized training: penalise the spatial frequency of the network's own VanillaGrad maps.

The explained map is the channel-summed input gradient of the predicted class's log-softmax,
g(x) = Σ_c ∇ₓ log softmax(f(x))[ĉ], ĉ = argmax f(x) (held fixed: the class is not differentiated). The penalty
is its raw Expected Frequency (Eq. 1 without rank normalization, unit convention) averaged over the batch; its
gradient in the parameters goes through the input gradient (double backpropagation).

Raw EF is scale-free (EF(a·g) = EF(g)), so the network cannot lower it by shrinking or saturating its
gradients; only the maps' spatial shape counts. :func:`high_frequency_energy` is the unnormalized alternative
Σ_k ω_k S_k (frequency-weighted power): quadratic, but lowered as well by flat, saturated log-softmax
gradients, which is why training uses EF (FAITHFULNESS.md gives the measurement).
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp

from specxai_jax import spectral


def saliency_maps(apply_fn: Callable, variables, x: jax.Array) -> jax.Array:
    """Channel-summed ∇ₓ log p_ĉ(x) of the predicted class ĉ, (B, H, W, C) → (B, H, W); differentiable in ``variables``."""
    target = jax.lax.stop_gradient(jnp.argmax(apply_fn(variables, x), axis=-1))

    def log_prob(inputs):
        log_probs = jax.nn.log_softmax(apply_fn(variables, inputs), axis=-1)
        return jnp.take_along_axis(log_probs, target[:, None], axis=-1).sum()

    return jax.grad(log_prob)(x).sum(axis=-1)


def ef_penalty(apply_fn: Callable, variables, x: jax.Array) -> jax.Array:
    """Mean raw EF (unit scale, in [0, 1]) of the batch's saliency maps: a scalar."""
    return spectral.expected_frequency(saliency_maps(apply_fn, variables, x), rank=False).mean()


def high_frequency_energy(apply_fn: Callable, variables, x: jax.Array) -> jax.Array:
    """Mean over the batch of Σ_k ω_k S_k / (H·W)², the saliency maps' frequency-weighted radial power: a scalar."""
    maps = saliency_maps(apply_fn, variables, x)
    radial = spectral.radial_power_spectrum(maps)
    weights = spectral.frequency_axis(radial.shape[-1]).astype(radial.dtype)
    return (radial @ weights).mean() / (maps.shape[-1] * maps.shape[-2]) ** 2


def penalized(loss_fn: Callable, apply_fn: Callable, variables: dict, weight: float) -> Callable:
    """``loss_fn(params, x, y) → (loss, aux)`` plus ``weight`` · :func:`ef_penalty` of the model with ``params``.

    The penalty is evaluated in inference mode (``apply_fn(variables, x)``; batch statistics, if any, as stored).
    """

    def loss(params, x, y):
        value, aux = loss_fn(params, x, y)
        return value + weight * ef_penalty(apply_fn, {**variables, "params": params}, x), aux

    return loss
