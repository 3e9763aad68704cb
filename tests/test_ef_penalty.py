"""EF-regularized training: the penalty's maps, its parameter gradient (double backpropagation) against finite
differences in float64, λ = 0 leaving the training program as it was, and λ > 0 lowering the maps' EF."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from specxai_jax import spectral
from specxai_jax.attribution import METHODS
from specxai_jax.data import Dataset
from specxai_jax.models import PlainCNN, init_variables, stack_variables
from specxai_jax.training import ef_penalty
from specxai_jax.training.train import TrainConfig, cross_entropy_loss, make_optimizer, make_train_step, train_models

MODEL = PlainCNN(depth=1, width=4, dense=16, num_classes=3, activation="softplus")


def _variables(beta=3.0, seed=0, shape=(1, 8, 8, 2)):
    return init_variables(MODEL, jax.random.key(seed), beta, shape)


def _images(count=6, shape=(8, 8, 2), seed=1):
    return jnp.asarray(np.random.default_rng(seed).uniform(size=(count, *shape)), jnp.float32)


def test_saliency_maps_are_vanillagrad_summed_over_channels():
    variables, x = _variables(), _images()
    expected = METHODS["vanilla_grad"](MODEL.apply, variables, x, None).sum(axis=-1)
    np.testing.assert_allclose(ef_penalty.saliency_maps(MODEL.apply, variables, x), expected, rtol=1e-5, atol=1e-7)


def test_penalty_is_the_mean_raw_ef_and_scale_free():
    variables, x = _variables(), _images()
    maps = np.asarray(ef_penalty.saliency_maps(MODEL.apply, variables, x), np.float64)
    # raw EF by hand with NumPy: centred |FFT|², mean per integer radius, normalized, weighted by k / (K − 1)
    power = np.abs(np.fft.fftshift(np.fft.fft2(maps), axes=(-2, -1))) ** 2
    yy, xx = np.indices(maps.shape[1:])
    radius = np.floor(np.hypot(yy - maps.shape[1] // 2, xx - maps.shape[2] // 2)).astype(int)
    radial = np.stack([power[:, radius == k].mean(axis=1) for k in range(radius.max() + 1)], axis=1)
    ef = (radial / radial.sum(1, keepdims=True)) @ (np.arange(radial.shape[1]) / (radial.shape[1] - 1))
    assert float(ef_penalty.ef_penalty(MODEL.apply, variables, x)) == pytest.approx(ef.mean(), rel=1e-4)
    assert float(spectral.expected_frequency(3.7 * jnp.asarray(maps), rank=False).mean()) == pytest.approx(ef.mean(),
                                                                                                          rel=1e-4)


@pytest.mark.parametrize("penalty", [ef_penalty.ef_penalty, ef_penalty.high_frequency_energy])
def test_penalty_gradient_matches_finite_differences_in_float64(penalty):
    with jax.enable_x64(True):
        variables = jax.tree.map(lambda leaf: jnp.asarray(leaf, jnp.float64), _variables(shape=(1, 6, 6, 1)))
        x = _images(3, (6, 6, 1)).astype(jnp.float64)
        value = lambda params: penalty(MODEL.apply, {**variables, "params": params}, x)
        grads = jax.grad(value)(variables["params"])
        leaves, tree = jax.tree.flatten(variables["params"])
        rng = np.random.default_rng(2)
        direction = jax.tree.unflatten(tree, [jnp.asarray(rng.normal(size=leaf.shape)) for leaf in leaves])
        step = 1e-6
        shifted = lambda sign: jax.tree.map(lambda p, d: p + sign * step * d, variables["params"], direction)
        numeric = (float(value(shifted(1))) - float(value(shifted(-1)))) / (2 * step)
        analytic = sum(float((g * d).sum()) for g, d in zip(jax.tree.leaves(grads), jax.tree.leaves(direction)))
        assert abs(analytic) > 1e-8  # the direction sees the penalty
        assert analytic == pytest.approx(numeric, rel=1e-5)


def _reference_step(apply_fn, optimizer):
    """The training step as it was before EF-regularized training existed (no input noise)."""

    def train_step(variables, opt_state, x, y, seed, epoch, step):
        grad_fn = jax.value_and_grad(lambda p: cross_entropy_loss(apply_fn, variables, p, x, y), has_aux=True)
        (loss, updates), grads = grad_fn(variables["params"])
        param_updates, opt_state = optimizer.update(grads, opt_state, variables["params"])
        new = {**variables, **updates, "params": optax.apply_updates(variables["params"], param_updates)}
        return new, opt_state, loss

    return train_step


def test_zero_weight_traces_the_program_of_plain_training():
    config = TrainConfig(ef_penalty=0.0)
    optimizer = make_optimizer(config, 3)
    variables, x = _variables(), _images(4)
    arguments = (variables, optimizer.init(variables["params"]), x, jnp.array([0, 1, 2, 0]), 0, 0, 0)
    ours = jax.make_jaxpr(make_train_step(MODEL.apply, optimizer, config, 3))(*arguments)
    before = jax.make_jaxpr(_reference_step(MODEL.apply, optimizer))(*arguments)
    assert str(ours) == str(before)
    penalized = jax.make_jaxpr(make_train_step(MODEL.apply, optimizer, TrainConfig(ef_penalty=0.5), 3))(*arguments)
    assert str(penalized) != str(before)


@pytest.fixture(scope="module")
def stripes():
    """Three classes: horizontal, vertical or no stripes, with noise (8×8, one channel)."""
    rng = np.random.default_rng(0)

    def split(count):
        labels = (np.arange(count) % 3).astype(np.int32)
        grid = np.indices((8, 8)).astype(np.float32)
        patterns = np.stack([np.sin(2 * grid[0]), np.sin(2 * grid[1]), np.zeros((8, 8))])
        images = 0.5 + 0.3 * patterns[labels] + 0.2 * rng.normal(size=(count, 8, 8))
        return np.clip(images, 0, 1)[..., None].astype(np.float32), labels

    return Dataset("stripes", *split(192), *split(96), 3)


@pytest.mark.slow
def test_zero_weight_trains_bit_identical_weights_and_a_positive_weight_lowers_raw_ef(stripes):
    model = PlainCNN(depth=1, width=4, dense=16, num_classes=3)
    stacked = stack_variables([init_variables(model, jax.random.key(0), math.inf, (1, 8, 8, 1))])
    trained = {}
    for weight in (None, 0.0, 3.0):
        config = TrainConfig(lr=1e-2, batch_size=32, acc_cap=None, max_epochs=3,
                             **({} if weight is None else {"ef_penalty": weight}))
        result = train_models(model.apply, stacked, stripes, [0], config, progress=False, engine="per_device")
        trained[weight] = jax.tree.map(lambda leaf: np.asarray(leaf[0]), result.variables)
    for plain, zero in zip(jax.tree.leaves(trained[None]), jax.tree.leaves(trained[0.0])):
        np.testing.assert_array_equal(plain, zero)
    x = jnp.asarray(stripes.x_test)
    ef = {w: float(ef_penalty.ef_penalty(model.apply, jax.device_put(v), x)) for w, v in trained.items()}
    assert ef[3.0] < ef[0.0] - 0.02
