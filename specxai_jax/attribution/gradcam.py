"""GradCAM and Guided GradCAM of any model, at a layer's output (A) and the gradient reaching it.

Three ways to name the layer:

- a Flax linen module: ``layer="Conv_1"`` (its submodule path; "block0/conv" or "block0.conv"), read with
  ``flax.linen.intercept_methods``;
- a Flax NNX module: ``layer="blocks.0.conv"`` (its attribute path, as ``nnx.iter_modules`` spells it), read
  by intercepting that submodule's ``__call__`` on a merged copy of the module;
- any model, e.g. a function ``f(params, x)``: ``features=`` (params, x) → A and ``head=`` (params, A) → logits,
  with ``head(params, features(params, x)) == f(params, x)``.
"""

from __future__ import annotations

import contextlib
import math
import sys
from typing import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp

from specxai_jax.attribution.core import ApplyFn, Model, as_model, check_score, resolve_target, select_score
from specxai_jax.attribution.guided import guided_backprop
from specxai_jax.errors import UsageError

Record = Callable[[tuple, jax.Array], jax.Array]
"""Called with (submodule path, its output) after every submodule call; returns the output to use."""


def _run_linen(model: Model, variables, x: jax.Array, record: Record) -> jax.Array:
    def interceptor(next_fun, args, kwargs, context):
        out = next_fun(*args, **kwargs)
        here = tuple(context.module.path)
        return record(here, out) if context.method_name == "__call__" and here else out

    with nn.intercept_methods(interceptor):
        return model.apply(variables, x)


@contextlib.contextmanager
def _intercept_nnx_calls(module, record: Record):
    """Every submodule's ``__call__`` on ``module`` (an NNX module) passes its output through ``record``.

    The classes that define those ``__call__`` are wrapped for the duration; other instances and nested
    calls of the same instance (``super().__call__``) pass through unchanged.
    """
    paths = {id(sub): tuple(path) for path, sub in sys.modules["flax.nnx"].iter_modules(module) if path}
    owners = {next((c for c in type(sub).__mro__ if "__call__" in c.__dict__), object)
              for path, sub in sys.modules["flax.nnx"].iter_modules(module) if path}
    owners.discard(object)   # containers such as nnx.List are not called
    active: set[int] = set()

    def wrap(original):
        def call(self, *args, **kwargs):
            if id(self) not in paths or id(self) in active:
                return original(self, *args, **kwargs)
            active.add(id(self))
            try:
                out = original(self, *args, **kwargs)
            finally:
                active.discard(id(self))
            return record(paths[id(self)], out)
        return call

    saved = {cls: cls.__dict__["__call__"] for cls in owners}
    try:
        for cls, original in saved.items():
            setattr(cls, "__call__", wrap(original))   # patched on the class, restored below
        yield
    finally:
        for cls, original in saved.items():
            setattr(cls, "__call__", original)


def _run_nnx(model: Model, variables, x: jax.Array, record: Record) -> jax.Array:
    module = sys.modules["flax.nnx"].merge(model.nnx_graph, variables)   # a fresh copy: the user's is untouched
    with _intercept_nnx_calls(module, record):
        return module(x)


def _run(model: Model, variables, x: jax.Array, path: tuple | None, delta: jax.Array | None):
    """(logits, [(path, output)] of every submodule call in completion order); ``delta`` added at ``path``."""
    calls = []

    def record(here, out):
        here = tuple(map(str, here))
        if here == path and delta is not None:
            out = out + delta
        calls.append((here, out))
        return out

    run = _run_nnx if model.nnx_graph is not None else _run_linen
    return run(model, variables, x, record), calls


def _is_map(value) -> bool:
    return hasattr(value, "ndim") and value.ndim in (3, 4)


def find_layer(model: Model, variables, x: jax.Array, layer: str | None) -> tuple:
    """(path, output shape) of ``layer`` ("Conv_1", "block0/conv", NNX "blocks.0.conv"); when None, of the
    module's ``gradcam_layer`` attribute if it has one, else of the last submodule call with a map output."""
    if model.module is None and model.nnx_graph is None:
        raise UsageError("gradcam on a plain function needs features= (params, x) -> feature map and "
                         "head= (params, feature map) -> logits (or a Flax linen/NNX module and layer=)")
    paths: list[tuple[str, ...]] = []

    def outputs(v, u):
        calls = _run(model, v, u, None, None)[1]
        paths[:] = [here for here, _ in calls]
        return [out for _, out in calls]

    calls = list(zip(paths, jax.eval_shape(outputs, variables, x)))
    separator = "." if model.nnx_graph is not None else "/"
    maps = [separator.join(path) for path, out in calls if _is_map(out)]
    layer = layer or getattr(model.module, "gradcam_layer", None)
    if layer is None:
        if not maps:
            raise ValueError("gradcam found no submodule with a (B, h, w, K) or token (B, N, D) output")
        layer = maps[-1]
    path = tuple(part for part in layer.replace(".", "/").split("/") if part)
    found = [out for here, out in calls if here == path]
    if len(found) != 1:
        problem = "is called more than once" if found else "is not a submodule of this model"
        raise ValueError(f"gradcam layer {layer!r} {problem}; layers with map outputs: {', '.join(maps) or 'none'}")
    if not _is_map(found[0]):
        raise ValueError(f"gradcam layer {layer!r} outputs {getattr(found[0], 'shape', found[0])}; it needs a "
                         "(B, h, w, K) map or (B, [1+]h·w, D) tokens")
    return path, found[0]


