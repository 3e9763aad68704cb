"""Plumbing shared by every attribution method: the model adapter, the explained scalar, noise, gradients.

Images are (B, H, W, C); the explained scalar is log softmax(logits)[target] (``score="log_prob"``, the
paper's) or the target logit (``score="logit"``: Captum's convention, which explains the model's raw output);
``target`` defaults to the predicted class.
"""

from __future__ import annotations

import dataclasses
import sys
from typing import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp

from specxai_jax.errors import UsageError

ApplyFn = Callable[..., jax.Array]
SCORES = ("log_prob", "logit")


@dataclasses.dataclass(frozen=True)
class Model:
    """A model as ``apply(variables, x) → logits (B, K)``.

    ``module``: the Flax linen module, if any (GradCAM finds layers in it); ``nnx_graph``: the NNX
    graph definition, if any (then ``variables`` is the module's ``nnx.State``).
    """

    apply: ApplyFn
    module: nn.Module | None = None
    nnx_graph: object = None


def as_model(model_or_fn) -> Model:
    """A Flax linen module, its ``.apply``, an NNX module or a function ``f(params, x) → logits`` → Model."""
    if isinstance(model_or_fn, Model):
        return model_or_fn
    if isinstance(model_or_fn, nn.Module):
        return Model(model_or_fn.apply, model_or_fn)
    owner = getattr(model_or_fn, "__self__", None)
    if isinstance(owner, nn.Module) and getattr(model_or_fn, "__name__", "") == "apply":
        return Model(model_or_fn, owner)
    nnx = sys.modules.get("flax.nnx")   # an NNX module exists only once flax.nnx is imported (~0.3 s, so not here)
    if nnx is not None and isinstance(model_or_fn, nnx.Module):
        graph = nnx.graphdef(model_or_fn)
        return Model(lambda state, x: nnx.merge(graph, state)(x), nnx_graph=graph)
    equinox = sys.modules.get("equinox")   # imported by the caller if it made an equinox module
    if equinox is not None and isinstance(model_or_fn, equinox.Module):
        raise UsageError("pass an equinox module as a function: params, static = eqx.partition(model, "
                         "eqx.is_array); f = lambda p, x: jax.vmap(eqx.combine(p, static))(x); "
                         "explain(..., f, params, x)")
    if callable(model_or_fn):
        return Model(model_or_fn)
    raise TypeError(f"expected a Flax linen or NNX module or a function f(params, x) -> logits, "
                    f"got {type(model_or_fn).__name__}")


def predicted_class(apply_fn: ApplyFn, variables, x: jax.Array) -> jax.Array:
    """argmax logits, shape (B,)."""
    return jnp.argmax(as_model(apply_fn).apply(variables, x), axis=-1)


def resolve_target(apply_fn: ApplyFn, variables, x: jax.Array, target) -> jax.Array:
    """``target`` as int array (B,), the predicted class where None."""
    if target is None:
        return predicted_class(apply_fn, variables, x)
    return jnp.broadcast_to(jnp.asarray(target, jnp.int32), (x.shape[0],))


def check_score(score: str) -> None:
    """Raise for a ``score`` that is not one of SCORES."""
    if score not in SCORES:
        raise ValueError(f"unknown score {score!r}; choose one of {', '.join(SCORES)}")


def select_score(logits: jax.Array, target: jax.Array, score: str = "log_prob") -> jax.Array:
    """The explained scalar per image from logits (B, K): log-softmax or raw logit of ``target``, (B,)."""
    check_score(score)
    values = jax.nn.log_softmax(logits, axis=-1) if score == "log_prob" else logits
    return jnp.take_along_axis(values, target[:, None], axis=-1)[:, 0]


def target_log_prob(apply_fn: ApplyFn, variables, x: jax.Array, target: jax.Array) -> jax.Array:
    """log softmax(logits(x))[target], shape (B,)."""
    return select_score(as_model(apply_fn).apply(variables, x), target, "log_prob")


def score_gradient(apply_fn: ApplyFn, variables, x: jax.Array, target: jax.Array,
                   score: str = "log_prob") -> jax.Array:
    """∇ₓ of the explained scalar per image, shape of x (images are independent in the batch)."""
    apply = as_model(apply_fn).apply
    return jax.grad(lambda inputs: select_score(apply(variables, inputs), target, score).sum())(x)


def input_gradient(apply_fn: ApplyFn, variables, x: jax.Array, target: jax.Array) -> jax.Array:
    """∇ₓ log p(target | x) per image, shape of x."""
    return score_gradient(apply_fn, variables, x, target, "log_prob")


def noisy_gradient(apply_fn: ApplyFn, variables, x: jax.Array, target: jax.Array, noise: jax.Array,
                   score: str = "log_prob") -> jax.Array:
    """mean_s ∇f(x + noise[s]) for noise (S, *x.shape), target fixed; shape of x."""
    grads = jax.lax.map(lambda eps: score_gradient(apply_fn, variables, x + eps, target, score), noise)
    return grads.mean(axis=0)


def require_key(key, method: str) -> jax.Array:
    """``key`` itself; a one-line error when a method that draws noise got none."""
    if key is None:
        raise ValueError(f"{method} draws random noise: pass key=jax.random.key(seed) (or noise=...)")
    return key


def image_noise(key: jax.Array, index: jax.Array, shape: tuple[int, ...], std: float, samples: int) -> jax.Array:
    """N(0, std²) noise (S, B, *shape) whose image-b slice depends only on (key, index[b]).

    Keying each image by its position in the whole image set makes the numbers independent of the
    batch size and of how images are split over devices.
    """
    draw = jax.vmap(lambda i: jax.random.normal(jax.random.fold_in(key, i), (samples, *shape)))
    return std * draw(index).swapaxes(0, 1)


def default_index(x: jax.Array, index) -> jax.Array:
    """Each image's position in the whole image set (B,): ``index``, or 0..B−1 when None."""
    return jnp.arange(x.shape[0]) if index is None else jnp.asarray(index)
