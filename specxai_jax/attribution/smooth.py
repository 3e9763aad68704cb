"""SmoothGrad: the gradient averaged over Gaussian-perturbed copies of the input."""

from __future__ import annotations

import jax

from specxai_jax.attribution.gradients import ApplyFn, resolve_target, score_gradient


def smooth_grad(apply_fn: ApplyFn, variables: dict, x: jax.Array, target: jax.Array | None = None, *,
                sigma: float = 0.15, samples: int = 16, key: jax.Array | None = None,
                noise: jax.Array | None = None, score: str = "log_prob") -> jax.Array:
    """mean_s ∇f_c(x + ε_s), ε_s ~ N(0, σ²I) (σ in image units, images in [0, 1]); shape of x.

    ``noise`` (S, *x.shape) replaces the drawn ε (then sigma, samples and key are unused). The target
    is fixed at the clean image's (predicted) class, as Captum's NoiseTunnel does.
    """
    target = resolve_target(apply_fn, variables, x, target)
    if noise is None:
        key = jax.random.key(0) if key is None else key
        noise = sigma * jax.random.normal(key, (samples, *x.shape), x.dtype)
    grads = jax.lax.map(lambda eps: score_gradient(apply_fn, variables, x + eps, target, score), noise)
    return grads.mean(axis=0)
