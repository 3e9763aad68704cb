"""Analytic NNGP/NTK: closed forms against neural-tangents and against quadrature of the activations."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import integrate, special, stats

from specxai_jax.ntk import analytic
from specxai_jax.ops import activations

stax = analytic.stax
COSINES = np.linspace(-1.0, 1.0, 9)


def numerical_layer(activation, beta, degree):
    """neural-tangents' own Gauss–Hermite activation layer (independent of our duals)."""
    return stax.ElementwiseNumerical(analytic.activation_fn(activation, beta), deg=degree)


@pytest.mark.parametrize("depth", [1, 2, pytest.param(3, marks=pytest.mark.slow)])
@pytest.mark.parametrize("activation", ["relu", "erf", "gelu"])
def test_matches_neural_tangents_builtin_layers(activation, depth):
    ours = analytic.dot_product_kernels(COSINES, depth=depth, activation=activation)
    theirs = analytic.stax_dot_product_kernels(COSINES, depth=depth, activation=activation)
    tolerance = 1e-7 if activation == "gelu" else 1e-12  # gelu: our side is a quadrature
    np.testing.assert_allclose(ours[0], theirs[0], atol=tolerance)
    np.testing.assert_allclose(ours[1], theirs[1], atol=tolerance)


@pytest.mark.parametrize("activation,beta", [pytest.param("gauss", 0.5, marks=pytest.mark.slow), ("softplus", 2.0)])
def test_smoothed_relu_matches_neural_tangents_numerical_layer(activation, beta):
    ours = analytic.dot_product_kernels(COSINES, depth=2, activation=activation, beta=beta)
    theirs = analytic.stax_dot_product_kernels(
        COSINES, depth=2, activation=activation, beta=beta, act_layer=numerical_layer(activation, beta, 80)
    )
    np.testing.assert_allclose(ours[0], theirs[0], atol=2e-8)
    np.testing.assert_allclose(ours[1], theirs[1], atol=2e-8)


@pytest.mark.parametrize("activation,beta", [("gauss", 4.0), ("softplus", 3.0), ("gauss", math.inf)])
def test_our_stax_layers_give_the_dot_product_recursion(activation, beta):
    ours = analytic.dot_product_kernels(COSINES, depth=3, activation=activation, beta=beta)
    theirs = analytic.stax_dot_product_kernels(COSINES, depth=3, activation=activation, beta=beta)
    np.testing.assert_allclose(ours, theirs, atol=1e-12)


@pytest.mark.slow  # neural-tangents' conv kernels compile slowly (~20 s) on CPU
@pytest.mark.parametrize("activation,beta", [("gauss", 0.7), ("softplus", 0.7)])
def test_conv_net_kernel_with_our_duals_matches_numerical_layer(activation, beta):
    x = np.asarray(np.random.default_rng(0).uniform(size=(2, 4, 4, 1)))
    with jax.enable_x64(True):
        ours = analytic.stax_plain_cnn(depth=1, activation=activation, beta=beta)[2](x, None, ("nngp", "ntk"))
        theirs = analytic.stax_plain_cnn(depth=1, activation=activation, beta=beta,
                                         act_layer=numerical_layer(activation, beta, 50))[2](x, None, ("nngp", "ntk"))
        np.testing.assert_allclose(np.asarray(ours.ntk), np.asarray(theirs.ntk), rtol=1e-7)
        np.testing.assert_allclose(np.asarray(ours.nngp), np.asarray(theirs.nngp), rtol=1e-7)
    assert np.linalg.eigvalsh(np.asarray(ours.ntk)).min() > 0


def gaussian_quad(fn, variance):
    """E[fn(u)], u ~ N(0, variance), by adaptive quadrature."""
    value, _ = integrate.quad(lambda u: fn(u) * stats.norm.pdf(u, scale=math.sqrt(variance)), -np.inf, np.inf,
                              limit=400, epsabs=1e-13, epsrel=1e-12)
    return value


def scalar_activation(activation, beta):
    """(φ, φ′) in plain float arithmetic, written from the definitions (not from the code under test)."""
    if activation == "gauss":
        root = math.sqrt(beta)
        return (lambda u: u * stats.norm.cdf(u * root) + stats.norm.pdf(u * root) / root,
                lambda u: stats.norm.cdf(u * root))
    return lambda u: np.logaddexp(0.0, beta * u) / beta, lambda u: special.expit(beta * u)


