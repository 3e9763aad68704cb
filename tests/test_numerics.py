"""Host-side reports of degenerate values: one warning per call, naming what it found."""

import warnings

import jax.numpy as jnp
import numpy as np
import pytest

from specxai_jax import spectral, stats
from specxai_jax.errors import SpecxaiWarning
from specxai_jax.stats import DEAD_MAP_EF, check_finite, dead_map_counts, warn_dead_maps


def test_check_finite_reports_once_and_replaces_only_when_asked():
    values = np.array([0.1, np.nan, np.inf, -np.inf, 0.3])
    with pytest.warns(SpecxaiWarning, match=r"ef: 3 of 5 values are not finite \(1 NaN, 2 inf\); kept") as caught:
        kept = check_finite("ef", values)
    assert len(caught) == 1
    np.testing.assert_array_equal(kept, values)
    with pytest.warns(SpecxaiWarning, match="replaced by 0.0"):
        replaced = check_finite("ef", values, replacement=0.0)
    np.testing.assert_array_equal(replaced, [0.1, 0.0, 0.0, 0.0, 0.3])
    assert np.isnan(values[1])  # the caller's array is untouched
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_array_equal(check_finite("loss", [1.0, 2.0]), [1.0, 2.0])


def test_dead_maps_are_counted_named_and_have_the_documented_ef():
    rng = np.random.default_rng(0)
    maps = rng.standard_normal((3, 4, 8, 8)).astype(np.float32)  # (models, images, H, W)
    maps[1, :2] = 0.0
    maps[2, 3] = 0.0
    counts = dead_map_counts(maps)
    np.testing.assert_array_equal(counts, [0, 2, 1])
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
