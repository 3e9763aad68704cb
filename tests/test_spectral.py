"""Spectral metrics against closed forms, known spectra and independent NumPy/SciPy implementations."""

import jax.numpy as jnp
import numpy as np
import pytest
from scipy.stats import rankdata

from specxai_jax import spectral


def numpy_radial_spectrum(image: np.ndarray) -> np.ndarray:
    """Independent reference: shifted |FFT|² averaged with np.bincount over integer radii."""
    height, width = image.shape
    power = np.abs(np.fft.fftshift(np.fft.fft2(image))) ** 2
    yy, xx = np.indices((height, width))
    radius = np.floor(np.hypot(yy - height // 2, xx - width // 2)).astype(int).ravel()
    return np.bincount(radius, power.ravel()) / np.bincount(radius)


@pytest.mark.parametrize("shape", [(8, 8), (7, 10), (15, 9), (32, 32)])
def test_radial_spectrum_matches_numpy_bincount(shape):
    image = np.random.default_rng(0).normal(size=shape)
    ours = np.asarray(spectral.radial_power_spectrum(jnp.asarray(image, jnp.float32)))
    np.testing.assert_allclose(ours, numpy_radial_spectrum(image), rtol=1e-4, atol=1e-3)


def test_constant_map_has_only_dc_power_and_zero_ef():
    height, width, value = 12, 9, 0.7
    radial = np.asarray(spectral.radial_power_spectrum(jnp.full((height, width), value)))
    assert radial[0] == pytest.approx((value * height * width) ** 2, rel=1e-5)
    np.testing.assert_allclose(radial[1:], 0.0, atol=1e-6)
    assert float(spectral.expected_frequency(jnp.full((height, width), value), rank=False)) == pytest.approx(0.0, abs=1e-7)
    # Rank normalization of a constant map is a constant (all ties): still EF 0, no NaN.
    assert float(spectral.expected_frequency(jnp.full((height, width), value))) == pytest.approx(0.0, abs=1e-7)


def test_single_impulse_has_flat_spectrum_and_ef_one_half():
    impulse = np.zeros((16, 16), np.float32)
    impulse[3, 11] = 1.0
    radial = np.asarray(spectral.radial_power_spectrum(jnp.asarray(impulse)))
    np.testing.assert_allclose(radial, 1.0, rtol=1e-5)
    # p uniform over K bins → EF = mean_k k/(K−1) = 1/2.
    assert float(spectral.expected_frequency(jnp.asarray(impulse), rank=False)) == pytest.approx(0.5, rel=1e-5)
    num_bins = radial.shape[0]
    authors = float(spectral.expected_frequency(jnp.asarray(impulse), rank=False, convention="authors"))
    assert authors == pytest.approx(0.5 / num_bins, rel=1e-5)


def test_white_noise_spectrum_is_flat_at_its_variance():
    rng = np.random.default_rng(1)
    sigma, height, width = 2.0, 24, 24
    noise = rng.normal(scale=sigma, size=(400, height, width)).astype(np.float32)
    mean_radial = np.asarray(spectral.radial_power_spectrum(jnp.asarray(noise))).mean(axis=0)
    # E|FFT|² = σ² H W at every frequency (Parseval on i.i.d. noise).
    np.testing.assert_allclose(mean_radial, sigma**2 * height * width, rtol=0.12)


def test_cosine_grating_puts_all_power_at_its_radius():
    height, width, cycles = 20, 20, 5
    grating = np.cos(2 * np.pi * cycles * np.arange(width) / width)[None, :].repeat(height, axis=0)
    radial = np.asarray(spectral.radial_power_spectrum(jnp.asarray(grating, jnp.float32)))
    radius = spectral.radius_bins(height, width)
    pixels_at_radius = int((radius == cycles).sum())
    # Two peaks of |H W / 2|² at (0, ±cycles) share the bin with its other pixels.
    expected = 2 * (height * width / 2) ** 2 / pixels_at_radius
    assert radial[cycles] == pytest.approx(expected, rel=1e-4)
    others = np.delete(radial, cycles)
    assert others.max() < 1e-6 * expected


def test_rank_normalize_matches_scipy_average_ranks_with_ties():
    rng = np.random.default_rng(2)
    maps = rng.integers(0, 5, size=(3, 7, 6)).astype(np.float32)  # many ties
    ours = np.asarray(spectral.rank_normalize(jnp.asarray(maps)))
    for one_map, one_ours in zip(maps, ours):
        expected = rankdata(one_map.ravel(), method="average").reshape(one_map.shape) / one_map.size
        np.testing.assert_allclose(one_ours, expected, rtol=1e-6)


@pytest.mark.parametrize("count", [1, 2, 5, 64, 100, 784])
def test_sort_with_positions_is_a_stable_argsort(count):
    rng = np.random.default_rng(count)
    flat = np.concatenate([rng.integers(0, 4, size=(2, count)), rng.normal(size=(1, count))]).astype(np.float32)
    flat[1, : count // 2] = np.inf
    values, positions = spectral.sort_with_positions(jnp.asarray(flat))
    expected = np.argsort(flat, axis=1, kind="stable")
    np.testing.assert_array_equal(np.asarray(positions), expected)
    np.testing.assert_array_equal(np.asarray(values), np.take_along_axis(flat, expected, axis=1))


def test_rank_normalize_with_ties_matches_scipy():
    rng = np.random.default_rng(6)
    maps = np.concatenate([rng.integers(0, 4, size=(2, 5, 7)), rng.normal(size=(1, 5, 7))]).astype(np.float32)
    ours = np.asarray(spectral.rank_normalize(jnp.asarray(maps)))
    expected = np.stack([rankdata(m.ravel(), method="average").reshape(m.shape) / m.size for m in maps])
    np.testing.assert_allclose(ours, expected, rtol=1e-6)


def test_rank_normalize_is_invariant_to_monotone_maps():
    maps = np.random.default_rng(3).normal(size=(9, 11)).astype(np.float32)
    direct = spectral.rank_normalize(jnp.asarray(maps))
    transformed = spectral.rank_normalize(jnp.asarray(np.exp(3 * maps) + 5))
    np.testing.assert_allclose(np.asarray(direct), np.asarray(transformed), rtol=1e-6)


def test_batched_leading_axes_equal_per_map_results():
    maps = np.random.default_rng(4).normal(size=(2, 3, 10, 13)).astype(np.float32)
    batched = np.asarray(spectral.expected_frequency(jnp.asarray(maps)))
    assert batched.shape == (2, 3)
    for i in range(2):
        for j in range(3):
            single = float(spectral.expected_frequency(jnp.asarray(maps[i, j])))
            assert batched[i, j] == pytest.approx(single, rel=1e-5)


def test_smooth_maps_have_lower_ef_than_rough_maps():
    rng = np.random.default_rng(5)
    rough = rng.normal(size=(32, 32))
    kernel = np.exp(-0.5 * (np.arange(-6, 7) / 2.0) ** 2)
    smooth = np.apply_along_axis(lambda r: np.convolve(r, kernel, "same"), 0, rough)
    smooth = np.apply_along_axis(lambda r: np.convolve(r, kernel, "same"), 1, smooth)
    ef = np.asarray(spectral.expected_frequency(jnp.asarray(np.stack([smooth, rough]), jnp.float32)))
    assert ef[0] < ef[1]


def test_all_zero_map_gives_zero_ef_without_nan():
    zeros = jnp.zeros((2, 8, 8))
    ef = np.asarray(spectral.expected_frequency(zeros, rank=False))
    np.testing.assert_array_equal(ef, 0.0)


def test_unknown_convention_is_rejected():
    with pytest.raises(ValueError, match="convention"):
        spectral.expected_frequency(jnp.ones((4, 4)), convention="per-pixel")
