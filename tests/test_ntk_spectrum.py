"""Spectra: Funk–Hecke eigenvalues against closed forms and Gram matrices; decay fits on known sequences."""

import math

import numpy as np
import pytest
from scipy import special

from specxai_jax.ntk import analytic, spectrum


@pytest.mark.parametrize("dim", [3, 4, 6])
def test_multiplicities_count_polynomials_on_the_sphere(dim):
    """Σ_{k≤K} N(d, k) = dim of polynomials of degree ≤ K on S^{d−1} = C(K+d−1, d−1) + C(K+d−2, d−1)."""
    K = 7
    total = spectrum.harmonic_multiplicity(dim, np.arange(K + 1)).sum()
    assert total == special.comb(K + dim - 1, dim - 1) + special.comb(K + dim - 2, dim - 1)


@pytest.mark.parametrize("dim", [3, 5, 10])
def test_sphere_quadrature_is_a_probability_with_the_right_second_moment(dim):
    t, w = spectrum.sphere_quadrature(dim, 50)
    np.testing.assert_allclose(w.sum(), 1.0, rtol=1e-13)
    np.testing.assert_allclose(np.dot(w, t**2), 1.0 / dim, rtol=1e-13)  # E[x₁²] = 1/d on S^{d−1}


def test_exponential_kernel_on_s2_has_spherical_bessel_eigenvalues():
    """On S², μ_k of exp(⟨x, x′⟩) is ½∫ eᵗ P_k(t) dt = i_k(1), the modified spherical Bessel function."""
    mu = spectrum.mercer_eigenvalues(np.exp, 3, 12, nodes=60)
    np.testing.assert_allclose(mu, special.spherical_in(np.arange(13), 1.0), rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("dim", [3, 5])
def test_addition_theorem_reconstructs_the_kernel(dim):
    kappa = lambda t: analytic.dot_product_ntk(t, depth=2, activation="softplus", beta=1.0)  # noqa: E731
    K = 40
    mu = spectrum.mercer_eigenvalues(kappa, dim, K, nodes=400)
    t = np.linspace(-1, 1, 11)
    series = sum(spectrum.harmonic_multiplicity(dim, k) * mu[k] * spectrum.legendre_sphere(k, dim, t)
                 for k in range(K + 1))
    np.testing.assert_allclose(series, kappa(t), atol=1e-8)


def test_gram_spectrum_of_many_sphere_points_approaches_mercer():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1500, 3))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    gram = spectrum.gram_eigenvalues(np.exp(x @ x.T)) / len(x)
    mu = spectrum.mercer_eigenvalues(np.exp, 3, 3)
    expected = np.repeat(mu, spectrum.harmonic_multiplicity(3, np.arange(4)).astype(int))  # 1, 3, 5, 7 copies
    np.testing.assert_allclose(gram[:9], expected[:9], rtol=0.12)


def test_gram_eigenvalues_are_descending_and_complete():
    a = np.random.default_rng(1).standard_normal((6, 6))
    matrix = a @ a.T
    eig = spectrum.gram_eigenvalues(matrix)
    assert np.all(np.diff(eig) <= 0)
    np.testing.assert_allclose(eig.sum(), np.trace(matrix))


def test_fit_recovers_power_law_and_geometric_rate():
    k = np.arange(60)
    power = spectrum.fit_decay(3.0 * np.maximum(k, 1) ** -2.5)
    assert power.exponent == pytest.approx(2.5, abs=1e-10)
    assert power.exponent_residual < 1e-10 < power.rate_residual
    geometric = spectrum.fit_decay(2.0 * 0.7**k)
    assert geometric.rate == pytest.approx(0.7, abs=1e-10)
    assert geometric.rate_residual < 1e-10 < geometric.exponent_residual


def test_fit_uncertainty_covers_the_truth_under_noise():
    rng = np.random.default_rng(3)
    k = np.arange(1, 80)
    fit = spectrum.fit_decay(k**-3.0 * np.exp(0.2 * rng.standard_normal(k.size)), k)
    assert fit.exponent_stderr > 0
    assert abs(fit.exponent - 3.0) < 4 * fit.exponent_stderr


def test_fit_refuses_too_few_points():
    with pytest.raises(ValueError, match="above the floor"):
        spectrum.fit_decay(np.array([1.0, 1e-20, 1e-21, 1e-22]))


def test_relu_ntk_decays_like_k_to_minus_d_and_smoothed_geometrically():
    """ReLU NTK on S^{d−1}: μ_k ~ k^{−d} (Bietti & Mairal 2019); SoftPlus(1): a geometric law fits better."""
    relu = spectrum.mercer_eigenvalues(lambda t: analytic.dot_product_ntk(t, depth=2, activation="relu"), 3, 60)
    fit = spectrum.fit_decay(relu, first=5)
    assert fit.exponent == pytest.approx(3.0, abs=0.15)
    assert fit.exponent_residual < fit.rate_residual
    smooth = spectrum.mercer_eigenvalues(
        lambda t: analytic.dot_product_ntk(t, depth=2, activation="softplus", beta=1.0), 3, 60)
    smooth_fit = spectrum.fit_decay(smooth)
    assert smooth_fit.rate_residual < smooth_fit.exponent_residual
    assert smooth_fit.rate < fit.rate


def test_tail_fraction():
    assert spectrum.tail_fraction([4.0, 3.0, 2.0, 1.0], start=2) == pytest.approx(0.3)
    assert spectrum.tail_fraction([1.0, 1.0, 1.0], [1, 3, 5], start=1) == pytest.approx(8 / 9)
    assert math.isclose(spectrum.tail_fraction([1.0, -1e-18], start=1), 0.0)
