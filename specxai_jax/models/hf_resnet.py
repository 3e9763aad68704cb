"""Hugging Face ``ResNetForImageClassification`` in Flax, computation for computation (inference mode).

Submodule names mirror the PyTorch state-dict keys (``resnet.encoder.stages.0`` → ``resnet/encoder/stages_0``)
so checkpoints convert by renaming (:mod:`specxai_jax.models.pretrained`). Convolutions pad k//2 on every side
as PyTorch does; batch norm uses its running statistics (eps 1e-5); the stem max pool is 3×3, stride 2, pad 1.
"""

from __future__ import annotations

import flax.linen as nn
import jax.numpy as jnp

from specxai_jax.models.hf_activations import hf_activation


class ConvLayer(nn.Module):
    """conv(k×k, stride, pad k//2, no bias) → BN → activation (None: identity).

    (B, H, W, C) → (B, H/s, W/s, features).
    """

    features: int
    kernel: int = 3
    stride: int = 1
    activation: str | None = "relu"

    @nn.compact
    def __call__(self, x):
        pad = self.kernel // 2
        x = nn.Conv(self.features, (self.kernel,) * 2, (self.stride,) * 2, padding=((pad, pad), (pad, pad)),
                    use_bias=False, name="convolution")(x)
        x = nn.BatchNorm(use_running_average=True, epsilon=1e-5, name="normalization")(x)
        return x if self.activation is None else hf_activation(self.activation)(x)


class ShortCut(nn.Module):
    """1×1 conv (stride) → BN: the projection shortcut."""

    features: int
    stride: int

    @nn.compact
    def __call__(self, x):
        x = nn.Conv(self.features, (1, 1), (self.stride,) * 2, padding="VALID", use_bias=False, name="convolution")(x)
        return nn.BatchNorm(use_running_average=True, epsilon=1e-5, name="normalization")(x)


class ResidualLayer(nn.Module):
    """act(layers(x) + shortcut(x)): basic (3×3, 3×3) or bottleneck (1×1 → 3×3 → 1×1, width features/4).

    The inner activations are ReLU whatever ``activation`` is (as in the reference); ``activation``
    (the config's hidden_act) follows the residual sum.
    """

    features: int
    stride: int = 1
    activation: str = "relu"
    bottleneck: bool = False
    downsample_in_bottleneck: bool = False

    @nn.compact
    def __call__(self, x):
        residual = x
        if x.shape[-1] != self.features or self.stride != 1:
            residual = ShortCut(self.features, self.stride, name="shortcut")(x)
        if self.bottleneck:
            reduced = self.features // 4
            first, second = (self.stride, 1) if self.downsample_in_bottleneck else (1, self.stride)
            x = ConvLayer(reduced, 1, first, name="layer_0")(x)
            x = ConvLayer(reduced, 3, second, name="layer_1")(x)
            x = ConvLayer(self.features, 1, 1, None, name="layer_2")(x)
        else:
            x = ConvLayer(self.features, 3, self.stride, name="layer_0")(x)
            x = ConvLayer(self.features, 3, 1, None, name="layer_1")(x)
        return hf_activation(self.activation)(x + residual)


class ResNetForImageClassification(nn.Module):
    """Logits (B, num_labels) of images x (B, H, W, num_channels) in [0, 1].

    The images are first normalized with the checkpoint's ``mean``/``std`` (per channel), then:
    stem (7×7/2 conv-BN-act, 3×3/2 max pool) → stages of residual layers (stride 2 from the second stage
    on, and in the first when ``downsample_in_first_stage``) → global average pool → linear.
    """

    embedding_size: int = 64
    hidden_sizes: tuple[int, ...] = (256, 512, 1024, 2048)
    depths: tuple[int, ...] = (3, 4, 6, 3)
    layer_type: str = "bottleneck"
    hidden_act: str = "relu"
    downsample_in_first_stage: bool = False
    downsample_in_bottleneck: bool = False
    num_labels: int = 1000
    mean: tuple[float, ...] = (0.485, 0.456, 0.406)
    std: tuple[float, ...] = (0.229, 0.224, 0.225)

    @property
    def gradcam_layer(self) -> str:
        """GradCAM's layer: the last stage, output (B, h, w, hidden_sizes[-1]) (torchvision's ``layer4``)."""
        return f"resnet/encoder/stages_{len(self.hidden_sizes) - 1}"

    @nn.compact
    def __call__(self, x, train: bool = False):
        x = (x - jnp.asarray(self.mean, x.dtype)) / jnp.asarray(self.std, x.dtype)
        x = ResNetBody(self.embedding_size, self.hidden_sizes, self.depths, self.layer_type, self.hidden_act,
                       self.downsample_in_first_stage, self.downsample_in_bottleneck, name="resnet")(x)
        return nn.Dense(self.num_labels, name="classifier_1")(x.mean(axis=(1, 2)))


class ResNetBody(nn.Module):
    """Normalized images (B, H, W, C) → last stage's feature map (B, h, w, hidden_sizes[-1])."""

    embedding_size: int
    hidden_sizes: tuple[int, ...]
    depths: tuple[int, ...]
    layer_type: str
    hidden_act: str
    downsample_in_first_stage: bool
    downsample_in_bottleneck: bool

    @nn.compact
    def __call__(self, x):
        x = Embeddings(self.embedding_size, self.hidden_act, name="embedder")(x)
        return Encoder(self.hidden_sizes, self.depths, self.layer_type, self.hidden_act, self.downsample_in_first_stage,
                       self.downsample_in_bottleneck, name="encoder")(x)


class Embeddings(nn.Module):
    """The stem: 7×7 stride-2 conv-BN-act, then 3×3 stride-2 max pool (pad 1)."""

    features: int
    activation: str

    @nn.compact
    def __call__(self, x):
        x = ConvLayer(self.features, 7, 2, self.activation, name="embedder")(x)
        return nn.max_pool(x, (3, 3), (2, 2), padding=((1, 1), (1, 1)))


class Encoder(nn.Module):
    """Stages ``stages_i`` of ``depths[i]`` residual layers ``layers_j`` (stride 2 in a stage's first layer)."""

    hidden_sizes: tuple[int, ...]
    depths: tuple[int, ...]
    layer_type: str
    hidden_act: str
    downsample_in_first_stage: bool
    downsample_in_bottleneck: bool

    @nn.compact
    def __call__(self, x):
        for stage, (features, depth) in enumerate(zip(self.hidden_sizes, self.depths)):
            x = Stage(features, depth, 2 if stage > 0 or self.downsample_in_first_stage else 1, self.hidden_act,
                      self.layer_type == "bottleneck", self.downsample_in_bottleneck, name=f"stages_{stage}")(x)
        return x


class Stage(nn.Module):
    """``depth`` residual layers; the first has the stage's stride."""

    features: int
    depth: int
    stride: int
    activation: str
    bottleneck: bool
    downsample_in_bottleneck: bool

    @nn.compact
    def __call__(self, x):
        for index in range(self.depth):
            x = ResidualLayer(self.features, self.stride if index == 0 else 1, self.activation, self.bottleneck,
                              self.downsample_in_bottleneck, name=f"layers_{index}")(x)
        return x
