"""Plumbing shared by every attribution method: the model adapter, the explained scalar, noise, gradients.

Images are (B, H, W, C); the explained scalar is log softmax(logits)[target] (``score="log_prob"``, the
paper's) or the target logit (``score="logit"``: Captum's convention, which explains the model's raw output);
``target`` defaults to the predicted class.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import sys
from typing import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

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
        # Flax types apply's result as "output or (output, state)" whatever ``mutable``; with none it is the output
        return Model(model_or_fn.apply, model_or_fn)  # type: ignore[arg-type]
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


COUNT_OPTIONS = ("samples", "steps")
SPREAD_OPTIONS = ("sigma", "noise_std")


def check_options(options: dict) -> None:
    """Raise UsageError naming the option when a count (``samples``, ``steps``) is not an integer ≥ 1,
    a noise level (``sigma``, ``noise_std``) is not a finite number ≥ 0, or ``layer`` is an empty name
    (array values are left to the traced computation)."""
    for name, value in options.items():
        if isinstance(value, (jax.Array, np.ndarray)):  # array options are call arguments, possibly traced
            continue
        if name in COUNT_OPTIONS and (isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1):
            raise UsageError(f"{name}={value!r} is invalid; use an integer ≥ 1")
        if name in SPREAD_OPTIONS and (isinstance(value, bool) or not isinstance(value, numbers.Real)
                                       or not math.isfinite(value) or value < 0):
            raise UsageError(f"{name}={value!r} is invalid; use a finite number ≥ 0 (in image units, images in [0, 1])")
        if name == "layer" and value is not None and (not isinstance(value, str) or not value.strip()):
            raise UsageError(f"layer={value!r} is invalid; name a submodule, e.g. layer='conv2', or pass None "
                             "for the model's default layer")


def check_images(x) -> None:
    """Raise UsageError unless x is a non-empty float batch (B, H, W, C)."""
    if x.ndim != 4:
        raise UsageError(f"explain takes images (B, H, W, C) (NHWC); got shape {tuple(x.shape)}")
    if x.shape[0] == 0:
        raise UsageError(f"explain needs at least one image; got a batch of 0 (shape {tuple(x.shape)})")
    if not jnp.issubdtype(x.dtype, jnp.floating):
        raise UsageError(f"images have dtype {x.dtype}; explain needs float images in [0, 1]: convert them, "
                         "e.g. x.astype(np.float32) / 255 for uint8 pixels")


def logits_shape(apply: ApplyFn, variables, x) -> tuple[int, int]:
    """(B, K) of the model's logits for x, found by tracing only; UsageError when the images do not fit the
    model (naming NHWC and the shape got) or the model does not return logits (B, K)."""
    try:
        out = jax.eval_shape(apply, variables, x)
    except Exception as error:  # Flax and XLA raise many kinds for a shape the parameters do not fit
        first = str(error).strip().splitlines()[0] if str(error).strip() else ""
        raise UsageError(f"the model cannot take images of shape {tuple(x.shape)}: it expects NHWC images "
                         f"(B, H, W, C) with the size and channel count it was built for ({type(error).__name__}: "
                         f"{first[:200]})") from error
    shape = getattr(out, "shape", None)
    if shape is None or len(shape) != 2 or shape[0] != x.shape[0]:
        raise UsageError(f"the model returned {'shape ' + str(tuple(shape)) if shape is not None else type(out).__name__} "
                         f"for {x.shape[0]} images; explain needs a model that returns logits (B, K)")
    return tuple(shape)


def check_target(target, batch: int, classes: int) -> jax.Array:
    """``target`` (an int or (B,) ints in [0, classes)) as int32 (B,); UsageError naming what is wrong."""
    if isinstance(target, jax.core.Tracer):  # inside a caller's jit: only the shape can be checked
        values = None
    else:
        values = np.asarray(target)
        if values.dtype == bool or not np.issubdtype(values.dtype, np.integer):
            raise UsageError(f"target={target!r} is invalid; give integer class indices (an int or one per image), "
                             f"not {values.dtype}")
    if np.ndim(target) not in (0, 1) or (np.ndim(target) == 1 and np.shape(target)[0] != batch):
        raise UsageError(f"target has shape {np.shape(target)}; give one class index, or one per image: shape ({batch},)")
    if values is not None and values.size and (values.min() < 0 or values.max() >= classes):
        bad = int(values.min()) if values.min() < 0 else int(values.max())
        raise UsageError(f"target {bad} is out of range: the model has {classes} classes (0 to {classes - 1})")
    return jnp.broadcast_to(jnp.asarray(target, jnp.int32), (batch,))


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
