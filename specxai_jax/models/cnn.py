"""The paper's plain conv net: L × [Conv3×3 (width·2ⁱ), act, MaxPool2] → Dense → act → Dense."""

from __future__ import annotations

import flax.linen as nn
import jax.numpy as jnp

from specxai_jax import activations, convolution, pooling


def check_image_fits(image_size: int, depth: int) -> None:
    """Raise ValueError when ``depth`` 2×2 poolings would shrink ``image_size`` below one pixel."""
    if image_size < 2**depth:
        raise ValueError(
            f"image size {image_size} is too small for depth {depth}: "
            f"{depth} poolings need at least {2**depth} px (use a smaller --depth or a larger --img-size)"
        )


class PlainCNN(nn.Module):
    """Logits (B, classes) of images (B, H, W, C); β is read from the ``constants`` collection.

    Activations and poolings are inline (the form neural-tangents differentiates structurally), so
    DeepLift and LRP, which need to see the pooling as one call, take
    :class:`specxai_jax.models.cnn_variants.ConvNet` (the same network and parameters).
    """

    depth: int = 3
    width: int = 16
    dense: int = 512
    num_classes: int = 10
    activation: str = "softplus"

    @nn.compact
    def __call__(self, x):
        beta = self.variable("constants", "beta", lambda: jnp.asarray(jnp.inf, jnp.float32)).value
        act = activations.get(self.activation)
        for i in range(self.depth):
            x = nn.Conv(self.width * 2**i, (3, 3), padding="SAME", name=f"conv{i}",
                        conv_general_dilated=convolution.conv_general_dilated if i == 0 else None)(x)
            x = pooling.max_pool(act(x, beta), 2)
        x = x.reshape(x.shape[0], -1)
        x = act(nn.Dense(self.dense, name="dense")(x), beta)
        return nn.Dense(self.num_classes, name="head")(x)
