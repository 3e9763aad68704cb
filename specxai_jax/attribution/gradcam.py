"""GradCAM and Guided GradCAM at a feature map the model exposes (``rules.expose_feature_map``)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import traverse_util

from specxai_jax.attribution.gradients import ApplyFn, resolve_target, select_score
from specxai_jax.attribution.guided import guided_backprop


def _find(tree: dict, name: str, collection: str):
    """The single entry called ``name`` anywhere in a nested variable collection."""
    found = [value for path, value in traverse_util.flatten_dict(tree).items() if path[-1] == name]
    if len(found) != 1:
        raise ValueError(f"the model exposes no single feature map {name!r} in {collection!r} "
                         "(models must call specxai_jax.attribution.rules.expose_feature_map)")
    return found[0]


def feature_map_and_gradient(apply_fn: ApplyFn, variables: dict, x: jax.Array, target: jax.Array,
                             layer: str, score: str) -> tuple[jax.Array, jax.Array]:
    """Feature map A (B, h, w, K) named ``layer`` and ∂(explained scalar)/∂A, same shape."""
    _, state = apply_fn(variables, x, mutable=["perturbations"])
    zeros = state["perturbations"]

    def total(perturbations):
        logits, sown = apply_fn({**variables, "perturbations": perturbations}, x, mutable=["intermediates"])
        return select_score(logits, target, score).sum(), sown["intermediates"]

    grads, sown = jax.grad(total, has_aux=True)(zeros)
    (feature,) = _find(sown, layer, "intermediates")
    return feature, _find(grads, layer, "perturbations")


def upsample_nearest(maps: jax.Array, height: int, width: int) -> jax.Array:
    """(B, h, w) → (B, H, W) nearest-neighbour (equal to PyTorch's for integer factors)."""
    return jax.image.resize(maps, (maps.shape[0], height, width), method="nearest")


def gradcam(apply_fn: ApplyFn, variables: dict, x: jax.Array, target: jax.Array | None = None, *,
            layer: str = "last_conv", relu: bool = True, score: str = "log_prob") -> jax.Array:
    """relu(Σ_k mean_hw(∂f/∂A_k) · A_k) upsampled (nearest) to the input; shape of x.

    The single-channel map is repeated on every input channel.
    """
    target = resolve_target(apply_fn, variables, x, target)
    feature, grad = feature_map_and_gradient(apply_fn, variables, x, target, layer, score)
    weights = grad.mean(axis=(1, 2), keepdims=True)
    cam = (weights * feature).sum(axis=-1)
    cam = jax.nn.relu(cam) if relu else cam
    cam = upsample_nearest(cam, x.shape[1], x.shape[2])
    return jnp.broadcast_to(cam[..., None], x.shape)


def guided_gradcam(apply_fn: ApplyFn, variables: dict, x: jax.Array, target: jax.Array | None = None, *,
                   layer: str = "last_conv", score: str = "log_prob") -> jax.Array:
    """GuidedBackprop ⊙ upsampled relu-GradCAM (Captum's GuidedGradCam), shape of x."""
    target = resolve_target(apply_fn, variables, x, target)
    cam = gradcam(apply_fn, variables, x, target, layer=layer, relu=True, score=score)
    return guided_backprop(apply_fn, variables, x, target, score=score) * cam
