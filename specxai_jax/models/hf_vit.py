"""Hugging Face ``ViTForImageClassification`` in Flax, computation for computation (inference mode).

Submodule names mirror the PyTorch state-dict keys as ``save_pretrained`` writes them
(``vit.encoder.layer.0.attention.attention.query`` → ``vit/encoder/layer_0/attention/attention/query``).
Pre-norm blocks with the config's layer-norm eps (two-pass variance, as PyTorch), attention scaled by
head_dim^-1/2, the class token first and learned position embeddings (no interpolation: images must have
the config's size); logits from the final-normed class token.
"""

from __future__ import annotations

import flax.linen as nn
import jax.numpy as jnp

from specxai_jax.models.hf_activations import hf_activation


def _layer_norm(eps: float, name: str) -> nn.LayerNorm:
    return nn.LayerNorm(epsilon=eps, use_fast_variance=False, name=name)


class SelfAttention(nn.Module):
    """Multi-head self-attention of tokens (B, N, D) → (B, N, heads·head_dim) (before the output projection)."""

    heads: int
    head_dim: int
    qkv_bias: bool = True

    @nn.compact
    def __call__(self, x):
        batch, count, _ = x.shape

        def project(name):
            y = nn.Dense(self.heads * self.head_dim, use_bias=self.qkv_bias, name=name)(x)
            return y.reshape(batch, count, self.heads, self.head_dim)

        query, key, value = project("query"), project("key"), project("value")
        scores = jnp.einsum("bqhd,bkhd->bhqk", query, key) * self.head_dim**-0.5
        weights = nn.softmax(scores, axis=-1)
        return jnp.einsum("bhqk,bkhd->bqhd", weights, value).reshape(batch, count, self.heads * self.head_dim)


class Attention(nn.Module):
    """``attention`` (self-attention) then ``output/dense`` (projection back to D)."""

    heads: int
    head_dim: int
    qkv_bias: bool

    @nn.compact
    def __call__(self, x):
        y = SelfAttention(self.heads, self.head_dim, self.qkv_bias, name="attention")(x)
        return Output(x.shape[-1], name="output")(y)


class Output(nn.Module):
    """A Dense layer named ``dense`` (mirrors the reference's ``output.dense`` / ``intermediate.dense``)."""

    features: int

    @nn.compact
    def __call__(self, x):
        return nn.Dense(self.features, name="dense")(x)


class Layer(nn.Module):
    """x + attention(LN(x)), then x + fc2(act(fc1(LN(x)))); tokens (B, 1 + h·w, D)."""

    heads: int
    head_dim: int
    intermediate_size: int
    hidden_act: str
    qkv_bias: bool
    eps: float

    @nn.compact
    def __call__(self, x):
        y = _layer_norm(self.eps, "layernorm_before")(x)
        x = x + Attention(self.heads, self.head_dim, self.qkv_bias, name="attention")(y)
        y = _layer_norm(self.eps, "layernorm_after")(x)
        y = hf_activation(self.hidden_act)(Output(self.intermediate_size, name="intermediate")(y))
        return x + Output(x.shape[-1], name="output")(y)


class Embeddings(nn.Module):
    """Patch projection (conv p×p, stride p) → [class token; patches] + position embeddings: (B, 1 + h·w, D)."""

    hidden_size: int
    patch_size: int

    @nn.compact
    def __call__(self, x):
        patches = PatchEmbeddings(self.hidden_size, self.patch_size, name="patch_embeddings")(x)
        batch, rows, cols, dim = patches.shape
        cls = self.param("cls_token", nn.initializers.normal(0.02), (1, 1, dim))
        tokens = jnp.concatenate([jnp.broadcast_to(cls, (batch, 1, dim)), patches.reshape(batch, rows * cols, dim)], 1)
        return tokens + self.param("position_embeddings", nn.initializers.normal(0.02), (1, rows * cols + 1, dim))


class PatchEmbeddings(nn.Module):
    """The p×p, stride-p projection ``projection``: (B, H, W, C) → (B, H/p, W/p, D)."""

    hidden_size: int
    patch_size: int

    @nn.compact
    def __call__(self, x):
        size = (self.patch_size,) * 2
        return nn.Conv(self.hidden_size, size, size, padding="VALID", name="projection")(x)


class Encoder(nn.Module):
    """Layers ``layer_i``, i < num_layers."""

    num_layers: int
    layer: dict

    @nn.compact
    def __call__(self, x):
        for i in range(self.num_layers):
            x = Layer(**self.layer, name=f"layer_{i}")(x)
        return x


class ViTBody(nn.Module):
    """Normalized images (B, H, W, C) → final-normed tokens (B, 1 + h·w, D)."""

    hidden_size: int
    num_hidden_layers: int
    layer: dict
    patch_size: int
    eps: float

    @nn.compact
    def __call__(self, x):
        tokens = Embeddings(self.hidden_size, self.patch_size, name="embeddings")(x)
        tokens = Encoder(self.num_hidden_layers, self.layer, name="encoder")(tokens)
        return _layer_norm(self.eps, "layernorm")(tokens)


class ViTForImageClassification(nn.Module):
    """Logits (B, num_labels) of images x (B, image_size, image_size, num_channels) in [0, 1].

    Images are normalized with the checkpoint's ``mean``/``std`` first.
    """

    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    head_dim: int | None = None
    intermediate_size: int = 3072
    hidden_act: str = "gelu"
    layer_norm_eps: float = 1e-12
    image_size: int = 224
    patch_size: int = 16
    qkv_bias: bool = True
    num_labels: int = 1000
    mean: tuple[float, ...] = (0.5, 0.5, 0.5)
    std: tuple[float, ...] = (0.5, 0.5, 0.5)

    @property
    def gradcam_layer(self) -> str:
        """GradCAM's layer: the last layer's ``layernorm_before`` (tokens (B, 1 + h·w, D); GradCAM drops the
        class token and lays the rest out h × w). The logits read the patch tokens only through that
        layer's attention, so every later patch token (e.g. of the final ``vit/layernorm``) has zero gradient."""
        return f"vit/encoder/layer_{self.num_hidden_layers - 1}/layernorm_before"

    @nn.compact
    def __call__(self, x, train: bool = False):
        if x.shape[1:3] != (self.image_size, self.image_size):
            raise ValueError(f"this ViT takes {self.image_size}×{self.image_size} images, "
                             f"got {x.shape[1]}×{x.shape[2]}")
        x = (x - jnp.asarray(self.mean, x.dtype)) / jnp.asarray(self.std, x.dtype)
        head_dim = self.head_dim or self.hidden_size // self.num_attention_heads
        layer = dict(heads=self.num_attention_heads, head_dim=head_dim, intermediate_size=self.intermediate_size,
                     hidden_act=self.hidden_act, qkv_bias=self.qkv_bias, eps=self.layer_norm_eps)
        tokens = ViTBody(self.hidden_size, self.num_hidden_layers, layer, self.patch_size, self.layer_norm_eps,
                         name="vit")(x)
        return nn.Dense(self.num_labels, name="classifier")(tokens[:, 0])
