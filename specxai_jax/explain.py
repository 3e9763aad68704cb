"""Every explanation method behind one call: ``explain(method, model_or_apply, variables, x, target)``.

Images are (B, H, W, C) float32 in [0, 1]; every method returns attributions shaped like x. The
explained scalar is the log-softmax of the target class (the predicted class when ``target`` is None),
except LRP, which decomposes the target logit. Methods are pure JAX functions: batched over images
and jit-compatible (``explain`` compiles them).

Modified-gradient methods (guided_backprop, deeplift, lrp, guided_gradcam) need models whose
activations and max pooling go through :mod:`specxai_jax.attribution.rules`; GradCAM needs the
feature map exposed with ``rules.expose_feature_map`` (name ``"last_conv"``).
"""

from __future__ import annotations

import functools
from typing import Callable

import jax

from specxai_jax.attribution.deeplift import deeplift
from specxai_jax.attribution.gradcam import gradcam, guided_gradcam
from specxai_jax.attribution.gradients import (
    ApplyFn,
    as_apply,
    input_gradient,
    predicted_class,
    target_log_prob,
    vanilla_grad,
)
from specxai_jax.attribution.guided import guided_backprop
from specxai_jax.attribution.integrated import integrated_gradients
from specxai_jax.attribution.lrp import lrp
from specxai_jax.attribution.smooth import smooth_grad

__all__ = ["METHODS", "ApplyFn", "as_apply", "deeplift", "explain", "gradcam", "guided_backprop",
           "guided_gradcam", "input_gradient", "integrated_gradients", "lrp", "predicted_class",
           "smooth_grad", "target_log_prob", "vanilla_grad"]

METHODS: dict[str, Callable] = {
    "vanilla_grad": vanilla_grad,
    "smooth_grad": smooth_grad,
    "integrated_gradients": integrated_gradients,
    "guided_backprop": guided_backprop,
    "deeplift": deeplift,
    "gradcam": gradcam,
    "guided_gradcam": guided_gradcam,
    "lrp": lrp,
}


def explain(method: str, model_or_apply, variables: dict, x: jax.Array,
            target: jax.Array | None = None, **options) -> jax.Array:
    """Attributions of ``method`` (one of METHODS) for images x (B, H, W, C), shaped like x.

    ``options`` are the method's keyword arguments (e.g. sigma, samples, key for smooth_grad).
    The call is jit-compiled; concrete-value checks (LRP's ReLU check) run on a first eager trace.
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    fn = functools.partial(METHODS[method], as_apply(model_or_apply), **options)
    if method == "lrp":
        jax.eval_shape(lambda inputs: fn(variables, inputs, target), x)
    return jax.jit(fn)(variables, x, target)
