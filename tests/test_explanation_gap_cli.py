"""The explanation-gap experiment end to end on a tiny synthetic run."""

from __future__ import annotations

import csv

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
    for name in ("gap.csv", "table.md", "fig_maps.png", "gap_vs_sigma.csv", "fig_gap_vs_sigma.png"):
        assert (out / name).stat().st_size > 0
    rows = list(csv.DictReader(open(out / "gap.csv")))
    assert {(r["model"], r["method"]) for r in rows} == {(m, k) for m in ("cnn-relu", "cnn-softplus:3") for k in METHODS}
    for row in rows:
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
