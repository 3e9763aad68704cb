"""The paper's conv net, L × [Conv3×3 (width·2ⁱ), act, MaxPool2] → Dense → act → Dense, with the optional
skip connections and batch norm of its Fig. 9 ablation."""

from __future__ import annotations

import flax.linen as nn
import jax.numpy as jnp
import numpy as np

from specxai_jax.errors import UsageError
from specxai_jax.models import layers
from specxai_jax.ops import activations, convolution, fast_forms


def check_image_fits(image_size: int, depth: int) -> None:
    """Raise UsageError (a ValueError) when ``depth`` 2×2 poolings would shrink ``image_size`` below one pixel.

    Both bounds are checked before any arithmetic on them, so a huge ``depth`` answers at once.
    """
    for name, value in (("image size", image_size), ("depth", depth)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise UsageError(f"{name} {value!r} is invalid; use a positive integer")
    if depth >= int(image_size).bit_length():  # 2**depth > image_size, without computing 2**depth
        need = f"{2**depth} px" if depth <= 64 else f"2^{depth} px"
        raise UsageError(f"image size {image_size} is too small for depth {depth}: {depth} poolings need at least "
                         f"{need} (use a smaller --depth or a larger --img-size)")


class PlainCNN(nn.Module):
    """Logits (B, classes) of images (B, H, W, C); β is read from the ``constants`` collection.

    Block i: Conv3×3 (width·2ⁱ) → [BatchNorm] → [+ Conv1×1 projection of the block input] → act
    → MaxPool2. Then Dense(dense) → act → Dense(classes). Activations and poolings are the named
    calls of :mod:`specxai_jax.models.layers`, so GuidedBackprop, DeepLift and LRP see each as one
    unit. On CPU (fast form "pool_before_activation" of :mod:`specxai_jax.ops.fast_forms`) a monotone
    activation runs after the pooling, on a quarter of the values: the same logits, and the same
    gradients up to which of several equal activations takes a window's gradient (a 64 px, depth-5
    training step ~15 % faster; benchmarks/RESULTS.md). Methods that rewrite units (GuidedBackprop,
    DeepLift, LRP) always see the plain order. ``gradcam_layer`` names the last block's conv (or its
    batch norm): the feature map GradCAM reads by default (with skips, the main branch).
    """

    depth: int = 3
    width: int = 16
    dense: int = 512
    num_classes: int = 10
    activation: str = "softplus"
    skip: bool = False
    batch_norm: bool = False

    @property
    def gradcam_layer(self) -> str:
        return f"{'bn' if self.batch_norm else 'conv'}{self.depth - 1}"

    @nn.compact
    def __call__(self, x, train: bool = False):
        beta = self.variable("constants", "beta", lambda: jnp.asarray(jnp.inf, jnp.float32)).value
        act = layers.activation(self.activation)
        pool_first = self.activation in activations.MONOTONE and fast_forms.enabled("pool_before_activation")
        for i in range(self.depth):
            features = self.width * 2**i
            h = nn.Conv(features, (3, 3), padding="SAME", name=f"conv{i}",
                        conv_general_dilated=convolution.conv_general_dilated if i == 0 else None)(x)
            if self.batch_norm:
                h = nn.BatchNorm(use_running_average=not train, name=f"bn{i}")(h)
            if self.skip:
                h = h + nn.Conv(features, (1, 1), name=f"skip{i}")(x)
            x = act(layers.max_pool(h, window=2), beta) if pool_first else layers.max_pool(act(h, beta), window=2)
        x = x.reshape(x.shape[0], -1)
        x = act(nn.Dense(self.dense, name="dense")(x), beta)
        return nn.Dense(self.num_classes, name="head")(x)
