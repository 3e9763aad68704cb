"""The explanation-gap experiment end to end on a tiny synthetic run."""

from __future__ import annotations

import csv
import types

import jax
import numpy as np
import pytest

from experiments import explanation_gap
from specxai_jax import validation
from specxai_jax.explain import METHODS


@pytest.mark.slow
def test_quick_run_writes_every_output(tmp_path):
    explanation_gap.main(["--quick", "--models", "cnn-relu", "cnn-softplus:3", "--n-images", "8",
                          "--sigmas", "0.05", "0.2", "0.4", "--checkpoint-dir", str(tmp_path / "ckpt"),
                          "--out", str(tmp_path / "out")])
    out = tmp_path / "out"
    for name in ("gap.csv", "table.md", "fig_maps.png", "fig_maps.pdf", "gap_vs_sigma.csv", "fig_gap_vs_sigma.png",
                 "fig_gap_vs_sigma.pdf"):
        assert (out / name).stat().st_size > 0
    rows = list(csv.DictReader(open(out / "gap.csv")))
    assert {(r["model"], r["method"]) for r in rows} == {(m, k) for m in ("cnn-relu", "cnn-softplus:3") for k in METHODS}
    for row in rows:
        assert row["diverged"] == "False"
        if row["method"] == "vanilla_grad":
            assert float(row["delta_ef"]) == 0.0
        if row["model"] == "cnn-softplus:3" and row["method"] == "lrp":
            assert np.isnan(float(row["ef"]))
    assert "undefined" in (out / "table.md").read_text()
    assert len(list((tmp_path / "ckpt").iterdir())) == 2


@pytest.mark.parametrize("args,message", [
    (["--models", "cnn-tanh"], "is not FAMILY-ACTIVATION"),
    (["--sigmas", "0.1", "0"], "must be a positive number"),
    (["--smooth-sigma", "-0.1"], "must be a positive number"),
    (["--dataset", "imagenet"], "unknown dataset"),
    (["--samples", "1"], "at least 2"),
])
def test_bad_input_gives_one_line_and_exit_2(args, message, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        validation.cli_entry(explanation_gap.main, [*args, "--out", str(tmp_path / "out")])
    stderr = capsys.readouterr().err
    assert exit_.value.code == 2 and message in stderr
    assert stderr.count("\n") == 1 and stderr.startswith("error:")
    assert not (tmp_path / "out" / "gap.csv").exists()


def gap_rows(delta_efs):
    """gap.csv rows of one model with the given ΔEF per method (EF = ΔEF; VanillaGrad's 0)."""
    return [{"model": "m", "method": method, "ef": value, "delta_ef": value} for method, value in delta_efs.items()]


def test_table_states_whether_the_paper_ordering_holds():
    holds = explanation_gap.ordering_verdicts(gap_rows({"vanilla_grad": 0.0, "smooth_grad": 0.1, "gradcam": 0.3,
                                                        "lrp": float("nan")}))
    fails = explanation_gap.ordering_verdicts(gap_rows({"vanilla_grad": 0.0, "deeplift": 0.5, "gradcam": 0.3}))
    assert holds == ["- m: holds"]
    assert "does NOT hold" in fails[0] and "deeplift" in fails[0]


def test_gap_vs_sigma_labels_each_point_with_its_sigma(tmp_path, monkeypatch):
    kept = []
    monkeypatch.setattr(explanation_gap.atomic, "save_figure", lambda fig, path, **kwargs: kept.append(fig))
    sweep = [{"model": model, "method": "smooth_grad", "sigma": sigma, "gap": gap, "delta_ef": delta}
             for model in ("a", "b") for sigma, gap, delta in ((0.05, 1.0, 0.01), (0.2, 10.0, 0.03))]
    sweep.append({"model": "a", "method": "integrated_gradients", "sigma": float("nan"), "gap": 5.0, "delta_ef": 0.02})
    explanation_gap.plot_sweep(tmp_path / "fig.png", sweep)
    labels = sorted((text.get_text(), text.xy) for text in kept[0].axes[0].texts)
    assert labels == sorted([("σ=0.05", (1.0, 0.01)), ("σ=0.2", (10.0, 0.03))] * 2)


def test_diverged_model_is_flagged_not_given_a_number(tmp_path, monkeypatch, capsys):
    def diverging(apply_fn, variables, dataset, seeds, config, **kwargs):
        nan = jax.tree.map(lambda leaf: np.full_like(leaf, np.nan), variables)
        return types.SimpleNamespace(variables=nan, test_accuracy=np.array([0.1]), epochs=np.array([1]))

    monkeypatch.setattr(explanation_gap, "train_models", diverging)
    args = explanation_gap.parse_args(["--models", "cnn-relu", "--img-size", "8", "--max-train", "64", "--max-test",
                                       "16", "--n-images", "4", "--sigmas", "0.1", "0.2", "0.3", "--no-progress",
                                       "--out", str(tmp_path)])
    explanation_gap.run(args)
    assert "diverged" in capsys.readouterr().err
    for name in ("gap.csv", "gap_vs_sigma.csv"):
        rows = list(csv.DictReader(open(tmp_path / name)))
        assert rows and all(r["diverged"] == "True" and np.isnan(float(r["ef"])) for r in rows)
    table = (tmp_path / "table.md").read_text()
    assert table.count("**diverged**") == len(METHODS) and "cnn-relu: diverged" in table
