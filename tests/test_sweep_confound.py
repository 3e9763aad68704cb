"""Training-length controls of the sweep's main claim, and raw EF beside rank EF.

The partial correlation is checked against least-squares residuals of the ranks (NumPy) and against a known
answer (EF driven by epochs only); the report against synthetic rows whose capped ρ is an artefact of epochs;
the device pipeline's raw EF against a NumPy FFT of the same maps.
"""

from __future__ import annotations

import dataclasses
import math

import jax
import numpy as np
import pytest
from scipy.stats import rankdata, spearmanr

from specxai_jax.configs import SweepConfig
from specxai_jax.results import ModelResult, columns
from specxai_jax.sweep import confound
from specxai_jax.sweep import report as sweep_report


def residual_partial(x, y, z):
    """Pearson correlation of the residuals of rank(x) and rank(y) after a least-squares fit on [1, rank(z)]."""
    rx, ry, rz = (rankdata(v) for v in (x, y, z))
    design = np.column_stack([np.ones_like(rz), rz])
    residual = [r - design @ np.linalg.lstsq(design, r, rcond=None)[0] for r in (rx, ry)]
    return float(np.corrcoef(*residual)[0, 1])


@pytest.mark.parametrize("seed", range(5))
def test_partial_spearman_matches_residuals_of_ranks(seed):
    rng = np.random.default_rng(seed)
    z = rng.integers(0, 6, 40)  # ties, as in epoch counts
    x = z + rng.normal(size=40)
    y = -z + 0.5 * x + rng.normal(size=40)
    assert confound.partial_spearman(x, y, z) == pytest.approx(residual_partial(x, y, z), abs=1e-12)


def test_partial_spearman_is_zero_when_epochs_drive_both():
    rng = np.random.default_rng(0)
    epochs = rng.normal(size=4000)
    beta = np.exp(-epochs + 0.5 * rng.normal(size=4000))   # long training ⇔ small β
    ef = -epochs + 0.5 * rng.normal(size=4000)              # EF depends on epochs only
    assert spearmanr(beta, ef).statistic > 0.6
    assert abs(confound.partial_spearman(ef, beta, epochs)) < 0.05


def test_partial_spearman_undefined_cases():
    assert math.isnan(confound.partial_spearman([1, 2, 3], [3, 1, 2], [5, 5, 5]))  # epochs constant
    assert math.isnan(confound.partial_spearman([1, 2, 3], [3, 1, 2], [1, 2, 3]))  # x fixed by z
    assert math.isnan(confound.partial_spearman([1, 2, math.nan], [3, 1, 2], [1, 3, 2]))


@pytest.mark.parametrize("low, high, holds", [(0.1, 0.9, True), (-0.9, -0.2, False), (-0.2, 0.6, None)])
def test_verdict_follows_the_interval(low, high, holds):
    assert confound.Correlation(0.5, low, high, 11).holds is holds


def row(beta, ef, epochs, *, seed=0, reached_cap=True):
    result = ModelResult(activation="softplus", beta=beta, seed=seed, test_accuracy=0.9, epochs=epochs, ef=ef,
                         ef_std=0.01, ef_ref=ef / 23, n_images=16, train_seconds=1.0, reached_cap=reached_cap,
                         dead_maps=0, diverged=False, store_key=f"k{beta}-{seed}", score="log_prob", ef_raw=ef / 2,
                         ef_penalty=0.0)
    return {**dataclasses.asdict(result), "spectrum": np.full(23, 1 / 23)}


BETAS = (0.5, 1.0, 2.0, 3.0, 5.0, 7.0, 10.0, 20.0, 50.0, 100.0, math.inf)


def confounded_rows():
    """Capped models whose EF follows their epochs (fewer epochs at high β), and matched-epoch models whose
    EF does not depend on β."""
    rng = np.random.default_rng(1)
    capped, matched = [], []
    for seed in range(3):
        for i, beta in enumerate(BETAS):
            epochs = 20 - i - int(rng.integers(0, 2))
            capped.append(row(beta, 0.3 - 0.005 * epochs + 0.001 * rng.normal(), epochs, seed=seed))
            matched.append(row(beta, 0.3 + 0.01 * rng.normal(), 10, seed=seed, reached_cap=False))
    return capped, matched


