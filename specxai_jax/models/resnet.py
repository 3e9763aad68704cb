"""A small ResNet of basic blocks (two 3×3 convs + identity or 1×1 projection shortcut), with BN."""

from __future__ import annotations

import functools

import flax.linen as nn
import jax.numpy as jnp

from specxai_jax.models import layers
from specxai_jax.ops import convolution


class BasicBlock(nn.Module):
    """act(BN(conv(act(BN(conv(x))))) + shortcut(x)); (B, H, W, C) → (B, H/s, W/s, features)."""

    features: int
    strides: int = 1
    activation: str = "relu"

    @nn.compact
    def __call__(self, x, beta, train: bool = False):
        act = layers.activation(self.activation)
        norm = functools.partial(nn.BatchNorm, use_running_average=not train)
        y = nn.Conv(self.features, (3, 3), (self.strides, self.strides), padding="SAME", use_bias=False)(x)
        y = act(norm()(y), beta)
        y = nn.Conv(self.features, (3, 3), padding="SAME", use_bias=False)(y)
        y = norm()(y)
        if x.shape != y.shape:
            x = nn.Conv(self.features, (1, 1), (self.strides, self.strides), use_bias=False, name="shortcut")(x)
            x = norm(name="shortcut_bn")(x)
        return act(x + y, beta)


class ResNet(nn.Module):
    """Logits (B, classes): stem conv → ``depth`` stages of ``blocks`` basic blocks (width·2ⁱ channels,
    stride 2 from stage 2 on) → global average pool → Dense. β from ``constants``."""

    depth: int = 3
    blocks: int = 1
    width: int = 16
    num_classes: int = 10
    activation: str = "relu"

    @nn.compact
    def __call__(self, x, train: bool = False):
        beta = self.variable("constants", "beta", lambda: jnp.asarray(jnp.inf, jnp.float32)).value
        x = nn.Conv(self.width, (3, 3), padding="SAME", use_bias=False, name="stem",
                    conv_general_dilated=convolution.conv_general_dilated)(x)
        x = layers.activation(self.activation)(nn.BatchNorm(use_running_average=not train, name="stem_bn")(x), beta)
        for stage in range(self.depth):
            for block in range(self.blocks):
                strides = 2 if stage > 0 and block == 0 else 1
                x = BasicBlock(self.width * 2**stage, strides, self.activation,
                               name=f"stage{stage}_block{block}")(x, beta, train)
        return nn.Dense(self.num_classes, name="head")(jnp.mean(x, axis=(1, 2)))
