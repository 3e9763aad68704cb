"""experiments.reproduce: every target runs with --quick and leaves a figure with data and the CSV behind it."""

from __future__ import annotations

import collections
import csv
import json
import math
from pathlib import Path

import matplotlib.image
import numpy as np
import pytest

from experiments import paper_values, reproduce
from specxai_jax import atomic, validation
from specxai_jax.explain import METHODS

QUICK_BETAS = 4  # β of reproduce.QUICK_SWEEP
QUICK_SEEDS = 2  # presets.REPRODUCE_SEEDS["quick"]
RESULT_ROWS = {name: QUICK_SEEDS * count for name, count in
               {"fig2": 4, "fig3": 4, "fig5": 4, "fig6": 3 * 4, "fig7": 2 * 2 * 4, "fig8": 3 * 4, "fig9": 4 * 2}.items()}
THEOREM1_COLUMNS = {"kernel", "bandwidth", "beta", "dim", "alpha", "inputs", "ef", "tail_exponent", "tail_exponent_se",
                    "predicted_exponent"}
GAP_ROWS = 2 * len(METHODS)  # two models per table


def rows(path: Path) -> list[dict]:
    with open(path, newline="") as stream:
        return list(csv.DictReader(stream))


def assert_figure_has_data(path: Path) -> None:
    """The PNG decodes and is not a single colour (an empty plot still has axes, so also check its size)."""
    image = matplotlib.image.imread(path)
    assert image.ndim == 3 and min(image.shape[:2]) > 100
    assert np.ptp(image[..., :3]) > 0.5, f"{path.name} is (nearly) one colour"
    assert len(np.unique(image[..., :3].reshape(-1, 3), axis=0)) > 50, f"{path.name} has almost no drawing"


def check_target(name: str, out: Path, result_rows: int | None = None) -> dict:
    """Every figure holds data, every CSV has the expected rows, target.json records the runs."""
    text = (out / "target.json").read_text()
    json.loads(text, parse_constant=lambda token: pytest.fail(f"target.json is not standard JSON: {token}"))
    record = atomic.from_json(text)  # β = inf reads back as a number
    claims = {**paper_values.CLAIMS, **reproduce.EXTRA_CLAIMS}
    assert record["target"] == name and record["quick"] is True and record["claim"] == claims[name]
    assert record["runs"] and all(run["command"].startswith("python -m ") for run in record["runs"])
    assert record["checks"] and all(set(c) == {"claim", "holds", "measured"} for c in record["checks"])
    for figure in record["figures"]:
        assert_figure_has_data(out / figure)
    if name in RESULT_ROWS:
        results = rows(out / "results.csv")
        assert len(results) == (result_rows or RESULT_ROWS[name])
        assert all(0 < float(r["ef"]) < 1 for r in results)
        spectra = rows(out / "spectra.csv")
        bins = collections.Counter((r["setting"], float(r["beta"])) for r in spectra)
        assert set(bins) == {(r["setting"], float(r["beta"])) for r in results}
        for setting in {r["setting"] for r in results}:  # one spectrum of K > 1 bins per β of a setting
            assert len({count for (s, _), count in bins.items() if s == setting}) == 1
        assert min(bins.values()) > 1
        summary = rows(out / "summary.csv")  # mean ± std across seeds per (setting, β)
        assert {(r["setting"], float(r["beta"])) for r in summary} <= set(bins)
        assert all(int(r["n_seeds"]) <= QUICK_SEEDS and float(r["ef_mean"]) > 0 for r in summary)
        for run in record["runs"]:  # each setting's own sweep outputs sit in its sub-directory
            assert (out / run["dir"] / "config.json").is_file()
    elif name == "theorem1":
        check_theorem1(out)
    elif name == "plane":
        plane = rows(out / "plane.csv")
        assert {r["method"] for r in plane} >= {"vanilla_grad", "smooth_grad", "integrated_gradients"}
        assert all(int(r["n"]) == QUICK_SEEDS for r in plane)
        with_gap = [r for r in plane if r["method"] == "smooth_grad" and math.isfinite(float(r["gap"]))]
        assert len(with_gap) == 3 * 3  # quick σ grid × models
    elif name == "fig11":
        eigen = rows(out / "eigenvalues.csv")
        assert {r["family"] for r in eigen} == {"softplus", "gauss", "relu"}
        assert {r["kind"] for r in eigen} == {"mercer", "sphere_gram", "empirical_gram"}
    else:
        comparison = rows(out / "comparison.csv")
        assert len(comparison) == GAP_ROWS
        assert (out / "comparison.md").read_text().count("\n| ") == 1 + GAP_ROWS  # header + rows
    return record


def check_theorem1(out: Path) -> None:
    """theorem1.csv: the issue's columns; 1-D and 2-D Lemma 3 rows, white and permuted rows; finite exponents."""
    table = rows(out / "theorem1.csv")
    assert THEOREM1_COLUMNS <= set(table[0])
    lemma = [r for r in table if r["part"] == "lemma3"]
    assert {r["dim"] for r in lemma} == {"1", "2"} and {r["kernel"] for r in lemma} == {"laplace", "matern32", "gaussian"}
    assert {r["inputs"] for r in table} == {"autocorrelated", "white", "permuted"}
    assert any(r["inputs"] == "white" and float(r["alpha"]) == 0 for r in lemma)
    assert all(math.isfinite(float(r["tail_exponent"])) and float(r["tail_exponent_se"]) > 0 for r in lemma)
    assert {r["part"] for r in table} == {"lemma3", "kernel_machine", "trained_net"}
    assert (out / "beta_link.csv").is_file()
    for figure in json.loads((out / "target.json").read_text())["figures"]:
        assert (out / figure).with_suffix(".pdf").is_file()