def test_report_says_when_the_controls_disagree():
    capped, matched = confounded_rows()
    config = SweepConfig(matched_epochs=10, betas=BETAS, seeds=(0, 1, 2))
    control = sweep_report.confound_control(capped, config, matched)
    assert control.capped.holds is True and control.capped.value > 0.9
    assert control.matched.holds is None and control.matched.low < 0 < control.matched.high
    expected = spearmanr([r["beta"] for r in matched], [r["ef"] for r in matched]).statistic
    assert control.matched.value == pytest.approx(expected)
    checks = sweep_report.checks(capped, config, matched)
    matched_check = next(c for c in checks if "matched training length" in c.claim)
    assert matched_check.holds is None and matched_check.interval[0] < 0 < matched_check.interval[1]
    report = sweep_report.report_markdown(capped, config, checks, matched)
    assert "The controls disagree with the capped ρ" in report
    assert "## Models at matched training length (10 epochs, no cap)" in report
    assert "EF (raw)" in report and "EF (rank)" in report
    assert all(line.count("|") == 4 for line in report.splitlines() if line.startswith("| EF rises"))


def test_report_says_when_the_controls_agree():
    rng = np.random.default_rng(2)
    capped = [row(beta, 0.1 + 0.02 * i + 0.001 * rng.normal(), int(rng.integers(3, 9)), seed=s)
              for s in range(3) for i, beta in enumerate(BETAS)]
    matched = [row(beta, 0.1 + 0.02 * i + 0.001 * rng.normal(), 10, seed=s, reached_cap=False)
               for s in range(3) for i, beta in enumerate(BETAS)]
    config = SweepConfig(matched_epochs=10, betas=BETAS, seeds=(0, 1, 2))
    control = sweep_report.confound_control(capped, config, matched)
    assert (control.capped.holds, control.matched.holds, control.partial.holds) == (True, True, True)
    assert control.disagreement() is None
    report = sweep_report.report_markdown(capped, config, sweep_report.checks(capped, config, matched), matched)
    assert "The controls agree with the capped ρ" in report


def test_without_a_matched_run_the_report_says_how_to_run_it_and_claims_nothing():
    rng = np.random.default_rng(3)
    capped = [row(beta, 0.1 + 0.02 * i + 0.001 * rng.normal(), int(rng.integers(3, 9)), seed=s)
              for s in range(2) for i, beta in enumerate(BETAS)]
    config = SweepConfig(betas=BETAS, seeds=(0, 1))
    checks = sweep_report.checks(capped, config)
    assert not [c for c in checks if "matched training length" in c.claim]   # nothing computed, nothing claimed
    report = sweep_report.report_markdown(capped, config, checks, None)
    assert "No matched-epoch models were trained (`--matched-epochs N` trains them)." in report


def test_results_csv_has_raw_ef_last():
    assert columns(ModelResult)[-2] == "ef_raw" and columns(ModelResult)[5] == "ef"


def numpy_raw_ef(maps):
    """EF of each (H, W) map without rank normalization: |FFT|² averaged per integer radius from (H//2, W//2),
    normalized to sum 1, weighted by k/(K−1)."""
    height, width = maps.shape[1:]
    power = np.abs(np.fft.fftshift(np.fft.fft2(maps.astype(np.float64)), axes=(-2, -1))) ** 2
    radius = np.floor(np.hypot(*np.meshgrid(np.arange(height) - height // 2, np.arange(width) - width // 2,
                                            indexing="ij"))).astype(int).ravel()
    radial = np.stack([np.bincount(radius, weights=p.ravel()) / np.bincount(radius) for p in power])
    probs = radial / radial.sum(axis=1, keepdims=True)
    return probs @ (np.arange(probs.shape[1]) / (probs.shape[1] - 1))


