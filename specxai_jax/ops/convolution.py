"""A network's first convolution, on 1–3 channel images: XLA's convolution with a patch-matmul input gradient on CPU.

Plain form ``lax.conv_general_dilated``; CPU fast form a patch-matmul input tangent
(:mod:`specxai_jax.ops.fast_forms` "patch_input_tangent"), because XLA:CPU computes the input gradient
of a convolution with few input channels (the layer saliency ends in) about 3× slower than the
transpose of patches @ kernel, while its forward pass and weight gradient are as fast or faster than
the patch form's (the whole patch form made a 64 px, 3-channel training step 7 % slower;
benchmarks/RESULTS.md). :func:`conv_general_dilated` is therefore a ``custom_jvp`` whose value is
``lax.conv_general_dilated`` and whose tangent in the input is the patch matmul, linear in that
tangent, so reverse mode transposes it into the fast form. From 16 channels on XLA's own convolution
is the faster one. Pass it to the first layer's ``flax.linen.Conv(conv_general_dilated=...)``: the
parameters stay those of ``nn.Conv``. First layer only: there the input is the image, a constant for
parameter Jacobians, whose tangent is a symbolic zero, so neural-tangents' structured derivatives
never meet the patch form's slices.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax import lax
from jax.custom_derivatives import SymbolicZero

from specxai_jax.ops import fast_forms

FEW_CHANNELS = 4   # measured with 1 and 3 input channels; at 16 XLA's convolution is faster
NHWC = ("NHWC", "HWIO", "NHWC")


def conv_general_dilated(lhs, rhs, window_strides, padding, lhs_dilation=None, rhs_dilation=None,
                         dimension_numbers=None, feature_group_count=1, batch_group_count=1,
                         precision=None, preferred_element_type=None):
    """``lax.conv_general_dilated``'s signature and result; its input tangent as a patch matmul where that is faster."""
    patch_tangent = (lhs.ndim == 4 and rhs.shape[2] <= FEW_CHANNELS and fast_forms.enabled("patch_input_tangent")
                  and all(s == 1 for s in window_strides) and all(d == 1 for d in (lhs_dilation or (1,)))
                  and all(d == 1 for d in (rhs_dilation or (1,))) and feature_group_count == 1
                  and batch_group_count == 1 and preferred_element_type is None
                  and lax.conv_dimension_numbers(lhs.shape, rhs.shape, dimension_numbers)
                  == lax.conv_dimension_numbers(lhs.shape, rhs.shape, NHWC))
    if not patch_tangent:
        return lax.conv_general_dilated(
            lhs, rhs, window_strides, padding, lhs_dilation=lhs_dilation, rhs_dilation=rhs_dilation,
            dimension_numbers=dimension_numbers, feature_group_count=feature_group_count,
            batch_group_count=batch_group_count, precision=precision, preferred_element_type=preferred_element_type)
    if isinstance(padding, str):
        padding = lax.padtype_to_pads(lhs.shape[1:3], rhs.shape[:2], window_strides, padding)
    return _conv_with_patch_input_tangent(lhs, rhs, tuple(map(tuple, padding)), precision)


def _xla_conv(images, kernel, padding, precision):
    return lax.conv_general_dilated(images, kernel, (1, 1), padding, dimension_numbers=NHWC, precision=precision)


@functools.partial(jax.custom_jvp, nondiff_argnums=(2, 3))
def _conv_with_patch_input_tangent(images, kernel, padding, precision):
    return _xla_conv(images, kernel, padding, precision)


def _conv_jvp(padding, precision, primals, tangents):
    (images, kernel), (d_images, d_kernel) = primals, tangents
    out = _xla_conv(images, kernel, padding, precision)
    d_out = jnp.zeros_like(out)
    if not isinstance(d_images, SymbolicZero):
        d_out = d_out + patch_conv(d_images, kernel, padding, precision)
    if not isinstance(d_kernel, SymbolicZero):
        d_out = d_out + _xla_conv(images, d_kernel, padding, precision)
    return out, d_out


_conv_with_patch_input_tangent.defjvp(_conv_jvp, symbolic_zeros=True)


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
