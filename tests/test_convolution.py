"""The patch-matmul convolution against XLA's own convolution, and when it is taken."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from specxai_jax import convolution
from specxai_jax.models import PlainCNN, init_variables


def xla_conv(images, kernel, padding):
    return lax.conv_general_dilated(images, kernel, (1, 1), padding, dimension_numbers=convolution.NHWC,
                                    precision=lax.Precision.HIGHEST)


@pytest.mark.parametrize("kernel_size, padding", [
    ((3, 3), "SAME"), ((5, 3), ((2, 1), (0, 3))), ((1, 1), "VALID"), ((3, 3), "VALID")])
@pytest.mark.parametrize("channels", [1, 3])
def test_values_and_gradients_match_xla_convolution(kernel_size, padding, channels):
    rng = np.random.default_rng(0)
    images = jnp.asarray(rng.normal(size=(2, 9, 7, channels)), jnp.float32)
    kernel = jnp.asarray(rng.normal(size=(*kernel_size, channels, 5)), jnp.float32)
    ours = lambda x, k: convolution.conv_general_dilated(x, k, (1, 1), padding, dimension_numbers=convolution.NHWC)
    reference = lambda x, k: xla_conv(x, k, padding)
    y, ours_vjp = jax.vjp(ours, images, kernel)
    y_ref, reference_vjp = jax.vjp(reference, images, kernel)
    np.testing.assert_allclose(y, y_ref, rtol=1e-5, atol=1e-5)
    cotangent = jnp.asarray(rng.normal(size=y.shape), jnp.float32)
    for grad, grad_ref in zip(ours_vjp(cotangent), reference_vjp(cotangent)):
        np.testing.assert_allclose(grad, grad_ref, rtol=1e-5, atol=1e-4)


def primitives(fn, *args) -> set[str]:
    return {equation.primitive.name for equation in jax.make_jaxpr(fn)(*args).eqns}


def convolutions(fn, *args) -> int:
    """How many XLA convolutions the traced program holds (nested jaxprs included)."""
    return str(jax.make_jaxpr(fn)(*args)).count("conv_general_dilated[")


@pytest.mark.parametrize("channels, strides, expected", [
    (3, (1, 1), "dot_general"),                 # few channels: patches @ kernel
    (16, (1, 1), "conv_general_dilated"),       # many channels: XLA's convolution is faster
    (3, (2, 2), "conv_general_dilated"),        # strided: not handled by the patch form
])
def test_patch_form_taken_only_for_few_channels_and_stride_one(channels, strides, expected):
    images = jnp.zeros((1, 8, 8, channels))
    kernel = jnp.zeros((3, 3, channels, 4))
    used = primitives(lambda x, k: convolution.conv_general_dilated(
        x, k, strides, "SAME", dimension_numbers=convolution.NHWC), images, kernel)
    assert expected in used and not ({"dot_general", "conv_general_dilated"} - {expected}) & used


def test_plain_cnn_saliency_matches_xla_convolutions(monkeypatch):
    model = PlainCNN(depth=2, width=8, dense=8)
    variables = init_variables(model, jax.random.key(1), 3.0, (1, 12, 12, 3))
    images = jnp.asarray(np.random.default_rng(1).uniform(size=(3, 12, 12, 3)), jnp.float32)

    def traced():   # fresh functions, so no trace cached before the patch below is reused
        forward = lambda x: model.apply(variables, x)
        return forward, jax.jit(jax.grad(lambda x: forward(x).max(axis=-1).sum()))

    forward, saliency = traced()
    assert convolutions(forward, images) == 1          # the 3-channel layer is a patch matmul
    ours = saliency(images)
    monkeypatch.setattr(convolution, "conv_general_dilated", lax.conv_general_dilated)
    forward, saliency = traced()
    assert convolutions(forward, images) == 2
    np.testing.assert_allclose(ours, saliency(images), rtol=1e-4, atol=1e-6)
