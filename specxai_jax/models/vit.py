"""A small Vision Transformer: patch embedding, learned positions, pre-norm blocks, mean-pooled head."""

from __future__ import annotations

import flax.linen as nn
import jax.numpy as jnp

from specxai_jax.models import layers


class EncoderBlock(nn.Module):
    """x + MHA(LN(x)), then x + MLP(LN(x)) with MLP = Dense(mlp_dim) → act → Dense; tokens (B, N, D)."""

    heads: int
    mlp_dim: int
    activation: str = "gelu"

    @nn.compact
    def __call__(self, tokens, beta):
        dim = tokens.shape[-1]
        y = nn.LayerNorm(name="norm1")(tokens)
        tokens = tokens + nn.MultiHeadDotProductAttention(self.heads, name="attention")(y, y)
        y = nn.LayerNorm(name="norm2")(tokens)
        y = layers.activation(self.activation)(nn.Dense(self.mlp_dim, name="mlp_in")(y), beta)
        return tokens + nn.Dense(dim, name="mlp_out")(y)


class ViT(nn.Module):
    """Logits (B, classes) of images (B, H, W, C), H and W multiples of ``patch_size``.

    The final normalized tokens (B, H/p·W/p, dim) are the output of the submodule ``"norm"`` (GradCAM's
    default layer); β from ``constants`` (used by SoftPlus/Gauss MLPs).
    """

    patch_size: int = 4
    dim: int = 64
    depth: int = 4
    heads: int = 4
    mlp_dim: int = 128
    num_classes: int = 10
    activation: str = "gelu"

    @nn.compact
    def __call__(self, x, train: bool = False):
        beta = self.variable("constants", "beta", lambda: jnp.asarray(jnp.inf, jnp.float32)).value
        if x.shape[1] % self.patch_size or x.shape[2] % self.patch_size:
            raise ValueError(f"image size {x.shape[1:3]} is not a multiple of the patch size {self.patch_size}")
        patches = nn.Conv(self.dim, (self.patch_size,) * 2, (self.patch_size,) * 2, padding="VALID",
                          name="patch_embed")(x)
        batch, rows, cols, dim = patches.shape
        tokens = patches.reshape(batch, rows * cols, dim)
        tokens = tokens + self.param("pos_embedding", nn.initializers.normal(0.02), (1, rows * cols, dim))
        for i in range(self.depth):
            tokens = EncoderBlock(self.heads, self.mlp_dim, self.activation, name=f"block{i}")(tokens, beta)
        tokens = nn.LayerNorm(name="norm")(tokens)
        return nn.Dense(self.num_classes, name="head")(tokens.mean(axis=1))
