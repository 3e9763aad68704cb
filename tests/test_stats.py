"""specxai_jax.stats against SciPy and closed forms; host-side reports of degenerate values."""

import warnings

import jax.numpy as jnp
import numpy as np
import pytest

from specxai_jax import spectral, stats
from specxai_jax.errors import SpecxaiWarning
from specxai_jax.stats import DEAD_MAP_EF, warn_dead_maps


def test_dead_maps_are_named_and_have_the_documented_ef():
    rng = np.random.default_rng(0)
    maps = rng.standard_normal((3, 4, 8, 8)).astype(np.float32)  # (models, images, H, W)
    maps[1, :2] = 0.0
    maps[2, 3] = 0.0
    counts = np.array([0, 2, 1])
    with pytest.warns(SpecxaiWarning) as caught:
        warn_dead_maps(counts, 4, ["β=1", "β=3", "relu"])
    assert len(caught) == 1
    message = str(caught[0].message)
    assert "β=3 (2/4)" in message and "relu (1/4)" in message and "β=1" not in message
    # a constant (rank-normalized dead) map has all its power at frequency 0
    ef = spectral.expected_frequency(jnp.asarray(maps[1]))
    np.testing.assert_array_equal(np.asarray(ef)[:2], [DEAD_MAP_EF, DEAD_MAP_EF])
    assert np.all(np.asarray(ef)[2:] > 0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warn_dead_maps(np.zeros(3, int), 4)


def test_spearman_and_average_ranks_match_scipy():
    from scipy.stats import rankdata, spearmanr

    rng = np.random.default_rng(0)
    for _ in range(20):
        x = rng.integers(0, 5, size=12).astype(float)          # many ties
        x[rng.integers(0, 12)] = np.inf                         # β = relu ranks highest
        y = rng.normal(size=12).round(1)
        np.testing.assert_allclose(stats.average_ranks(x), rankdata(x, method="average"))
        assert stats.spearman(x, y) == pytest.approx(spearmanr(x, y).statistic, abs=1e-12)
    assert stats.spearman([1, 2, 3, 10], [0.3, 0.2, 0.1, 0.0]) == pytest.approx(-1.0)
    assert np.isnan(stats.spearman([1, 2, 3], [5, 5, 5]))            # constant: no ρ
    assert np.isnan(stats.spearman([1, 2, np.nan], [1, 2, 3]))


def test_bootstrap_interval_matches_scipy_percentile_bootstrap_and_covers_the_truth():
    from scipy.stats import bootstrap

    rng = np.random.default_rng(1)
    x = rng.normal(2.0, 1.0, 400)
    low, high = stats.bootstrap_interval(np.mean, x, n_boot=2000)
    ref = bootstrap((x,), np.mean, n_resamples=2000, method="percentile", random_state=0).confidence_interval
    assert low == pytest.approx(ref.low, abs=0.03) and high == pytest.approx(ref.high, abs=0.03)
    half = 1.96 / np.sqrt(400)  # the normal interval of a mean of unit-variance draws
    assert high - low == pytest.approx(2 * half, rel=0.15) and low < 2.0 < high
    # paired resampling: ρ of perfectly monotone pairs stays 1 in every draw
    assert stats.bootstrap_interval(stats.spearman, np.arange(10), np.arange(10) ** 3) == pytest.approx((1.0, 1.0))
    with pytest.raises(ValueError, match="different lengths"):
        stats.bootstrap_interval(stats.spearman, [1, 2, 3], [1, 2])


def test_seed_mean_matches_scipy_t_interval():
    from scipy import stats as scipy_stats

    values = [0.31, 0.35, 0.29, 0.40]
    result = stats.seed_mean(values)
    low, high = scipy_stats.t.interval(0.95, len(values) - 1, loc=np.mean(values), scale=scipy_stats.sem(values))
    assert (result.mean, result.n) == (pytest.approx(np.mean(values)), 4)
    assert result.std == pytest.approx(np.std(values, ddof=1))
    assert (result.low, result.high) == (pytest.approx(low), pytest.approx(high))
    single = stats.seed_mean([0.5])
    assert (single.mean, single.n) == (0.5, 1) and np.isnan(single.std) and np.isnan(single.low)
    with pytest.raises(ValueError):
        stats.seed_mean([])


def test_weights_finite_ignores_constants_only():
    good = {"params": {"w": np.ones(3)}, "constants": {"beta": np.inf}}
    assert stats.weights_finite(good)
    assert not stats.weights_finite({**good, "params": {"w": np.array([1.0, np.nan])}})
    assert not stats.weights_finite({**good, "batch_stats": {"mean": np.array([np.inf])}})


def test_t_half_width_matches_scipy_elementwise_and_is_nan_for_one_value():
    from scipy import stats as scipy_stats

    samples = np.random.default_rng(4).normal(size=(5, 3))
    std = samples.std(axis=0, ddof=1)
    expected = [scipy_stats.t.interval(0.9, 4, loc=0, scale=s / np.sqrt(5))[1] for s in std]
    np.testing.assert_allclose(stats.t_half_width(std, 5, level=0.9), expected, rtol=1e-10)
    assert np.isnan(stats.t_half_width(1.0, 1))
