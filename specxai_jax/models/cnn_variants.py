"""The plain conv net with optional skip connections and batch norm (the paper's Fig. 9 ablation).

With both off it is the plain net of :class:`specxai_jax.models.cnn.PlainCNN` (same layers, same
parameter names), routed through the attribution rules.
"""

from __future__ import annotations

import flax.linen as nn
import jax.numpy as jnp

from specxai_jax import convolution
from specxai_jax.attribution import rules


class ConvNet(nn.Module):
    """Logits (B, classes) of images (B, H, W, C); β from the ``constants`` collection.

    Block i: Conv3×3 (width·2ⁱ) → [BatchNorm] → [+ Conv1×1 projection of the block input] → act
    → MaxPool2. Then Dense(dense) → act → Dense(classes). The last block's activation is exposed
    as ``"last_conv"`` (GradCAM).
    """

    depth: int = 3
    width: int = 16
    dense: int = 512
    num_classes: int = 10
    activation: str = "softplus"
    skip: bool = False
    batch_norm: bool = False

    @nn.compact
    def __call__(self, x, train: bool = False):
        beta = self.variable("constants", "beta", lambda: jnp.asarray(jnp.inf, jnp.float32)).value
        act = rules.activation(self.activation)
        for i in range(self.depth):
            features = self.width * 2**i
            h = nn.Conv(features, (3, 3), padding="SAME", name=f"conv{i}",
                        conv_general_dilated=convolution.conv_general_dilated if i == 0 else None)(x)
            if self.batch_norm:
                rules.layer("batch_norm")
                h = nn.BatchNorm(use_running_average=not train, name=f"bn{i}")(h)
            if self.skip:
                rules.layer("residual")
                h = h + nn.Conv(features, (1, 1), name=f"skip{i}")(x)
            x = act(h, beta)
            if i == self.depth - 1:
                x = rules.expose_feature_map(self, "last_conv", x)
            x = rules.max_pool(x, 2)
        x = x.reshape(x.shape[0], -1)
        x = act(nn.Dense(self.dense, name="dense")(x), beta)
        return nn.Dense(self.num_classes, name="head")(x)
