"""specxai_jax.reproduction.plane: per-seed explanation-gap rows → mean, std and n per (model, method[, σ]); the plane figure."""

from __future__ import annotations

import csv
import dataclasses
import math

import numpy as np
import pytest
from scipy import stats

from specxai_jax.configs import GapConfig
from specxai_jax.gap import GapResult
from specxai_jax.plots import reproduction as repro_plots
from specxai_jax.reproduction import plane, targets


def seed_rows(ef_vanilla: float, ef_smooth: float, gap: float):
    rows = [{"model": "cnn-relu", "method": "vanilla_grad", "ef": ef_vanilla, "delta_ef": 0.0},
            {"model": "cnn-relu", "method": "integrated_gradients", "ef": 0.3, "delta_ef": abs(0.3 - ef_vanilla)},
            {"model": "cnn-relu", "method": "smooth_grad", "ef": 0.25, "delta_ef": abs(0.25 - ef_vanilla)},
            {"model": "cnn-relu", "method": "lrp", "ef": math.nan, "delta_ef": math.nan}]
    sweep = [{"model": "cnn-relu", "method": "smooth_grad", "sigma": 0.1, "ef": ef_smooth,
              "delta_ef": abs(ef_smooth - ef_vanilla), "gap": gap},
             {"model": "cnn-relu", "method": "integrated_gradients", "sigma": math.nan, "ef": 0.3,
              "delta_ef": abs(0.3 - ef_vanilla), "gap": 2 * gap}]
    return rows, sweep


def test_summary_gives_mean_std_and_n_over_seeds_and_skips_undefined_methods(tmp_path):
    table = plane.summarize([seed_rows(0.5, 0.2, 1.0), seed_rows(0.7, 0.3, 3.0)], smooth_sigma=0.15)
    cells = {(r["method"], None if math.isnan(r["sigma"]) else r["sigma"]): r for r in table}
    assert set(cells) == {("vanilla_grad", None), ("integrated_gradients", None), ("smooth_grad", 0.1),
                          ("smooth_grad", 0.15)}
    assert math.isnan(cells[("smooth_grad", 0.15)]["gap"]) and cells[("smooth_grad", 0.15)]["ef"] == pytest.approx(0.25)
    vanilla, smooth, intgrad = cells[("vanilla_grad", None)], cells[("smooth_grad", 0.1)], cells[("integrated_gradients", None)]
    assert vanilla["n"] == 2 and vanilla["ef"] == pytest.approx(0.6) and vanilla["ef_std"] == pytest.approx(np.std([0.5, 0.7], ddof=1))
    assert smooth["gap"] == pytest.approx(2.0) and smooth["delta_ef"] == pytest.approx(0.35)
    assert intgrad["gap"] == pytest.approx(4.0) and math.isnan(vanilla["gap"])
    repro_plots.plane(tmp_path / "fig_plane.png", table)
    assert (tmp_path / "fig_plane.pdf").is_file()
    assert "| cnn-relu | smooth_grad | 0.1 |" in plane.markdown(table)


def test_interval_is_student_t():
    # values 1, 2, 3: mean 2, std 1, t(0.975, 2 dof) = 4.3027 → half-width 4.3027 / √3
    assert repro_plots.mean_interval([1.0, 2.0, 3.0]) == pytest.approx((2.0, 4.302653 / math.sqrt(3)), rel=1e-5)
    assert repro_plots.mean_interval([5.0]) == (5.0, 0.0)


def test_quick_plane_runs_one_gap_config_per_seed(tmp_path, monkeypatch):
    seen = []

    def run(config, out, **options):
        seen.append((config, out))
        rows, sweep = seed_rows(0.5 + 0.1 * config.seed, 0.2, 1.0)
        return GapResult(rows, sweep, img_size=16, gradcam_layers={}, num_classes=10, accuracy={}, checks=[])

    monkeypatch.setattr("specxai_jax.gap.run", run)
    record = targets.reproduce("plane", tmp_path, quick=True, progress=False, data_dir="/data")
    quick = GapConfig(models=("cnn-softplus:2", "cnn-softplus:20", "cnn-relu"), checkpoint_dir=str(tmp_path / "models"),
                      data_dir="/data", img_size=16, n_explain=16, samples=64, ig_steps=16, max_train=1024, max_test=128,
                      lr=2e-3, max_epochs=8, sigmas=(0.05, 0.2, 0.4))
    assert seen == [(dataclasses.replace(quick, seed=seed), tmp_path / f"seed{seed}") for seed in (0, 1)]
    assert [run["dir"] for run in record["runs"]] == ["seed0", "seed1"]
    assert all(" --seed 1 " in run["command"] for run in record["runs"][1:])
    with open(tmp_path / "plane.csv", newline="") as stream:
        (vanilla,) = [row for row in csv.DictReader(stream) if row["method"] == "vanilla_grad"]
    assert vanilla["n"] == "2" and float(vanilla["ef"]) == pytest.approx(0.55)  # mean of the seeds' 0.5 and 0.6