@pytest.mark.parametrize("activation,beta,variance",
                         [("gauss", 0.3, 1.0), ("gauss", 20.0, 0.4), ("softplus", 0.7, 0.4), ("softplus", 50.0, 1.0)])
def test_diagonal_matches_one_dimensional_quadrature(activation, beta, variance):
    phi, dphi = scalar_activation(activation, beta)
    expected = gaussian_quad(lambda u: phi(u) ** 2, variance)
    expected_d = gaussian_quad(lambda u: dphi(u) ** 2, variance)
    duals = analytic.duals(activation, beta)
    with jax.enable_x64(True):
        got = float(duals.nngp(variance, variance, variance))
        got_d = float(duals.d_nngp(variance, variance, variance))
    np.testing.assert_allclose(got, expected, rtol=5e-8)
    np.testing.assert_allclose(got_d, expected_d, rtol=5e-8)


def test_diagonal_is_not_that_of_one_shared_smoothing():
    """E[φ(u)²] ≠ E[ReLU(u + n)²]: each factor carries its own noise (correlation < 1 on the diagonal)."""
    precision, variance = 1.0, 1.0
    ours = float(analytic.gauss_duals(precision).nngp(variance, variance, variance))
    shared = (variance + 1 / precision) / 2  # E[ReLU(w)²] for w ~ N(0, σ² + 1/p)
    assert ours < shared - 0.05


@pytest.mark.parametrize("beta", [0.5, 4.0, 60.0])
def test_logistic_scale_mixture_reproduces_softplus(beta):
    sigma, weight = analytic.logistic_scale_mixture(beta)
    x = np.linspace(-3, 3, 13)
    with jax.enable_x64(True):
        mixed = sum(w * np.asarray(activations.gauss(jnp.asarray(x), 1 / s**2)) for s, w in zip(sigma, weight))
        softplus = np.asarray(activations.softplus(jnp.asarray(x), beta))
    np.testing.assert_allclose(mixed, softplus, atol=1e-8 / beta)
    np.testing.assert_allclose(np.sum(weight * sigma**2), math.pi**2 / (3 * beta**2), rtol=1e-8)


@pytest.mark.parametrize("activation,beta", [("gauss", 1.0), ("softplus", 1.5), ("gelu", math.inf)])
def test_cross_terms_match_two_dimensional_quadrature(activation, beta):
    phi = analytic.activation_fn(activation, beta)
    quadrature = analytic.gauss_hermite_duals(phi, analytic.elementwise_derivative(phi), degree=160)
    ours = analytic.dot_product_kernels(COSINES, depth=2, activation=activation, beta=beta)
    reference = analytic.dot_product_kernels(COSINES, depth=2, activation=activation, kernel_duals=quadrature)
    np.testing.assert_allclose(ours, reference, atol=2e-8)


@pytest.mark.parametrize("activation,decades", [("gauss", 2), ("softplus", 1)])
def test_large_beta_approaches_relu_like_the_smoothing_width(activation, decades):
    """The NTK error scales like the smoothing's standard deviation: 1/√p for gauss, 1/β for SoftPlus."""
    relu = analytic.dot_product_ntk(COSINES, depth=2, activation="relu")
    betas = [10.0 ** (2 + decades * i) for i in range(3)]
    errors = [np.abs(analytic.dot_product_ntk(COSINES, depth=2, activation=activation, beta=b) - relu).max()
              for b in betas]
    ratios = np.array(errors[:-1]) / np.array(errors[1:])
    np.testing.assert_allclose(ratios, 10.0, rtol=0.3)


def test_depth_one_relu_ntk_closed_form():
    """Θ(c) = (sin θ + (π − θ) c)/(2π) + c (π − θ)/(2π), θ = arccos c (Jacot et al.; arc-cosine kernels)."""
    theta = np.arccos(COSINES)
    expected = (np.sin(theta) + (np.pi - theta) * COSINES) / (2 * np.pi) + COSINES * (np.pi - theta) / (2 * np.pi)
    np.testing.assert_allclose(analytic.dot_product_ntk(COSINES, depth=1, activation="relu"), expected, atol=1e-14)


def test_unknown_activation_is_rejected():
    with pytest.raises(ValueError, match="unknown activation"):
        analytic.dot_product_ntk(COSINES, depth=1, activation="tanh")
