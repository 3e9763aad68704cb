"""The first-layer convolution (XLA value, patch-matmul input tangent) against XLA's own, and when it is taken."""

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from specxai_jax.models import PlainCNN, init_variables
from specxai_jax.ops import convolution, fast_forms


def xla_conv(images, kernel, padding):
    return lax.conv_general_dilated(images, kernel, (1, 1), padding, dimension_numbers=convolution.NHWC,
                                    precision=lax.Precision.HIGHEST)


def input_gradient_primitives(fn, images) -> str:
    """The traced program of ∇ₓ sum(fn(x)), as text (nested programs included)."""
    return str(jax.make_jaxpr(jax.grad(lambda x: fn(x).sum()))(images))


@pytest.mark.parametrize("patch", [True, False])
@pytest.mark.parametrize("kernel_size, padding", [
    ((3, 3), "SAME"), ((5, 3), ((2, 1), (0, 3))), ((1, 1), "VALID"), ((3, 3), "VALID")])
@pytest.mark.parametrize("channels", [1, 3])
def test_values_and_gradients_match_xla_convolution(kernel_size, padding, channels, patch):
    rng = np.random.default_rng(0)
    images = jnp.asarray(rng.normal(size=(2, 9, 7, channels)), jnp.float32)
    kernel = jnp.asarray(rng.normal(size=(*kernel_size, channels, 5)), jnp.float32)
    ours = lambda x, k: convolution.conv_general_dilated(x, k, (1, 1), padding, dimension_numbers=convolution.NHWC)
    reference = lambda x, k: xla_conv(x, k, padding)
    with fast_forms.forced(patch, "patch_input_tangent"):
        assert ("dot_general" in input_gradient_primitives(lambda x: ours(x, kernel), images)) == patch
        y, ours_vjp = jax.vjp(ours, images, kernel)
        cotangent = jnp.asarray(rng.normal(size=y.shape), jnp.float32)
        grads = ours_vjp(cotangent)
    y_ref, reference_vjp = jax.vjp(reference, images, kernel)
    np.testing.assert_allclose(y, y_ref, rtol=1e-5, atol=1e-5)
    for grad, grad_ref in zip(grads, reference_vjp(cotangent)):
        np.testing.assert_allclose(grad, grad_ref, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("patch", [True, False])
@pytest.mark.parametrize("channels", [1, 3])
def test_forward_mode_matches_xla_convolution(channels, patch):
    rng = np.random.default_rng(2)
    images = jnp.asarray(rng.normal(size=(2, 6, 5, channels)), jnp.float32)
    kernel = jnp.asarray(rng.normal(size=(3, 3, channels, 4)), jnp.float32)
    tangents = (jnp.asarray(rng.normal(size=images.shape), jnp.float32),
                jnp.asarray(rng.normal(size=kernel.shape), jnp.float32))
    ours = lambda x, k: convolution.conv_general_dilated(x, k, (1, 1), "SAME", dimension_numbers=convolution.NHWC)
    with fast_forms.forced(patch, "patch_input_tangent"):
        assert ("dot_general" in str(jax.make_jaxpr(lambda *a: jax.jvp(ours, a, tangents))(images, kernel))) == patch
        result = jax.jvp(ours, (images, kernel), tangents)
    reference = jax.jvp(lambda x, k: xla_conv(x, k, "SAME"), (images, kernel), tangents)
    for a, b in zip(result, reference):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("channels, strides, patch_tangent", [
    (3, (1, 1), True),        # few channels: the input gradient is the patch matmul's transpose
    (16, (1, 1), False),      # many channels: XLA's convolution is faster
    (3, (2, 2), False),       # strided: not handled by the patch form
])
def test_patch_tangent_taken_only_for_few_channels_and_stride_one(channels, strides, patch_tangent):
    images = jnp.zeros((1, 8, 8, channels))
    kernel = jnp.zeros((3, 3, channels, 4))
    conv = lambda x: convolution.conv_general_dilated(x, kernel, strides, "SAME", dimension_numbers=convolution.NHWC)
    with fast_forms.forced(True, "patch_input_tangent"):
        assert ("dot_general" in input_gradient_primitives(conv, images)) == patch_tangent
        assert "dot_general" not in str(jax.make_jaxpr(conv)(images))      # the value is always XLA's convolution


def patch_tangent_layers(fn, images) -> int:
    return len(re.findall(r"custom_jvp_call\[\s*name=_conv_with_patch_input_tangent", str(jax.make_jaxpr(fn)(images))))


def test_plain_cnn_saliency_is_the_same_with_and_without_the_patch_tangent():
    model = PlainCNN(depth=2, width=4, dense=8)
    variables = init_variables(model, jax.random.key(1), 3.0, (1, 8, 8, 3))
    images = jnp.asarray(np.random.default_rng(1).uniform(size=(3, 8, 8, 3)), jnp.float32)
    forward = lambda x: model.apply(variables, x)
    saliency = jax.jit(jax.grad(lambda x: forward(x).max(axis=-1).sum()))
    results = {}
    for patch in (True, False):
        with fast_forms.forced(patch, "patch_input_tangent"):
            assert patch_tangent_layers(forward, images) == int(patch)     # the 3-channel layer only
            results[patch] = saliency(images)
    np.testing.assert_allclose(results[True], results[False], rtol=1e-4, atol=1e-6)
