"""Activations against closed forms, numerical convolutions and their limits."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import integrate, stats

from specxai_jax.ops import activations


def relu_convolved(x: float, density) -> float:
    """(ReLU * density)(x) = ∫ ReLU(x − t) density(t) dt by adaptive quadrature."""
    value, _ = integrate.quad(lambda t: max(x - t, 0.0) * density(t), -np.inf, x, limit=200)
    return value


@pytest.mark.parametrize("beta", [0.1, 1.0, 7.0])
def test_gauss_equals_numerical_convolution_of_relu(beta):
    xs = np.linspace(-4, 4, 9)
    density = stats.norm(scale=1 / math.sqrt(beta)).pdf
    expected = [relu_convolved(x, density) for x in xs]
    ours = np.asarray(activations.gauss(jnp.asarray(xs, jnp.float32), beta))
    np.testing.assert_allclose(ours, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("beta", [0.5, 3.0])
def test_softplus_is_relu_convolved_with_logistic(beta):
    xs = np.linspace(-3, 3, 7)
    density = stats.logistic(scale=1 / beta).pdf
    expected = [relu_convolved(x, density) for x in xs]
    ours = np.asarray(activations.softplus(jnp.asarray(xs, jnp.float32), beta))
    np.testing.assert_allclose(ours, expected, rtol=1e-5, atol=1e-6)


def test_softplus_derivative_is_logistic_cdf():
    xs = jnp.linspace(-5, 5, 21)
    grad = jax.vmap(jax.grad(lambda x: activations.softplus(x, 2.5)))(xs)
    np.testing.assert_allclose(np.asarray(grad), stats.logistic.cdf(2.5 * np.asarray(xs)), rtol=1e-5, atol=1e-7)


def test_softplus_beta_derivative_and_curvature_match_finite_differences():
    with jax.enable_x64(True):
        xs = jnp.linspace(-3, 3, 13, dtype=jnp.float64)
        beta, step = 2.5, 1e-5
        d_beta = jax.vmap(jax.grad(activations.softplus, argnums=1), (0, None))(xs, beta)
        central = (activations.softplus(xs, beta + step) - activations.softplus(xs, beta - step)) / (2 * step)
        np.testing.assert_allclose(np.asarray(d_beta), np.asarray(central), rtol=1e-7, atol=1e-9)
        curvature = jax.vmap(jax.grad(jax.grad(activations.softplus)), (0, None))(xs, beta)
        sigma = stats.logistic.cdf(beta * np.asarray(xs))
        np.testing.assert_allclose(np.asarray(curvature), beta * sigma * (1 - sigma), rtol=1e-10)
        assert float(jax.grad(activations.softplus, argnums=1)(jnp.float64(1.0), jnp.inf)) == 0.0


@pytest.mark.parametrize("family", ["softplus", "gauss"])
def test_extreme_beta_x_is_finite_with_finite_gradients(family):
    act = activations.get(family)
    xs = jnp.asarray([-1e4, -1.0, 0.0, 1.0, 1e4], jnp.float32)
    for beta in (1e-4, 1.0, 1e4, math.inf):
        values = act(xs, beta)
        grads = jax.vmap(jax.grad(lambda x: act(x, beta)))(xs)
        assert np.isfinite(np.asarray(values)).all(), (family, beta)
        assert np.isfinite(np.asarray(grads)).all(), (family, beta)


@pytest.mark.parametrize("family", ["softplus", "gauss"])
def test_large_beta_approaches_relu(family):
    act = activations.get(family)
    xs = jnp.linspace(-2, 2, 41)
    relu = np.maximum(np.asarray(xs), 0)
    betas = (1.0, 10.0, 100.0)
    errors = [np.abs(np.asarray(act(xs, beta)) - relu).max() for beta in betas]
    # The largest gap is at x = 0: log 2 / β for softplus, 1 / √(2πβ) for gauss.
    gap_at_zero = {"softplus": lambda b: math.log(2) / b, "gauss": lambda b: 1 / math.sqrt(2 * math.pi * b)}[family]
    np.testing.assert_allclose(errors, [gap_at_zero(b) for b in betas], rtol=1e-5)
    np.testing.assert_array_equal(np.asarray(act(xs, math.inf)), relu)


def test_gelu_is_x_times_normal_cdf():
    xs = np.linspace(-4, 4, 17)
    np.testing.assert_allclose(np.asarray(activations.gelu(jnp.asarray(xs, jnp.float32))),
                               xs * stats.norm.cdf(xs), rtol=1e-5, atol=1e-6)


def test_beta_can_be_traced_and_vmapped():
    betas = jnp.asarray([0.5, 2.0, math.inf])
    out = jax.vmap(lambda b: activations.softplus(jnp.asarray([1.0, -1.0]), b))(betas)
    np.testing.assert_allclose(np.asarray(out[2]), [1.0, 0.0])
    np.testing.assert_allclose(np.asarray(out[0]), np.log1p(np.exp(0.5 * np.array([1.0, -1.0]))) / 0.5, rtol=1e-6)


@pytest.mark.parametrize("text,expected", [("2.5", 2.5), ("relu", math.inf), ("inf", math.inf), ("1e-3", 1e-3)])
def test_parse_beta_accepts(text, expected):
    assert activations.parse_beta(text) == expected


@pytest.mark.parametrize("text", ["0", "-1", "nan", "abc", ""])
def test_parse_beta_rejects(text):
    with pytest.raises(ValueError, match="β must be"):
        activations.parse_beta(text)


def test_logistic_matched_precision_matches_logistic_variance():
    beta = 4.0
    variance = stats.logistic(scale=1 / beta).var()
    assert activations.logistic_matched_precision(beta) == pytest.approx(1 / variance, rel=1e-12)
