"""Dense network in the NTK parameterization, β read from the ``constants`` collection like PlainCNN."""

from __future__ import annotations

import math

import flax.linen as nn
import jax.numpy as jnp

from specxai_jax.ops import activations


class NTKDense(nn.Module):
    """y = x W / √fan_in with W ~ N(0, 1), no bias (neural-tangents' ``Dense(W_std=1)``, NTK parameterization)."""

    features: int

    @nn.compact
    def __call__(self, x):
        kernel = self.param("kernel", nn.initializers.normal(1.0), (x.shape[-1], self.features))
        return x @ kernel / math.sqrt(x.shape[-1])


class MLP(nn.Module):
    """Outputs (B, outputs) of inputs (B, ...) flattened: ``depth`` × [NTKDense(width), act] → NTKDense(outputs)."""

    depth: int = 2
    width: int = 512
    outputs: int = 1
    activation: str = "softplus"

    @nn.compact
    def __call__(self, x):
        beta = self.variable("constants", "beta", lambda: jnp.asarray(jnp.inf, jnp.float32)).value
        act = activations.get(self.activation)
        x = x.reshape(x.shape[0], -1)
        for i in range(self.depth):
            x = act(NTKDense(self.width, name=f"dense{i}")(x), beta)
        return NTKDense(self.outputs, name="head")(x)
