"""The explained scalar and plain input gradients, shared by every attribution method.

Images are (B, H, W, C); the explained scalar is log softmax(logits)[target] ("log_prob") or the
target logit ("logit"); ``target`` defaults to the predicted class.
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp

ApplyFn = Callable[..., jax.Array]
SCORES = ("log_prob", "logit")


def as_apply(model_or_apply) -> ApplyFn:
    """A Flax module or an ``apply(variables, x) -> logits`` callable → the callable."""
    return model_or_apply.apply if hasattr(model_or_apply, "apply") else model_or_apply


def predicted_class(apply_fn: ApplyFn, variables: dict, x: jax.Array) -> jax.Array:
    """argmax logits, shape (B,)."""
    return jnp.argmax(apply_fn(variables, x), axis=-1)


def resolve_target(apply_fn: ApplyFn, variables: dict, x: jax.Array, target) -> jax.Array:
    """``target`` as int array (B,), the predicted class where None."""
    if target is None:
        return predicted_class(apply_fn, variables, x)
    return jnp.broadcast_to(jnp.asarray(target, jnp.int32), (x.shape[0],))


def select_score(logits: jax.Array, target: jax.Array, score: str = "log_prob") -> jax.Array:
    """The explained scalar per image from logits (B, K): log-softmax or raw logit of ``target``, (B,)."""
    if score not in SCORES:
        raise ValueError(f"unknown score {score!r}; choose one of {SCORES}")
    values = jax.nn.log_softmax(logits, axis=-1) if score == "log_prob" else logits
    return jnp.take_along_axis(values, target[:, None], axis=-1)[:, 0]


def target_log_prob(apply_fn: ApplyFn, variables: dict, x: jax.Array, target: jax.Array) -> jax.Array:
    """log softmax(logits(x))[target], shape (B,)."""
    return select_score(apply_fn(variables, x), target, "log_prob")


def score_gradient(apply_fn: ApplyFn, variables: dict, x: jax.Array, target: jax.Array,
                   score: str = "log_prob") -> jax.Array:
    """∇ₓ of the explained scalar per image, shape of x (images are independent in the batch)."""
    return jax.grad(lambda inputs: select_score(apply_fn(variables, inputs), target, score).sum())(x)


def input_gradient(apply_fn: ApplyFn, variables: dict, x: jax.Array, target: jax.Array) -> jax.Array:
    """∇ₓ log p(target | x) per image, shape of x."""
    return score_gradient(apply_fn, variables, x, target, "log_prob")


def vanilla_grad(apply_fn: ApplyFn, variables: dict, x: jax.Array, target: jax.Array | None = None,
                 *, noise_std: float = 0.0, samples: int = 1, key: jax.Array | None = None) -> jax.Array:
    """∇ₓ f_c(x), optionally averaged over ``samples`` copies with N(0, noise_std²) input noise.

    The authors average over tiny noise (variance 1e-5) even for VanillaGrad; noise_std=0 is exact.
    """
    target = resolve_target(apply_fn, variables, x, target)
    if noise_std == 0.0:
        return input_gradient(apply_fn, variables, x, target)
    key = jax.random.key(0) if key is None else key
    noise = noise_std * jax.random.normal(key, (samples, *x.shape), x.dtype)
    grads = jax.lax.map(lambda eps: input_gradient(apply_fn, variables, x + eps, target), noise)
    return grads.mean(axis=0)
