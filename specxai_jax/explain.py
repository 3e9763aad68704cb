"""Gradient explanations behind one call: ``explain(method, model_or_apply, variables, x, target)``.

Every method returns attributions shaped like x (B, H, W, C). The explained scalar is the
log-softmax of the target class (the predicted class when ``target`` is None).
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp

ApplyFn = Callable[[dict, jax.Array], jax.Array]


def as_apply(model_or_apply) -> ApplyFn:
    """A Flax module or an ``apply(variables, x) -> logits`` callable → the callable."""
    return model_or_apply.apply if hasattr(model_or_apply, "apply") else model_or_apply


def predicted_class(apply_fn: ApplyFn, variables: dict, x: jax.Array) -> jax.Array:
    """argmax logits, shape (B,)."""
    return jnp.argmax(apply_fn(variables, x), axis=-1)


def target_log_prob(apply_fn: ApplyFn, variables: dict, x: jax.Array, target: jax.Array) -> jax.Array:
    """log softmax(logits(x))[target], shape (B,)."""
    logp = jax.nn.log_softmax(apply_fn(variables, x), axis=-1)
    return jnp.take_along_axis(logp, target[:, None], axis=-1)[:, 0]


def input_gradient(apply_fn: ApplyFn, variables: dict, x: jax.Array, target: jax.Array) -> jax.Array:
    """∇ₓ log p(target | x) per image, shape of x (images are independent in the batch)."""
    return jax.grad(lambda inputs: target_log_prob(apply_fn, variables, inputs, target).sum())(x)


def vanilla_grad(apply_fn: ApplyFn, variables: dict, x: jax.Array, target: jax.Array | None = None,
                 *, noise_std: float = 0.0, samples: int = 1, key: jax.Array | None = None) -> jax.Array:
    """∇ₓ f_c(x), optionally averaged over ``samples`` copies with N(0, noise_std²) input noise.

    The authors average over tiny noise (variance 1e-5) even for VanillaGrad; noise_std=0 is exact.
    """
    if target is None:
        target = predicted_class(apply_fn, variables, x)
    if noise_std == 0.0:
        return input_gradient(apply_fn, variables, x, target)
    key = jax.random.key(0) if key is None else key
    noise = noise_std * jax.random.normal(key, (samples, *x.shape), x.dtype)
    grads = jax.lax.map(lambda eps: input_gradient(apply_fn, variables, x + eps, target), noise)
    return grads.mean(axis=0)


METHODS: dict[str, Callable] = {"vanilla_grad": vanilla_grad}


def explain(method: str, model_or_apply, variables: dict, x: jax.Array,
            target: jax.Array | None = None, **options) -> jax.Array:
    """Attributions of ``method`` (one of METHODS) for images x (B, H, W, C), shaped like x."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    return METHODS[method](as_apply(model_or_apply), variables, x, target, **options)
