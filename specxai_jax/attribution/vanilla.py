"""VanillaGrad: the input gradient of the explained scalar, optionally averaged over tiny input noise."""

from __future__ import annotations

import jax

from specxai_jax.attribution.core import (
    ApplyFn,
    check_score,
    default_index,
    image_noise,
    noisy_gradient,
    require_key,
    resolve_target,
    score_gradient,
)


def vanilla_grad(apply_fn: ApplyFn, variables, x: jax.Array, target: jax.Array | None = None, *,
                 noise_std: float = 0.0, samples: int = 1, key: jax.Array | None = None,
                 index: jax.Array | None = None, score: str = "log_prob") -> jax.Array:
    """∇ₓ f_c(x), shape of x; with ``noise_std`` > 0, averaged over ``samples`` copies x + N(0, noise_std²).

    The authors average over tiny noise (variance 1e-5) even for VanillaGrad; noise_std=0 is exact.
    Image b's noise is drawn from ``fold_in(key, index[b])`` (``index`` defaults to 0..B−1).
    """
    check_score(score)
    target = resolve_target(apply_fn, variables, x, target)
    if noise_std == 0.0:
        return score_gradient(apply_fn, variables, x, target, score)
    noise = image_noise(require_key(key, "vanilla_grad with noise_std > 0"), default_index(x, index), x.shape[1:],
                        noise_std, samples).astype(x.dtype)
    return noisy_gradient(apply_fn, variables, x, target, noise, score)
