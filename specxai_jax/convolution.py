"""A network's first convolution, on 1–3 channel images, as one matmul over patches on CPU.

XLA:CPU computes the input gradient of a convolution with few input channels (the layer saliency
ends in) about 3× slower than patches @ kernel; from 16 channels on its own convolution is the faster
one (benchmarks/RESULTS.md). Pass :func:`conv_general_dilated` to the first layer's
``flax.linen.Conv(conv_general_dilated=...)``: it takes the patch form where that is faster and
calls ``lax.conv_general_dilated`` otherwise, so the parameters stay those of ``nn.Conv``. First
layer only: there the sliced input is the image, a constant for parameter Jacobians, and
neural-tangents' structured derivatives cannot transpose slices.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax

FEW_CHANNELS = 4   # measured with 1 and 3 input channels; at 16 XLA's convolution is faster
NHWC = ("NHWC", "HWIO", "NHWC")


def conv_general_dilated(lhs, rhs, window_strides, padding, lhs_dilation=None, rhs_dilation=None,
                         dimension_numbers=None, feature_group_count=1, batch_group_count=1,
                         precision=None, preferred_element_type=None):
    """``lax.conv_general_dilated``'s signature and result; the patch matmul where it is faster."""
    patch_form = (lhs.ndim == 4 and rhs.shape[2] <= FEW_CHANNELS and jax.default_backend() == "cpu"
                  and all(s == 1 for s in window_strides) and all(d == 1 for d in (lhs_dilation or (1,)))
                  and all(d == 1 for d in (rhs_dilation or (1,))) and feature_group_count == 1
                  and batch_group_count == 1 and preferred_element_type is None
                  and lax.conv_dimension_numbers(lhs.shape, rhs.shape, dimension_numbers)
                  == lax.conv_dimension_numbers(lhs.shape, rhs.shape, NHWC))
    if not patch_form:
        return lax.conv_general_dilated(
            lhs, rhs, window_strides, padding, lhs_dilation=lhs_dilation, rhs_dilation=rhs_dilation,
            dimension_numbers=dimension_numbers, feature_group_count=feature_group_count,
            batch_group_count=batch_group_count, precision=precision, preferred_element_type=preferred_element_type)
    if isinstance(padding, str):
        padding = lax.padtype_to_pads(lhs.shape[1:3], rhs.shape[:2], window_strides, padding)
    return patch_conv(lhs, rhs, tuple(map(tuple, padding)), precision)


def patch_conv(images: jax.Array, kernel: jax.Array, padding=((0, 0), (0, 0)), precision=None) -> jax.Array:
    """Stride-1 convolution (B, H, W, C) * (kh, kw, C, D) → (B, H', W', D) as patches @ kernel.

    ``padding`` = ((top, bottom), (left, right)) zeros. The patches are kh·kw shifted views
    concatenated on the channel axis, so autodiff's input gradient is a matmul plus shifted adds.
    """
    kh, kw, channels, features = kernel.shape
    padded = jnp.pad(images, ((0, 0), *padding, (0, 0)))
    height, width = padded.shape[1] - kh + 1, padded.shape[2] - kw + 1
    patches = jnp.concatenate([padded[:, i:i + height, j:j + width] for i in range(kh) for j in range(kw)], axis=-1)
    return jnp.einsum("bhwk,kd->bhwd", patches, kernel.reshape(kh * kw * channels, features), precision=precision)
