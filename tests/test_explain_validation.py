"""explain / make_explainer refuse bad arguments with one UsageError line naming the argument, never a silent
wrong map (all-zero, another class's, NaN) or a library traceback."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from specxai_jax.attribution import explain, make_explainer
from specxai_jax.errors import UsageError

X = jax.random.uniform(jax.random.key(0), (2, 4, 4, 1))
W = jax.random.normal(jax.random.key(1), (16, 3))


def linear(params, x):
    """A 3-class linear model: logits (B, 3)."""
    return x.reshape(x.shape[0], -1) @ params


class Conv(nn.Module):
    @nn.compact
    def __call__(self, x):
        x = nn.relu(nn.Conv(2, (3, 3), name="conv")(x))
        return nn.Dense(3)(x.reshape(x.shape[0], -1))


def one_line(caught) -> str:
    message = str(caught.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize("target,match", [
    (7, "target 7 is out of range: the model has 3 classes"),
    (3, "target 3 is out of range"),
    (-1, "target -1 is out of range"),
    (1.7, "integer class indices"),
    (np.array([0.0, 1.0]), "integer class indices"),
    (True, "integer class indices"),
    (np.array([0, 1, 2]), r"shape \(3,\); give one class index, or one per image: shape \(2,\)"),
    (np.zeros((2, 1), int), r"shape \(2, 1\)"),
])
def test_bad_targets_are_refused(target, match):
    with pytest.raises(UsageError, match=match) as caught:
        explain("vanilla_grad", linear, W, X, target)
    one_line(caught)


def test_good_targets_still_pick_their_class():
    """Independent reference: the log-softmax gradient of a linear model is W[:, t] − softmax · Wᵀ."""
    maps = explain("vanilla_grad", linear, W, X, np.array([2, 0]))
    probs = jax.nn.softmax(linear(W, X))
    expected = (W.T[jnp.array([2, 0])] - probs @ W.T).reshape(X.shape)
    np.testing.assert_allclose(maps, expected, atol=1e-5)


@pytest.mark.parametrize("method,options,match", [
    ("smooth_grad", {"samples": 0}, "samples=0 is invalid"),
    ("smooth_grad", {"samples": 2.5}, "samples=2.5 is invalid"),
    ("smooth_grad", {"sigma": -0.5}, "sigma=-0.5 is invalid"),
    ("smooth_grad", {"sigma": float("nan")}, "sigma=nan is invalid"),
    ("vanilla_grad", {"noise_std": -1.0}, "noise_std=-1.0 is invalid"),
    ("integrated_gradients", {"steps": 0}, "steps=0 is invalid"),
    ("gradcam", {"layer": ""}, "layer='' is invalid"),
    ("gradcam", {"layer": "   "}, "layer='   ' is invalid"),
])
def test_bad_options_are_refused_at_construction(method, options, match):
    with pytest.raises(UsageError, match=match) as caught:
        make_explainer(method, Conv(), **options)
    one_line(caught)
    with pytest.raises(UsageError, match=match):
        explain(method, Conv(), None, X, key=jax.random.key(0), **options)


def test_smooth_grad_called_directly_refuses_zero_samples():
    from specxai_jax.attribution import smooth_grad

    with pytest.raises(UsageError, match="samples=0"):
        smooth_grad(linear, W, X, key=jax.random.key(0), samples=0)


@pytest.mark.parametrize("x,match", [
    (np.zeros((0, 4, 4, 1), np.float32), "at least one image; got a batch of 0"),
    (np.zeros((2, 4, 4, 1), np.uint8), "dtype uint8; explain needs float images in \\[0, 1\\]"),
    (np.zeros((2, 4, 4, 1), np.int32), "dtype int32"),
    (np.zeros((4, 4, 1), np.float32), r"\(B, H, W, C\) \(NHWC\); got shape \(4, 4, 1\)"),
])
def test_bad_image_batches_are_refused(x, match):
    with pytest.raises(UsageError, match=match) as caught:
        explain("vanilla_grad", linear, W, x)
    one_line(caught)


@pytest.fixture(scope="module")
def conv_variables():
    return Conv().init(jax.random.key(0), X)


@pytest.mark.parametrize("shape", [(2, 1, 4, 4), (2, 4, 4, 3), (2, 5, 5, 1)])
def test_images_that_do_not_fit_the_model_name_the_layout(conv_variables, shape):
    with pytest.raises(UsageError, match=rf"cannot take images of shape \({shape[0]}, {shape[1]}, {shape[2]}, "
                                         rf"{shape[3]}\): it expects NHWC") as caught:
        explain("vanilla_grad", Conv(), conv_variables, jnp.zeros(shape))
    one_line(caught)


def test_a_model_returning_a_scalar_is_refused():
    with pytest.raises(UsageError, match=r"returned shape \(\) for 2 images; explain needs a model that returns logits"):
        explain("vanilla_grad", lambda params, x: x.sum(), W, X)