def test_pipeline_raw_ef_matches_numpy():
    from specxai_jax.models import init_variables, stack_variables
    from specxai_jax.models.registry import build_model
    from specxai_jax.pipeline import summarize_saliency

    model = build_model("cnn", num_classes=3, activation="softplus", depth=2, width=4, dense=16)
    images = np.random.default_rng(0).uniform(size=(6, 16, 16, 1)).astype(np.float32)
    variables = stack_variables([init_variables(model, jax.random.key(s), b, (1, 16, 16, 1))
                                 for s, b in ((0, 2.0), (1, 20.0))])
    summary = summarize_saliency(model.apply, variables, images, batch_size=4, n_examples=6)
    for index in range(2):
        expected = numpy_raw_ef(summary.examples[index]).mean()
        assert summary.ef_raw_mean[index] == pytest.approx(expected, rel=1e-4)
    assert not np.allclose(summary.ef_raw_mean, summary.ef_mean)  # rank EF is another number


def test_rank_ef_of_a_laplace_map_is_independent_of_its_width_and_raw_ef_is_not():
    """κ′_b(Δ) = −sign(Δ) e^{−|Δ|/b} / b is monotone on each side of Δ = 0, so its ranks, and its rank EF,
    do not depend on b; its raw EF does."""
    from scipy.ndimage import gaussian_filter

    from specxai_jax.spectral import expected_frequency

    delta = gaussian_filter(np.random.default_rng(3).normal(size=(4, 32, 32)), sigma=(0, 2, 2))
    delta /= delta.std()
    maps = {b: -np.sign(delta) * np.exp(-np.abs(delta) / b) / b for b in (0.3, 1.0, 3.0, 10.0)}
    rank = {b: np.asarray(expected_frequency(m.astype(np.float32))) for b, m in maps.items()}
    raw = {b: np.asarray(expected_frequency(m.astype(np.float32), rank=False)) for b, m in maps.items()}
    assert all(np.array_equal(rank[0.3], value) for value in rank.values())
    assert np.all(np.abs(raw[0.3] - raw[10.0]) > 1e-3)


def test_matched_rows_read_back_as_written(tmp_path):
    from specxai_jax.errors import DataError
    from specxai_jax.storage import atomic

    _, matched = confounded_rows()
    atomic.write_csv(tmp_path / sweep_report.MATCHED_FILE, sweep_report.result_rows(matched),
                     sweep_report.RESULT_COLUMNS)
    assert sweep_report.read_matched_rows(tmp_path) == sweep_report.result_rows(matched)
    with pytest.raises(DataError, match="cannot read the matched-epoch models"):
        sweep_report.read_matched_rows(tmp_path / "elsewhere")


def test_full_fig3_trains_and_checks_the_matched_epoch_grid(tmp_path, monkeypatch):
    from specxai_jax import sweep as beta_sweep
    from specxai_jax.reproduction import targets
    from specxai_jax.storage import atomic

    capped, matched = confounded_rows()
    seen = []

    def run(config, out, **options):
        seen.append(config)
        out.mkdir(parents=True, exist_ok=True)
        atomic.write_csv(out / sweep_report.MATCHED_FILE, sweep_report.result_rows(matched),
                         sweep_report.RESULT_COLUMNS)
        return [{**r, "examples": np.zeros((1, 4, 4))} for r in capped]

    monkeypatch.setattr(beta_sweep, "run", run)
    record = targets.reproduce("fig3", tmp_path, quick=False, dataset="synthetic", progress=False)
    assert [config.matched_epochs for config in seen] == [targets.FULL_MATCHED_EPOCHS]
    assert "--matched-epochs 50" in record["runs"][0]["command"]
    (check,) = [c for c in record["checks"] if "matched training length" in c["claim"]]
    assert check["holds"] is None and check["interval"][0] < 0 < check["interval"][1]
