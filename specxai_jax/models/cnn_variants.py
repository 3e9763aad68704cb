"""The plain conv net with optional skip connections and batch norm (the paper's Fig. 9 ablation).

With both off it is the plain net of :class:`specxai_jax.models.cnn.PlainCNN` (same layers, same
parameter names), its activations and poolings called through :mod:`specxai_jax.models.layers`.
"""

from __future__ import annotations

import flax.linen as nn
import jax.numpy as jnp

from specxai_jax import convolution
from specxai_jax.models import layers


class ConvNet(nn.Module):
    """Logits (B, classes) of images (B, H, W, C); β from the ``constants`` collection.

    Block i: Conv3×3 (width·2ⁱ) → [BatchNorm] → [+ Conv1×1 projection of the block input] → act
    → MaxPool2. Then Dense(dense) → act → Dense(classes). ``gradcam_layer`` names the last block's
    conv (or its batch norm): the feature map GradCAM reads by default (with skips, the main branch).
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
        for i in range(self.depth):
            features = self.width * 2**i
            h = nn.Conv(features, (3, 3), padding="SAME", name=f"conv{i}",
                        conv_general_dilated=convolution.conv_general_dilated if i == 0 else None)(x)
            if self.batch_norm:
                h = nn.BatchNorm(use_running_average=not train, name=f"bn{i}")(h)
            if self.skip:
                h = h + nn.Conv(features, (1, 1), name=f"skip{i}")(x)
            x = layers.max_pool(act(h, beta), window=2)
        x = x.reshape(x.shape[0], -1)
        x = act(nn.Dense(self.dense, name="dense")(x), beta)
        return nn.Dense(self.num_classes, name="head")(x)