def test_quick_target_fig3_runs_end_to_end(tmp_path):
    # the real fig3 target, shrunk further by flags added to its sweep (the full --quick run is a slow test)
    out = tmp_path / "fig3"
    flags = ("--betas", "2,relu", "--max-epochs", "1", "--n-explain", "16", "--input-noise", "0.05", "--seeds", "0")
    reproduce.reproduce("fig3", out, quick=True, dataset="synthetic:n_train=256,n_test=64", progress=False,
                        sweep_flags=flags)
    record = check_target("fig3", out, result_rows=2)
    settings = record["runs"][0]["settings"]
    assert settings["dataset"] == "synthetic:n_train=256,n_test=64" and settings["betas"] == [2.0, math.inf]
    assert settings["input_noise"] == 0.05 and settings["acc_cap"] == 0.7 and settings["img_size"] == 16
    assert record["sweep_flags"] == list(flags) and record["dataset"] == "synthetic:n_train=256,n_test=64"
    assert "--input-noise 0.05 --seeds 0 --dataset synthetic:n_train=256,n_test=64" in record["runs"][0]["command"]
    # the quick default of two seeds comes first, so the test's own --seeds 0 wins
    assert record["runs"][0]["command"].startswith("python -m experiments.sweep_beta --seeds 0,1 ")
    assert settings["seeds"] == [0]


@pytest.mark.slow
@pytest.mark.parametrize("name", list(reproduce.TARGETS))
def test_every_target_runs_quick(name, tmp_path):
    out = tmp_path / name
    assert reproduce.main(["--target", name, "--quick", "--no-progress", "--out", str(out)]) == 0
    record = check_target(name, out)
    if name == "tab2":
        assert any("pretrained" in note for note in record["notes"])
        assert "pretrained" in (out / "comparison.md").read_text()
    if name == "tab4":
        assert "0.239" in (out / "comparison.md").read_text()


def test_unknown_target_is_a_one_line_usage_error(capsys, tmp_path):
    with pytest.raises(SystemExit) as exit_info:
        reproduce.main(["--target", "fig99", "--out", str(tmp_path)])
    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert error.startswith("error:") and "fig99" in error and len(error.strip().splitlines()) == 1


def test_bad_settings_are_one_line_errors(tmp_path, capsys):
    cases = [(["--target", "fig11", "--dataset", "synthetic"], "takes no --dataset"),
             (["--target", "tab4", "--input-noise", "0.1"], "takes no --input-noise"),
             (["--target", "tab1", "--no-cap"], "or --no-cap"),
             (["--target", "fig2", "--input-noise", "-1"], "non-negative"),
             (["--target", "fig2", "--dataset", "nosuch:thing"], "nosuch")]
    for argv, expected in cases:
        with pytest.raises(SystemExit) as exit_info:
            validation.cli_entry(reproduce.main, [*argv, "--out", str(tmp_path)])
        error = capsys.readouterr().err
        assert exit_info.value.code == 2, error
        assert error.startswith("error:") and expected in error and len(error.strip().splitlines()) == 1
    assert not (tmp_path / "target.json").exists()
    with pytest.raises(ValueError, match="unknown target"):
        reproduce.reproduce("fig4", tmp_path)


def test_ef_in_the_papers_convention_divides_by_the_number_of_radial_bins():
    # 16×16: radii 0 … ⌊√(8² + 8²)⌋ = 11, so K = 12
    assert reproduce.ef_per_k(0.6, 16) == pytest.approx(1e4 * 0.6 / 12)


def test_paper_values_cover_every_method_of_tab4():
    for model, values in paper_values.TAB4.items():
        assert set(values) <= set(METHODS), model
        assert values["lrp"] is None and values["vanilla_grad"][1] == 0.0
    assert paper_values.TAB4["vit-relu"]["gradcam"] == (0.205, 0.051)
    assert set(paper_values.CLAIMS) | set(reproduce.EXTRA_CLAIMS) == set(reproduce.TARGETS)
    assert paper_values.paper_table("tab4") is paper_values.TAB4 and paper_values.paper_table("fig2") is None


def test_comparison_markdown_puts_the_papers_numbers_beside_ours():
    row = {"model": "vit-relu", "method": "gradcam", "ef": 0.05, "delta_ef": 0.01, "ef_per_k_1e4": 41.0,
           "delta_ef_per_k_1e4": 8.0, "paper_ef": 0.205, "paper_delta_ef": 0.051}
    undefined = {**row, "method": "lrp", "ef": math.nan, "paper_ef": math.nan}
    text = reproduce.comparison_markdown("tab4", [row, undefined], True, ["a note"])
    assert "| vit-relu | GradCAM | 5.00 | 1.00 | 41.000 | 8.000 | 0.205 | 0.051 |" in text
    assert "| vit-relu | LRP | undefined | – | undefined | – | – | – |" in text
    assert "> a note" in text
