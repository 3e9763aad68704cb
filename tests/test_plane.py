"""specxai_jax.reproduction.plane: per-seed explanation-gap rows → mean, std and n per (model, method[, σ]); the plane figure."""

from __future__ import annotations

import csv
import dataclasses
import math

import numpy as np
import pytest

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
        return GapResult(rows, sweep, img_size=16, gradcam_layers={}, num_classes=10, accuracy={})

    monkeypatch.setattr("specxai_jax.gap.run", run)
    record = targets.reproduce("plane", tmp_path, quick=True, progress=False, data_dir="/data")
    quick = GapConfig(models=("cnn-softplus:2", "cnn-softplus:20", "cnn-relu"), checkpoint_dir=str(tmp_path / "models"),
                      data_dir="/data", img_size=16, n_explain=16, samples=8, ig_steps=16, max_train=1024, max_test=128,
                      lr=2e-3, max_epochs=8, sigmas=(0.05, 0.2, 0.4))
    assert seen == [(dataclasses.replace(quick, seed=seed), tmp_path / f"seed{seed}") for seed in (0, 1)]
    assert [run["dir"] for run in record["runs"]] == ["seed0", "seed1"]
    assert all(" --seed 1 " in run["command"] for run in record["runs"][1:])
    with open(tmp_path / "plane.csv", newline="") as stream:
        (vanilla,) = [row for row in csv.DictReader(stream) if row["method"] == "vanilla_grad"]
    assert vanilla["n"] == "2" and float(vanilla["ef"]) == pytest.approx(0.55)  # mean of the seeds' 0.5 and 0.6
