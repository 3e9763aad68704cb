"""Every explanation method behind one interface: ``make_explainer`` (compiled once) and ``explain`` (one call).

    explainer = make_explainer("smooth_grad", model, sigma=0.1, samples=16)
    maps = explainer(variables, x, key=jax.random.key(0))        # compiled on the first call per shape
    maps = explain("gradcam", model, variables, x, layer="Conv_1")  # the same, cached per (method, model, options)

The model is a Flax linen module (or its ``.apply``), an NNX module (``variables`` = its ``nnx.State``,
or None for its own) or a function ``f(params, x) → logits``. Images are (B, H, W, C); every method
returns attributions shaped like x. The explained scalar is the log-softmax of the target class
(``score="log_prob"``, the paper's; the predicted class when ``target`` is None) or its logit
(``score="logit"``: Captum's convention, e.g. ``Saliency(model).attribute(x, target)`` on a model whose
output is the logits; LRP always decomposes the logit). Methods that draw noise need an explicit ``key``.

GuidedBackprop, DeepLift and LRP rewrite the backward pass of the ReLUs, activations and max
poolings they find in the model's own traced computation (:mod:`specxai_jax.attribution.backward`);
GradCAM reads the output of the linen or NNX submodule ``layer=`` (default: the module's ``gradcam_layer``
attribute, else its last submodule with a map output), or of ``features=`` with ``head=`` for any model
(:mod:`specxai_jax.attribution.gradcam`).
"""

from __future__ import annotations

import functools
import inspect
import sys
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from specxai_jax.attribution.core import (
    ApplyFn,
    Model,
    as_model,
    check_images,
    check_options,
    check_target,
    input_gradient,
    logits_shape,
    predicted_class,
    select_score,
    target_log_prob,
)
from specxai_jax.attribution.deeplift import deeplift
from specxai_jax.attribution.gradcam import gradcam, guided_gradcam
from specxai_jax.attribution.guided import guided_backprop
from specxai_jax.attribution.integrated import integrated_gradients
from specxai_jax.attribution.lrp import lrp
from specxai_jax.attribution.smooth import smooth_grad
from specxai_jax.attribution.vanilla import vanilla_grad
from specxai_jax.ops import fast_forms

__all__ = ["METHODS", "ApplyFn", "Explainer", "Model", "as_model", "deeplift", "explain", "gradcam",
           "guided_backprop", "guided_gradcam", "input_gradient", "integrated_gradients", "lrp", "make_explainer",
           "predicted_class", "select_score", "smooth_grad", "target_log_prob", "vanilla_grad"]

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


def _is_array(value) -> bool:
    return isinstance(value, (jax.Array, np.ndarray))


def _options_of(method: str) -> tuple[str, ...]:
    return tuple(name for name, p in inspect.signature(METHODS[method]).parameters.items()
                 if p.kind is inspect.Parameter.KEYWORD_ONLY)


class Explainer:
    """``explainer(variables, x, target=None, **arrays)`` → attributions shaped like x (B, H, W, C).

    Compiled once per input shape and dtype. Construction options that are arrays (baseline, noise,
    key, index) are call arguments of the compiled function and may be replaced per call by keyword;
    the other options (numbers, strings) are fixed in the compiled program.
    """

    def __init__(self, method: str, model_or_fn, **options):
        if method not in METHODS:
            raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
        unknown = sorted(set(options) - set(_options_of(method)))
        if unknown:
            raise ValueError(f"{method} takes the options {', '.join(_options_of(method))}; got {', '.join(unknown)}")
        check_options(options)
        self.method = method
        self.model = as_model(model_or_fn)
        self._owner = model_or_fn if self.model.nnx_graph is not None else None
        self.arrays = {name: value for name, value in options.items() if _is_array(value)}
        fixed = {name: value for name, value in options.items() if not _is_array(value)}
        self._classes: dict = {}   # (image shape, dtype, variable shapes) → the model's class count there
        attribute = functools.partial(METHODS[method], self.model, **fixed)
        self.compiled = fast_forms.jit(lambda variables, x, target, arrays: attribute(variables, x, target, **arrays))

    def __call__(self, variables, x, target=None, **arrays) -> jax.Array:
        unknown = sorted(set(arrays) - set(_options_of(self.method)))
        if unknown:
            raise ValueError(f"{self.method} takes the options {', '.join(_options_of(self.method))}; "
                             f"got {', '.join(unknown)}")
        if variables is None:
            if self._owner is None:
                raise ValueError("variables are required (None means the module's own state for NNX modules only)")
            variables = sys.modules["flax.nnx"].state(self._owner)   # imported: the owner is an NNX module
        x = jnp.asarray(x)
        check_images(x)
        signature = (x.shape, x.dtype.str, str(jax.tree.map(jnp.shape, variables)))
        if signature not in self._classes:
            self._classes[signature] = logits_shape(self.model.apply, variables, x)[1]
        classes = self._classes[signature]
        target = None if target is None else check_target(target, x.shape[0], classes)
        result = self.compiled(variables, x, target, {**self.arrays, **arrays})
        if self.method == "lrp" and bool(jnp.isnan(result).any()):
            raise ValueError("LRP (ε-rule) is defined for ReLU networks; this model's activation is not ReLU "
                             "at these variables (e.g. SoftPlus with finite β)")
        return result


def make_explainer(method: str, model_or_fn, **options) -> Explainer:
    """The explainer of ``method`` (one of METHODS) for a model; ``options`` are the method's keywords."""
    return Explainer(method, model_or_fn, **options)


@functools.lru_cache(maxsize=64)
def _cached_explainer(method: str, model_or_fn, fixed: tuple) -> Explainer:
    return Explainer(method, model_or_fn, **dict(fixed))


def explain(method: str, model_or_fn, variables, x: jax.Array, target: jax.Array | None = None,
            **options) -> jax.Array:
    """Attributions of ``method`` for images x (B, H, W, C), shaped like x: ``make_explainer`` cached.

    A second call with the same method, model, non-array options and shapes reuses the compiled program.
    """
    arrays = {name: value for name, value in options.items() if _is_array(value)}
    fixed = tuple(sorted((name, value) for name, value in options.items() if not _is_array(value)))
    try:
        explainer = _cached_explainer(method, model_or_fn, fixed)
    except TypeError:  # an unhashable model or option: build (and compile) afresh
        explainer = Explainer(method, model_or_fn, **dict(fixed))
    return explainer(variables, x, target, **arrays)
