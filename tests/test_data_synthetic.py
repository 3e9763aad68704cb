"""Synthetic data: determinism, shapes, natural-image statistics, and learnability by the plain CNN."""

import jax
import numpy as np
import optax
import pytest

from specxai_jax.data import DataError, load_dataset, parse_spec
from specxai_jax.models import PlainCNN, init_variables


def neighbour_correlation(x: np.ndarray) -> float:
    """Pearson correlation of horizontally adjacent pixels, pooled over images and channels (N, H, W, C)."""
    left, right = x[:, :, :-1].ravel(), x[:, :, 1:].ravel()
    return float(np.corrcoef(left, right)[0, 1])


def spectral_slope(x: np.ndarray) -> float:
    """Slope of log radial power vs log frequency of the mean-removed images, fitted over 2 ≤ r ≤ H/4."""
    maps = x[..., 0] - x[..., 0].mean(axis=(1, 2), keepdims=True)
    power = (np.abs(np.fft.fftshift(np.fft.fft2(maps), axes=(1, 2))) ** 2).mean(axis=0)
    size = maps.shape[1]
    yy, xx = np.indices(power.shape) - size // 2
    radius = np.rint(np.hypot(yy, xx)).astype(int)
    ks = np.arange(2, size // 4 + 1)
    profile = np.array([power[radius == k].mean() for k in ks])
    return float(np.polyfit(np.log(ks), np.log(profile), 1)[0])


def test_defaults_shapes_and_ranges():
    ds = load_dataset("synthetic")
    assert ds.name == "synthetic" and ds.num_classes == 10
    assert ds.x_train.shape == (2000, 32, 32, 1) and ds.x_test.shape == (500, 32, 32, 1)
    assert ds.x_train.dtype == np.float32 and ds.y_train.dtype == np.int32
    assert ds.x_train.min() >= 0.0 and ds.x_train.max() <= 1.0
    np.testing.assert_array_equal(np.bincount(ds.y_train), np.full(10, 200))  # balanced classes


@pytest.mark.parametrize("size,channels,classes", [(16, 1, 4), (33, 3, 6), (224, 3, 10)])
def test_any_size_channels_and_classes(size, channels, classes):
    ds = load_dataset(f"synthetic:size={size},channels={channels},classes={classes},n_train=40,n_test=12")
    assert ds.x_train.shape == (40, size, size, channels) and ds.x_test.shape == (12, size, size, channels)
    assert set(np.unique(ds.y_train)) == set(range(classes)) and ds.num_classes == classes
    assert 0.0 <= ds.x_test.min() and ds.x_test.max() <= 1.0


def test_deterministic_per_seed():
    a, b = load_dataset("synthetic", seed=4, max_train=300), load_dataset("synthetic", seed=4, max_train=300)
    c = load_dataset("synthetic", seed=5, max_train=300)
    np.testing.assert_array_equal(a.x_train, b.x_train)
    np.testing.assert_array_equal(a.y_test, b.y_test)
    assert not np.allclose(a.x_train, c.x_train)
    assert a.x_train.shape[0] == 300 and a.x_test.shape[0] == 500


def test_img_size_sets_the_generated_size():
    direct = load_dataset("synthetic:size=48", max_train=50, max_test=10)
    through_flag = load_dataset("synthetic", img_size=48, max_train=50, max_test=10)
    np.testing.assert_array_equal(direct.x_train, through_flag.x_train)
    resized = load_dataset("synthetic:size=32", img_size=20, max_train=50, max_test=10)
    assert resized.x_train.shape == (50, 20, 20, 1)


def test_images_are_spatially_autocorrelated_like_natural_images():
    ds = load_dataset("synthetic", max_train=400)
    assert neighbour_correlation(ds.x_train) >= 0.8
    # Natural images: power ∝ 1/f^α with α ≈ 2; white noise would give a slope near 0.
    assert -3.5 <= spectral_slope(ds.x_train) <= -1.5
    white = np.random.default_rng(0).uniform(size=ds.x_train.shape)
    assert abs(spectral_slope(white)) < 0.3 and neighbour_correlation(white) < 0.1


def test_colour_channels_differ_but_correlate():
    x = load_dataset("synthetic:channels=3", max_train=200).x_train
    r, g = x[..., 0].ravel(), x[..., 1].ravel()
    assert 0.3 < np.corrcoef(r, g)[0, 1] < 0.999


@pytest.mark.parametrize("options,fragment", [
    ("colour=3", "unknown synthetic option 'colour'"),
    ("size=big", "not an integer"),
    ("size=8", "out of range"),
    ("size=300", "out of range"),
    ("channels=2", "channels=1"),
    ("classes=1", "out of range"),
    ("n_train=0", "out of range"),
])
def test_bad_options_are_one_line_errors(options, fragment):
    with pytest.raises(DataError, match=fragment) as info:
        parse_spec(f"synthetic:{options}")
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("spec,seed", [
    ("synthetic", 0),
    pytest.param("synthetic:channels=3", 2, marks=pytest.mark.slow),
    pytest.param("synthetic:size=64,classes=16", 3, marks=pytest.mark.slow),
])
def test_plain_cnn_learns_it_to_90_percent_in_three_epochs(spec, seed):
    ds = load_dataset(spec, seed=seed)
    model = PlainCNN(depth=3, num_classes=ds.num_classes, activation="relu")
    variables = init_variables(model, jax.random.key(0), float("inf"), (1, *ds.image_shape))
    optimizer = optax.adam(1e-3)
    params, state = variables["params"], optimizer.init(variables["params"])

    def logits(params, x):
        return model.apply({"params": params, "constants": variables["constants"]}, x)

    @jax.jit
    def step(params, state, x, y):
        grads = jax.grad(lambda p: optax.softmax_cross_entropy_with_integer_labels(logits(p, x), y).mean())(params)
        updates, state = optimizer.update(grads, state, params)
        return optax.apply_updates(params, updates), state

    order = np.random.default_rng(0)
    for _ in range(3):
        perm = order.permutation(ds.x_train.shape[0])
        for start in range(0, perm.size - 63, 64):
            batch = perm[start:start + 64]
            params, state = step(params, state, ds.x_train[batch], ds.y_train[batch])
    accuracy = float((np.asarray(jax.jit(logits)(params, ds.x_test)).argmax(-1) == ds.y_test).mean())
    assert accuracy >= 0.9
