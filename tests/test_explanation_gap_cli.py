"""python -m experiments.explanation_gap: flags map onto GapConfig, bad flags are one line, and a tiny
synthetic run writes every output."""

from __future__ import annotations

import csv
import dataclasses
import json

import numpy as np
import pytest

from specxai_jax import gap
from specxai_jax.attribution import METHODS
from specxai_jax.cli import explanation_gap, validation
from specxai_jax.configs import GAP_QUICK, GapConfig
from specxai_jax.gap import report as gap_report
from specxai_jax.results import read_checks
from specxai_jax.storage.store import KEY_PATTERN


def test_flags_map_onto_config_fields(tmp_path):
    config, args = explanation_gap.parse_args([
        "--dataset", "tfds:cifar10", "--data-dir", "/data", "--split", "test", "--models", "cnn-relu,cnn-softplus:3.0",
        "vit-gelu", "--checkpoint-dir", str(tmp_path / "ckpt"), "--img-size", "24", "--depth", "2",
        "--n-explain", "7", "--max-train", "100", "--max-test", "50", "--lr", "0.01", "--acc-cap", "0.5",
        "--max-epochs", "3", "--smooth-sigma", "0.2", "--sigmas", "0.1,0.3", "--samples", "4", "--ig-steps", "5",
        "--seed", "9", "--out", str(tmp_path / "out"), "--fresh", "--no-progress"])
    assert config == GapConfig(dataset="tfds:cifar10", data_dir="/data", split="test",
                               models=("cnn-relu", "cnn-softplus:3", "vit-gelu"), pretrained=(),
                               checkpoint_dir=str(tmp_path / "ckpt"), img_size=24, depth=2, n_explain=7, max_train=100,
                               max_test=50, lr=0.01, acc_cap=0.5, max_epochs=3, smooth_sigma=0.2, sigmas=(0.1, 0.3),
                               samples=4, ig_steps=5, seed=9)
    assert (args.out, args.fresh, args.no_progress) == (tmp_path / "out", True, True)


def test_quick_defaults_and_the_old_n_images_flag(tmp_path):
    out = ["--out", str(tmp_path)]
    assert explanation_gap.parse_args(out)[0] == GapConfig()
    assert explanation_gap.parse_args(["--quick", *out])[0] == GAP_QUICK
    config, _ = explanation_gap.parse_args(["--quick", "--n-images", "5", "--sigmas", "0.2", "0.1", *out])
    assert config == dataclasses.replace(GAP_QUICK, n_explain=5, sigmas=(0.2, 0.1))
    assert explanation_gap.parse_args(["--no-cap", *out])[0].acc_cap is None


def test_pretrained_takes_the_checkpoints_size_unless_img_size_is_given(tmp_path):
    out = ["--out", str(tmp_path)]
    config, _ = explanation_gap.parse_args(["--pretrained", "a/b,./c", "d", *out])
    assert (config.pretrained, config.img_size) == (("a/b", "./c", "d"), None)
    assert explanation_gap.parse_args(["--pretrained", "a/b", "--img-size", "64", *out])[0].img_size == 64


def test_every_config_field_has_its_flag():
    flags = {option for action in explanation_gap.build_parser()._actions for option in action.option_strings}
    assert {f"--{field.name.replace('_', '-')}" for field in dataclasses.fields(GapConfig)} <= flags


@pytest.mark.parametrize("args,message", [
    (["--models", "cnn-tanh"], "is not FAMILY-ACTIVATION"),
    (["--models", "cnn-relu,cnn-relu"], "distinct model specs"),
    (["--models", "cnn-relu", "cnn-relu"], "more than once"),
    (["--sigmas", "0.1,0"], "must be a positive number"),
    (["--smooth-sigma", "-0.1"], "must be a positive number"),
    (["--dataset", "imagenet"], "unknown dataset"),
    (["--samples", "1"], "at least 2"),
    (["--models", "vit-gelu", "--img-size", "18"], "multiple of 4"),
])
def test_bad_input_gives_one_line_and_exit_2(args, message, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        validation.cli_entry(explanation_gap.main, [*args, "--out", str(tmp_path / "out")])
    stderr = capsys.readouterr().err
    assert exit_.value.code == 2 and message in stderr
    assert stderr.count("\n") == 1 and stderr.startswith("error:")
    assert not (tmp_path / "out" / "gap.csv").exists()


@pytest.mark.slow
def test_quick_run_writes_every_output(tmp_path):
    explanation_gap.main(["--quick", "--models", "cnn-relu,cnn-softplus:3", "--n-explain", "8",
                          "--sigmas", "0.05,0.2,0.4", "--checkpoint-dir", str(tmp_path / "ckpt"),
                          "--out", str(tmp_path / "out"), "--no-progress"])
    out = tmp_path / "out"
    for name in ("gap.csv", "table.md", "fig_maps.png", "fig_maps.pdf", "gap_vs_sigma.csv", "fig_gap_vs_sigma.png",
                 "fig_gap_vs_sigma.pdf", "config.json"):
        assert (out / name).stat().st_size > 0
    rows = list(csv.DictReader(open(out / "gap.csv")))
    models = ("cnn-relu", "cnn-softplus:3")
    assert {(r["model"], r["method"]) for r in rows} == {(m, k) for m in models for k in METHODS}
    for row in rows:
        assert row["diverged"] == "False"
        if row["method"] == "vanilla_grad":
            assert float(row["delta_ef"]) == 0.0
        if row["model"] == "cnn-softplus:3" and row["method"] == "lrp":
            assert np.isnan(float(row["ef"]))
    assert "undefined" in (out / "table.md").read_text()
    stored = [p for p in (tmp_path / "ckpt" / "models").iterdir() if KEY_PATTERN.fullmatch(p.name)]
    assert len(stored) == 2
    recorded = json.loads((out / "config.json").read_text())
    assert recorded["n_explain"] == 8 and recorded["sigmas"] == [0.05, 0.2, 0.4] and recorded["img_size"] == 16
    assert set(recorded) >= {field.name for field in dataclasses.fields(GapConfig)} | {"git_commit", "num_classes"}
    assert gap.GAP_COLUMNS == list(rows[0])
    for row in rows:  # the signed change beside |ΔEF|
        if not np.isnan(float(row["ef"])):
            reference = next(float(r["ef"]) for r in rows if r["model"] == row["model"] and r["method"] == "vanilla_grad")
            assert float(row["ef_change"]) == float(row["ef"]) - reference
            assert float(row["delta_ef"]) == abs(float(row["ef_change"]))
    checks = read_checks(out / "checks.json")
    claims = [check.claim for check in checks]
    assert claims == [f"{model}: {what}" for model in models for what in (
        "GradCAM has the largest ΔEF", "every post-hoc method lowers EF (EF − EF(VanillaGrad) < 0)",
        f"ΔEF ranks the direct gap G across methods (Spearman ρ(ΔEF, G) ≥ {gap_report.TRACKS_RHO})")]
    for model in models:  # the lowers-EF verdict follows the signs in gap.csv
        (lowers,) = [c for c in checks if c.claim.startswith(f"{model}: every post-hoc")]
        signs = [float(r["ef_change"]) < 0 for r in rows if r["model"] == model and r["method"] != "vanilla_grad"
                 and not np.isnan(float(r["ef"]))]
        assert lowers.holds == all(signs)
    assert all(f"| {claim} |" in (out / "table.md").read_text() for claim in claims)
