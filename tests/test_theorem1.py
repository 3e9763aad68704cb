"""specxai_jax.kernel_maps against closed forms: jump spectra, known power laws, autodiff gradients; data options."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from specxai_jax import kernel_maps, spectral
from specxai_jax.data import DataError, load_dataset

SIZE = 4096


def crossing_signals(count: int = 8):
    """Smooth (analytic) signals that cross zero: offset sinusoids of one to three periods, random phase."""
    rng = np.random.default_rng(0)
    tau = np.arange(SIZE) / SIZE
    rows = [np.sin(2 * np.pi * (k * tau + rng.uniform())) + rng.uniform(-0.5, 0.5)
            for k in rng.integers(1, 4, count)]
    return jnp.asarray(np.stack(rows), jnp.float64)


def fitted_tail(kernel: str, band=(0.01, 0.1)) -> float:
    with jax.enable_x64(True):
        delta = crossing_signals()
        maps = kernel_maps.as_maps(kernel_maps.gradient_maps(kernel, delta, jnp.zeros_like(delta), 0.5), 1)
        radial = spectral.radial_power_spectrum(maps)
        lo, hi = kernel_maps.band_bins(radial.shape[-1], SIZE, band)
        fit = kernel_maps.tail_exponent(radial[:, lo:hi], jnp.arange(lo, hi) / SIZE, jax.random.PRNGKey(0), n_boot=50)
        return float(fit["exponent"])


def test_laplace_map_of_a_smooth_crossing_has_the_jump_tail_minus_two():
    # κ′ of the Laplace kernel jumps by 2/b where Δ crosses 0: a jump's power falls as ω^-2
    assert fitted_tail("laplace") == pytest.approx(-2.0, abs=0.1)


def test_matern_map_of_a_smooth_crossing_has_tail_minus_six():
    # κ′ of Matérn-3/2 is continuous with a jump in its 2nd derivative at 0: power ∝ ω^-6
    assert fitted_tail("matern32") == pytest.approx(-6.0, abs=0.3)


def test_gaussian_map_of_an_analytic_signal_falls_faster_than_any_power():
    assert fitted_tail("gaussian", band=(0.002, 0.01)) < -10


@pytest.mark.parametrize("dim,alpha", [(1, 3.0), (2, 4.0), (2, 0.0)])
def test_power_law_fields_have_the_requested_spectrum(dim, alpha):
    size = 256 if dim == 1 else 64
    with jax.enable_x64(True):
        fields = kernel_maps.power_law_fields(jax.random.PRNGKey(1), 16, size, dim, alpha, jnp.float64)
        radial = spectral.radial_power_spectrum(kernel_maps.as_maps(fields, dim))
        lo, hi = kernel_maps.band_bins(radial.shape[-1], size, (0.05, 0.4))
        fit = kernel_maps.tail_exponent(radial[:, lo:hi], jnp.arange(lo, hi) / size, jax.random.PRNGKey(0), n_boot=50)
        np.testing.assert_allclose(np.asarray(fields.std(axis=tuple(range(1, dim + 1)))), 1.0, rtol=1e-6)
    assert float(fit["exponent"]) == pytest.approx(-alpha, abs=0.15)
    assert 0 < float(fit["se"]) < 0.15


def test_fit_power_law_recovers_an_exact_power_law():
    freqs = jnp.linspace(0.01, 0.3, 40)
    assert float(kernel_maps.fit_power_law(freqs, 7.0 * freqs**-3.5)) == pytest.approx(-3.5, abs=1e-4)


KERNEL_VALUES = {
    "laplace": lambda u, b: jnp.exp(-jnp.abs(u) / b),
    "matern32": lambda u, b: (1 + math.sqrt(3) * jnp.abs(u) / b) * jnp.exp(-math.sqrt(3) * jnp.abs(u) / b),
    "gaussian": lambda u, b: jnp.exp(-u**2 / (2 * b**2)),
}


@pytest.mark.parametrize("kernel", kernel_maps.KERNELS)
def test_kernel_derivative_is_the_derivative_of_the_kernel(kernel):
    u = jnp.array([-2.0, -0.7, -0.1, 0.05, 0.4, 1.5])
    expected = jax.vmap(jax.grad(lambda v: KERNEL_VALUES[kernel](v, 0.8)))(u)
    np.testing.assert_allclose(kernel_maps.kernel_derivative(kernel, u, 0.8), expected, rtol=1e-5)


@pytest.mark.parametrize("case,expected", [
    (("laplace", 6.0, 1), (-2.0, "kernel")), (("matern32", 8.0, 1), (-6.0, "kernel")),
    (("gaussian", 8.0, 1), (-8.0, "input")), (("laplace", 9.0, 2), (-3.0, "kernel")),
    (("matern32", 9.0, 2), (-7.0, "kernel")), (("matern32", 6.0, 2), (-6.0, "input")),
    (("laplace", 2.0, 1), (-1.5, "rough")), (("laplace", 0.0, 2), (0.0, "input")),
])
def test_predicted_exponents_follow_the_derivation(case, expected):
    assert kernel_maps.predicted_exponent(*case) == expected


def machine_data():
    rng = np.random.default_rng(3)
    return (jnp.asarray(rng.normal(size=(3, 12)), jnp.float32), jnp.asarray(rng.normal(size=(7, 12)), jnp.float32),
            jnp.asarray(rng.normal(size=(3, 7)), jnp.float32))


@pytest.mark.parametrize("kind,value", [
    ("laplace", lambda x, xt: jnp.exp(-jnp.linalg.norm(x - xt, axis=-1) / 2.5)),
    ("gaussian", lambda x, xt: jnp.exp(-jnp.sum((x - xt) ** 2, axis=-1) / (2 * 2.5**2))),
])
def test_input_gradients_match_autodiff(kind, value):
    x, x_train, weights = machine_data()
    expected = jnp.stack([jax.grad(lambda v, w=w: (w * value(v, x_train)).sum())(row) for row, w in zip(x, weights)])
    got = kernel_maps.input_gradients(kind, x, x_train, weights, bandwidth=2.5)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-6)


def test_dot_product_gradients_match_autodiff_of_the_tabulated_function():
    # Θ(c) = exp(2c) tabulated; the gradient must equal autodiff of Σ w exp(2 cos(x, x_i))
    x, x_train, weights = machine_data()
    grid = jnp.linspace(-1.0, 1.0, 20001)
    table = (grid, jnp.exp(2 * grid))

    def f(v, w):
        cosine = (x_train @ v) / (jnp.linalg.norm(x_train, axis=-1) * jnp.linalg.norm(v))
        return (w * jnp.exp(2 * cosine)).sum()

    expected = jnp.stack([jax.grad(f)(row, w) for row, w in zip(x, weights)])
    got = kernel_maps.input_gradients("dot", x, x_train, weights, table=table)
    np.testing.assert_allclose(got, expected, rtol=2e-3, atol=1e-5)


def test_ridge_regression_predicts_its_training_labels():
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.normal(size=(40, 16)), jnp.float32)
    y = jnp.asarray(rng.integers(0, 3, 40))
    gradients, predicted = kernel_maps.explain_ridge("laplace", x, y, x, 3, bandwidth=4.0, ridge=1e-6)
    assert gradients.shape == (40, 16) and bool(jnp.all(predicted == y))


def neighbour_correlation(x: np.ndarray) -> float:
    return float(np.corrcoef(x[:, :, :-1].ravel(), x[:, :, 1:].ravel())[0, 1])


def test_synthetic_slope_zero_gives_white_backgrounds():
    white = load_dataset("synthetic:size=32,slope=0,classes=2", max_train=64, max_test=8).x_train[..., 0]
    pink = load_dataset("synthetic:size=32,classes=2", max_train=64, max_test=8).x_train[..., 0]
    # the smooth class template stays; only the background loses its correlation
    assert neighbour_correlation(pink) > 0.8 and neighbour_correlation(white) < neighbour_correlation(pink) - 0.25
    with pytest.raises(DataError, match="slope"):
        load_dataset("synthetic:slope=7")


def test_permuted_dataset_applies_one_fixed_pixel_permutation():
    plain = load_dataset("synthetic:size=16", max_train=32, max_test=8)
    permuted = load_dataset("permuted:synthetic:size=16", max_train=32, max_test=8)
    flat, shuffled = plain.x_train.reshape(32, -1), permuted.x_train.reshape(32, -1)
    # recover the permutation from the first image's (distinct) values; it must explain every image
    order = np.argsort(flat[0])[np.argsort(np.argsort(shuffled[0]))]
    np.testing.assert_array_equal(flat[:, order], shuffled)
    np.testing.assert_array_equal(plain.y_train, permuted.y_train)
    assert neighbour_correlation(permuted.x_train[..., 0]) < 0.3
    with pytest.raises(DataError, match="permute"):
        load_dataset("permuted:")