def as_spatial(feature: jax.Array) -> jax.Array:
    """(B, h, w, K) as is; tokens (B, h·w, D) or (B, 1 + h·w, D) (class token first, dropped) → (B, h, w, D)."""
    if feature.ndim == 4:
        return feature
    batch, count, dim = feature.shape
    for skip in (0, 1):
        side = math.isqrt(count - skip)
        if side > 0 and side * side == count - skip:
            return feature[:, skip:].reshape(batch, side, side, dim)
    raise ValueError(f"gradcam cannot arrange {count} tokens on a square grid (with or without a class token)")


def feature_map_and_gradient(apply_fn: ApplyFn, variables, x: jax.Array, target: jax.Array,
                             layer: str | None, score: str, features: Callable | None = None,
                             head: Callable | None = None) -> tuple[jax.Array, jax.Array]:
    """Feature map A (B, h, w, K) of ``layer`` (or ``features(variables, x)``) and ∂(explained scalar)/∂A."""
    if (features is None) != (head is None):
        raise UsageError("gradcam takes features= and head= together: features(params, x) -> feature map, "
                         "head(params, feature map) -> logits")
    if features is not None and head is not None:
        if layer is not None:
            raise UsageError("gradcam takes either layer= or features=/head=, not both")
        feature = features(variables, x)
        grad = jax.grad(lambda a: select_score(head(variables, a), target, score).sum())(feature)
        return as_spatial(feature), as_spatial(grad)
    model = as_model(apply_fn)
    path, shape = find_layer(model, variables, x, layer)

    def total(delta):
        logits, calls = _run(model, variables, x, path, delta)
        feature = next(out for here, out in calls if here == path)
        return select_score(logits, target, score).sum(), feature

    grad, feature = jax.grad(total, has_aux=True)(jnp.zeros(shape.shape, shape.dtype))
    return as_spatial(feature), as_spatial(grad)


def upsample_nearest(maps: jax.Array, height: int, width: int) -> jax.Array:
    """(B, h, w) → (B, H, W) nearest-neighbour (equal to PyTorch's for integer factors)."""
    return jax.image.resize(maps, (maps.shape[0], height, width), method="nearest")


def gradcam(apply_fn: ApplyFn, variables, x: jax.Array, target: jax.Array | None = None, *,
            layer: str | None = None, features: Callable | None = None, head: Callable | None = None,
            relu: bool = True, score: str = "log_prob") -> jax.Array:
    """relu(Σ_k mean_hw(∂f/∂A_k) · A_k) upsampled (nearest) to the input; shape of x.

    A is the output of the submodule ``layer`` of a linen or NNX module (its path, e.g. "Conv_1",
    "stage2_block0", NNX "blocks.0.conv"; by default the linen module's ``gradcam_layer`` or the last
    submodule whose output is a map), or ``features(variables, x)`` for any model, whose logits are then
    ``head(variables, A)``. Token maps (B, [1+]h·w, D) are arranged as (B, h, w, D). The single-channel map
    is repeated on every input channel.
    """
    check_score(score)
    target = resolve_target(apply_fn, variables, x, target)
    feature, grad = feature_map_and_gradient(apply_fn, variables, x, target, layer, score, features, head)
    weights = grad.mean(axis=(1, 2), keepdims=True)
    cam = (weights * feature).sum(axis=-1)
    cam = jax.nn.relu(cam) if relu else cam
    cam = upsample_nearest(cam, x.shape[1], x.shape[2])
    return jnp.broadcast_to(cam[..., None], x.shape)


def guided_gradcam(apply_fn: ApplyFn, variables, x: jax.Array, target: jax.Array | None = None, *,
                   layer: str | None = None, features: Callable | None = None, head: Callable | None = None,
                   score: str = "log_prob") -> jax.Array:
    """GuidedBackprop ⊙ upsampled relu-GradCAM (Captum's GuidedGradCam), shape of x; options as :func:`gradcam`."""
    target = resolve_target(apply_fn, variables, x, target)
    cam = gradcam(apply_fn, variables, x, target, layer=layer, features=features, head=head, relu=True, score=score)
    return guided_backprop(apply_fn, variables, x, target, score=score) * cam
