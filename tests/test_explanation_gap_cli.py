"""The explanation-gap experiment end to end on a tiny synthetic run."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from experiments import explanation_gap
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
