"""Spectral metrics against closed forms, known spectra and independent NumPy/SciPy implementations."""

import subprocess
import sys
import textwrap

import jax
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


def test_batched_maps_equal_per_map_results():
    maps = np.random.default_rng(4).normal(size=(3, 10, 13)).astype(np.float32)
    batched = np.asarray(spectral.expected_frequency(jnp.asarray(maps)))
    assert batched.shape == (3,)
    for i in range(3):
        assert batched[i] == pytest.approx(float(spectral.expected_frequency(jnp.asarray(maps[i]))), rel=1e-5)


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


def numpy_expected_frequency(image: np.ndarray) -> float:
    """Independent reference EF (unit convention) of one raw map."""
    radial = numpy_radial_spectrum(image)
    return float((radial / radial.sum()) @ (np.arange(len(radial)) / (len(radial) - 1)))


def test_captum_nchw_torch_and_pair_hwc_numpy_maps_are_channel_summed():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(7)
    nchw = rng.normal(size=(3, 3, 12, 10))
    summed = nchw.sum(axis=1)
    expected = [numpy_expected_frequency(m) for m in summed]
    captum_like = torch.tensor(nchw, requires_grad=True)   # Captum hands back tensors that require grad
    raw = np.asarray(spectral.expected_frequency(captum_like, rank=False, channel_axis=1))
    np.testing.assert_allclose(raw, expected, rtol=1e-4)
    nhwc = nchw.transpose(0, 2, 3, 1)
    np.testing.assert_allclose(np.asarray(spectral.expected_frequency(nhwc, rank=False, channel_axis=-1)), expected,
                               rtol=1e-4)
    pair_one_map = nhwc[1]   # PAIR's saliency: one (H, W, C) numpy map
    assert float(spectral.expected_frequency(pair_one_map, rank=False, channel_axis=-1)) == pytest.approx(
        expected[1], rel=1e-4)
    ranked = np.asarray(spectral.rank_normalize(captum_like, channel_axis=1))
    np.testing.assert_allclose(ranked[2], rankdata(summed[2].ravel()).reshape(12, 10) / 120, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(spectral.radial_power_spectrum(nhwc, channel_axis=3))[0],
                               numpy_radial_spectrum(summed[0]), rtol=1e-4, atol=1e-3)
    rank_ef = np.asarray(spectral.expected_frequency(captum_like, channel_axis=1))
    np.testing.assert_allclose(np.asarray(spectral.expected_frequency(pair_one_map, channel_axis=-1)), rank_ef[1],
                               rtol=1e-6)


@pytest.mark.parametrize("fn", [spectral.expected_frequency, spectral.radial_power_spectrum, spectral.rank_normalize])
def test_four_d_maps_without_channel_axis_are_refused(fn):
    with pytest.raises(ValueError, match=r"channel_axis= \(1 for Captum's NCHW, -1 for NHWC/PAIR\)"):
        fn(np.zeros((4, 3, 32, 32)))
    with pytest.raises(spectral.MapLayoutError, match="channel_axis=5 does not fit"):
        fn(jnp.zeros((4, 3, 32, 32)), channel_axis=5)
    with pytest.raises(ValueError, match=r"expected one map \(H, W\) or a batch"):
        fn(np.zeros((2, 2, 3, 32, 32)))


def test_numpy_maps_never_import_torch():
    script = textwrap.dedent("""
        import sys
        import numpy as np
        from specxai_jax import spectral
        spectral.expected_frequency(np.ones((2, 8, 8)))
        spectral.expected_frequency(np.ones((2, 3, 8, 8)), channel_axis=1)
        assert "torch" not in sys.modules, "torch was imported"
    """)
    subprocess.run([sys.executable, "-c", script], check=True)


def test_gradient_through_rank_normalization_is_refused():
    maps = jnp.asarray(np.random.default_rng(8).normal(size=(2, 8, 8)), jnp.float32)
    for differentiate in (jax.grad, jax.jacfwd):
        with pytest.raises(spectral.RankGradientError, match="rank=False"):
            differentiate(lambda m: spectral.expected_frequency(m).sum())(maps)
    # Without differentiation the same program still runs under jit and vmap.
    direct = spectral.expected_frequency(maps)
    np.testing.assert_allclose(np.asarray(jax.jit(jax.vmap(spectral.expected_frequency))(maps)), np.asarray(direct),
                               rtol=1e-6)


def test_raw_ef_gradient_matches_finite_differences_in_float64():
    rng = np.random.default_rng(9)
    image = rng.normal(size=(9, 8))
    with jax.enable_x64(True):
        gradient = np.asarray(jax.grad(lambda m: spectral.expected_frequency(m, rank=False))(jnp.asarray(image)))
    assert gradient.dtype == np.float64
    step = 1e-6
    for direction in rng.normal(size=(4, 9, 8)):
        central = (numpy_expected_frequency(image + step * direction)
                   - numpy_expected_frequency(image - step * direction)) / (2 * step)
        assert float((gradient * direction).sum()) == pytest.approx(central, rel=1e-6, abs=1e-9)
