"""SmoothGrad: the gradient averaged over Gaussian-perturbed copies of the input."""

from __future__ import annotations

import jax

from specxai_jax.attribution.core import (
    ApplyFn,
    check_options,
    check_score,
    default_index,
    image_noise,
    noisy_gradient,
    require_key,
    resolve_target,
)


def smooth_grad(apply_fn: ApplyFn, variables, x: jax.Array, target: jax.Array | None = None, *,
                sigma: float = 0.15, samples: int = 16, key: jax.Array | None = None,
                noise: jax.Array | None = None, index: jax.Array | None = None,
                score: str = "log_prob") -> jax.Array:
    """mean_s ∇f_c(x + ε_s), ε_s ~ N(0, σ²I) (σ in image units, images in [0, 1]); shape of x.

    Image b's noise is drawn from ``fold_in(key, index[b])`` (``index``: positions in the whole image
    set, default 0..B−1), so results do not depend on the batch size. ``noise`` (S, *x.shape) replaces
    the drawn ε (then sigma, samples, key and index are unused). The target is fixed at the clean
    image's (predicted) class, as Captum's NoiseTunnel does.
    """
    check_score(score)
    check_options({"sigma": sigma, "samples": samples})
    target = resolve_target(apply_fn, variables, x, target)
    if noise is None:
        noise = image_noise(require_key(key, "smooth_grad"), default_index(x, index), x.shape[1:], sigma,
                            samples).astype(x.dtype)
    return noisy_gradient(apply_fn, variables, x, target, noise, score)
