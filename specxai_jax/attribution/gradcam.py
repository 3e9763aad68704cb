"""GradCAM and Guided GradCAM at a Flax submodule's output, chosen by its path (``layer="Conv_1"``)."""

from __future__ import annotations

import math

import flax.linen as nn
import jax
import jax.numpy as jnp

from specxai_jax.attribution.core import ApplyFn, Model, as_model, check_score, resolve_target, select_score
from specxai_jax.attribution.guided import guided_backprop


def _run(model: Model, variables, x: jax.Array, path: tuple | None, delta: jax.Array | None):
    """(logits, [(path, output)] of every submodule call in completion order); ``delta`` added at ``path``."""
    calls = []

    def interceptor(next_fun, args, kwargs, context):
        out = next_fun(*args, **kwargs)
        here = tuple(context.module.path)
        if context.method_name == "__call__" and here:
            if here == path and delta is not None:
                out = out + delta
            calls.append((here, out))
        return out

    with nn.intercept_methods(interceptor):
        logits = model.apply(variables, x)
    return logits, calls


def _is_map(value) -> bool:
    return hasattr(value, "ndim") and value.ndim in (3, 4)


def find_layer(model: Model, variables, x: jax.Array, layer: str | None) -> tuple:
    """(path, output shape) of ``layer`` ("Conv_1", "block0/conv"); when None, of the module's
    ``gradcam_layer`` attribute if it has one, else of the last submodule call with a map output."""
    if model.module is None:
        kind = "an NNX module" if model.nnx_graph is not None else "a plain function"
        raise ValueError(f"gradcam needs a Flax linen module to find its layer by name; got {kind} "
                         "(wrap the model in a linen Module)")
    paths = []

    def outputs(v, u):
        calls = _run(model, v, u, None, None)[1]
        paths[:] = [here for here, _ in calls]
        return [out for _, out in calls]

    calls = list(zip(paths, jax.eval_shape(outputs, variables, x)))
    maps = ["/".join(path) for path, out in calls if _is_map(out)]
    layer = layer or getattr(model.module, "gradcam_layer", None)
    if layer is None:
        if not maps:
            raise ValueError("gradcam found no submodule with a (B, h, w, K) or token (B, N, D) output")
        layer = maps[-1]
    path = tuple(part for part in layer.split("/") if part)
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
                             layer: str | None, score: str) -> tuple[jax.Array, jax.Array]:
    """Feature map A (B, h, w, K) of ``layer`` and ∂(explained scalar)/∂A, same shape."""
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
            layer: str | None = None, relu: bool = True, score: str = "log_prob") -> jax.Array:
    """relu(Σ_k mean_hw(∂f/∂A_k) · A_k) upsampled (nearest) to the input; shape of x.

    A is the output of the Flax submodule ``layer`` (its path, e.g. "Conv_1" or "stage2_block0"; by
    default the module's ``gradcam_layer`` or the last submodule whose output is a map); token maps
    (B, [1+]h·w, D) are arranged as (B, h, w, D). The single-channel map is repeated on every input channel.
    """
    check_score(score)
    target = resolve_target(apply_fn, variables, x, target)
    feature, grad = feature_map_and_gradient(apply_fn, variables, x, target, layer, score)
    weights = grad.mean(axis=(1, 2), keepdims=True)
    cam = (weights * feature).sum(axis=-1)
    cam = jax.nn.relu(cam) if relu else cam
    cam = upsample_nearest(cam, x.shape[1], x.shape[2])
    return jnp.broadcast_to(cam[..., None], x.shape)


def guided_gradcam(apply_fn: ApplyFn, variables, x: jax.Array, target: jax.Array | None = None, *,
                   layer: str | None = None, score: str = "log_prob") -> jax.Array:
    """GuidedBackprop ⊙ upsampled relu-GradCAM (Captum's GuidedGradCam), shape of x."""
    target = resolve_target(apply_fn, variables, x, target)
    cam = gradcam(apply_fn, variables, x, target, layer=layer, relu=True, score=score)
    return guided_backprop(apply_fn, variables, x, target, score=score) * cam