def test_quick_plane_runs_the_given_seeds(tmp_path, monkeypatch):
    seen = []

    def run(config, out, **options):
        seen.append(config.seed)
        return GapResult(*seed_rows(0.5, 0.2, 1.0), img_size=16, gradcam_layers={}, num_classes=10, accuracy={}, checks=[])

    monkeypatch.setattr("specxai_jax.gap.run", run)
    record = targets.reproduce("plane", tmp_path, quick=True, progress=False, seeds=(2, 3))
    assert seen == [2, 3] and record["seeds"] == [2, 3]


@pytest.mark.parametrize("steps,expected", [
    ([[0.1, 0.2], [0.3, 0.05]], True),                 # every seed rises at every step
    ([[0.1, -0.01], [0.3, 0.02]], None),               # one seed dips: the t interval straddles 0
    ([[0.1, -0.30], [0.3, -0.31], [0.2, -0.29]], False),   # a step whose interval lies below 0
])
def test_trend_verdict_is_three_way(steps, expected):
    holds, low, high = plane.trend_verdict(np.array(steps))
    assert holds is expected
    worst = np.array(steps)[:, int(np.argmin(np.mean(steps, axis=0)))]
    half = stats.t.ppf(0.975, len(worst) - 1) * worst.std(ddof=1) / math.sqrt(len(worst))
    assert (low, high) == pytest.approx((worst.mean() - half, worst.mean() + half))


def plane_record(tmp_path, monkeypatch, accuracy: dict) -> dict:
    def run(config, out, **options):
        shift = 0.01 * config.seed
        rows, sweep = seed_rows(0.5 + shift, 0.2, 1.0)
        rows += [{**rows[0], "model": "cnn-softplus:2", "ef": 0.3 + shift}]
        sweep += [{**sweep[0], "sigma": 0.2, "delta_ef": 0.5, "gap": 3.0}]
        return GapResult(rows, sweep, img_size=16, gradcam_layers={}, num_classes=10, accuracy=accuracy, checks=[])

    monkeypatch.setattr("specxai_jax.gap.run", run)
    return targets.reproduce("plane", tmp_path, quick=True, progress=False)


def test_models_below_the_cap_leave_the_beta_axis_and_are_flagged(tmp_path, monkeypatch):
    record = plane_record(tmp_path, monkeypatch, {"cnn-relu": 0.95, "cnn-softplus:2": 0.4})
    (axis,) = [c for c in record["checks"] if c["claim"].startswith("ante-hoc axis")]
    assert axis["holds"] is None and "1 model(s)" in axis["measured"]
    assert any("cnn-softplus:2 (lowest accuracy 0.400)" in note for note in record["notes"])
    with open(tmp_path / "plane.csv", newline="") as stream:
        flags = {row["model"]: row["below_cap"] for row in csv.DictReader(stream)}
    assert flags == {"cnn-relu": "False", "cnn-softplus:2": "True"}
    record = plane_record(tmp_path / "capped", monkeypatch, {"cnn-relu": 0.95, "cnn-softplus:2": 0.95})
    (axis,) = [c for c in record["checks"] if c["claim"].startswith("ante-hoc axis")]
    assert axis["holds"] is True                            # 0.3 < 0.5 and 0.31 < 0.51: EF rises with β in both seeds
    grows = [c for c in record["checks"] if "ΔEF grows" in c["claim"] and c["claim"].startswith("cnn-relu")]
    assert grows[0]["holds"] is True and len(grows[0]["interval"]) == 2


@pytest.mark.slow
def test_quick_plane_verdicts_do_not_flip_between_seed_sets(tmp_path):
    verdicts = []
    for seeds in ((0, 1), (2, 3)):
        record = targets.reproduce("plane", tmp_path / "-".join(map(str, seeds)), quick=True, progress=False,
                                   seeds=seeds)
        verdicts.append({c["claim"]: c["holds"] for c in record["checks"]})
    assert verdicts[0].keys() == verdicts[1].keys()
    flips = [claim for claim in verdicts[0] if None not in (verdicts[0][claim], verdicts[1][claim])
             and verdicts[0][claim] != verdicts[1][claim]]
    assert not flips
