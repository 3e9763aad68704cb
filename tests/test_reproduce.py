"""Reproduction targets (specxai_jax.reproduction.targets, CLI specxai_jax.cli.reproduce): every target runs with
--quick and leaves a figure with data and the CSV behind it; its runs are configs, recorded as commands that
rebuild them."""

from __future__ import annotations

import collections
import csv
import dataclasses
import json
import math
import shlex
from pathlib import Path

import matplotlib.image
import numpy as np
import pytest

from specxai_jax import configs
from specxai_jax import sweep as beta_sweep
from specxai_jax.attribution import METHODS
from specxai_jax.cli import explanation_gap, reproduce, sweep_beta, validation
from specxai_jax.configs import PRESETS, GapConfig, SweepConfig
from specxai_jax.gap import report as gap_report
from specxai_jax.reproduction import paper_values, runs, targets
from specxai_jax.results import Check, read_checks
from specxai_jax.storage import atomic

QUICK_BETAS = 4  # β of configs.QUICK_SWEEP_OVERRIDES
QUICK_SEEDS = 2  # configs.REPRODUCE_SEEDS["quick"]
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
    claims = {**paper_values.CLAIMS, **targets.EXTRA_CLAIMS}
    assert record["target"] == name and record["quick"] is True and record["claim"] == claims[name]
    assert record["runs"] and all(run["command"].startswith("python -m ") for run in record["runs"])
    assert record["checks"] and all(set(c) == {"claim", "holds", "measured", "interval", "inconclusive"}
                                    for c in record["checks"])
    assert [c.to_json() for c in read_checks(out / "checks.json")] == json.loads(text)["checks"]
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
    """kernel_maps.csv: the issue's columns; 1-D and 2-D Lemma 3 rows, white and permuted rows; finite exponents."""
    table = rows(out / "kernel_maps.csv")
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


def test_quick_target_fig3_runs_end_to_end(tmp_path, monkeypatch):
    # the real fig3 target, its quick sweep shrunk further (the full --quick run is a slow test)
    monkeypatch.setattr(runs, "QUICK_SWEEP_OVERRIDES", {**configs.QUICK_SWEEP_OVERRIDES, "betas": (2.0, math.inf), "max_epochs": 1,
                                                 "n_explain": 16})
    monkeypatch.setattr(runs, "REPRODUCE_SEEDS", {"quick": (0,), "full": (0,)})
    out = tmp_path / "fig3"
    targets.reproduce("fig3", out, quick=True, dataset="synthetic:n_train=256,n_test=64", progress=False,
                      input_noise=0.05)
    record = check_target("fig3", out, result_rows=2)
    (run,) = record["runs"]
    settings = run["settings"]
    assert settings["dataset"] == "synthetic:n_train=256,n_test=64" and settings["betas"] == [2.0, math.inf]
    assert settings["input_noise"] == 0.05 and settings["acc_cap"] == 0.7 and settings["img_size"] == 16
    assert settings["seeds"] == [0] and settings["max_epochs"] == 1 and settings["preset"] is None
    assert record["input_noise"] == 0.05 and record["dataset"] == "synthetic:n_train=256,n_test=64"
    assert run["command"].startswith("python -m experiments.sweep_beta --dataset ")
    recorded = {name: tuple(value) if isinstance(value, list) else value for name, value in settings.items()}
    assert config_of_command(run["command"]) == SweepConfig(**recorded)


def config_of_command(command: str) -> SweepConfig:
    """The config the sweep CLI builds from a recorded command (its --out dropped)."""
    words = shlex.split(command)
    assert words[:3] == ["python", "-m", "experiments.sweep_beta"]
    args = sweep_beta.build_parser().parse_args(words[3:])
    return beta_sweep.resolve(sweep_beta.sweep_config(args))


def test_sweep_config_layers_quick_settings_target_overrides_and_the_callers_options(tmp_path):
    quick = targets.Context(out=tmp_path, quick=True, dataset=None, progress=False, fresh=False, input_noise=0.05)
    config = runs.sweep_config(quick, PRESETS["imagenette-224"], lr=0.01)
    assert isinstance(config, SweepConfig)
    assert (config.dataset, config.img_size, config.depth, config.betas) == \
        ("synthetic:n_train=1024,n_test=256", 16, 2, (2.0, 5.0, 20.0, math.inf))
    assert (config.lr, config.acc_cap, config.max_epochs, config.n_explain) == (0.01, 0.7, 8, 64)
    assert (config.seeds, config.input_noise, config.preset, config.width) == ((0, 1), 0.05, "imagenette-224", 16)

    full = targets.Context(out=tmp_path, quick=False, dataset="synthetic:size=32", progress=False, fresh=False,
                           data_dir="/data", split="test", no_cap=True)
    config = runs.sweep_config(full, PRESETS["cifar10"], depth=2, dataset="tfds:mnist")
    assert (config.dataset, config.data_dir, config.split) == ("synthetic:size=32", "/data", "test")
    assert (config.img_size, config.lr, config.depth, config.acc_cap, config.max_epochs) == (32, 3e-3, 2, None, 200)
    assert (len(config.betas), config.betas[0], config.betas[-1]) == (18, 0.1, math.inf)
    assert (config.n_explain, config.seeds, config.input_noise, config.preset) == (1000, (0, 1, 2), 0.0, "cifar10")
    command = runs.sweep_command(beta_sweep.resolve(config), tmp_path / "run")
    assert command.startswith("python -m experiments.sweep_beta --preset cifar10 ") and "--no-cap" in command
    assert config_of_command(command) == beta_sweep.resolve(config)


def gap_config_of_command(command: str) -> GapConfig:
    words = shlex.split(command)
    assert words[:3] == ["python", "-m", "experiments.explanation_gap"]
    return explanation_gap.parse_args(words[3:])[0]


def test_table_configs_are_the_papers_settings_or_the_quick_ones_and_their_commands_rebuild_them(tmp_path):
    full = targets.Context(out=tmp_path, quick=False, dataset=None, progress=False, fresh=False)
    config = targets.table_config(full, "tab1")
    assert config == GapConfig(dataset="tfds:imagenette/320px-v2", models=("cnn-relu", "cnn-softplus:1"),
                               checkpoint_dir=str(tmp_path / "models"), img_size=224, depth=5, n_explain=1000,
                               lr=1e-4, acc_cap=0.6, max_epochs=200)
    quick = targets.Context(out=tmp_path, quick=True, dataset="synthetic:size=16", progress=False, fresh=False,
                            split="test")
    config = targets.table_config(quick, "tab4")
    assert (config.models, config.dataset, config.split, config.img_size) == \
        (("vit-relu", "vit-gelu"), "synthetic:size=16", "test", 16)
    assert (config.max_train, config.max_test, config.max_epochs, config.lr) == (1024, 128, 8, 2e-3)
    assert config.n_explain == 16
    assert (config.sigmas, config.samples, config.ig_steps) == ((0.05, 0.2, 0.4), 8, 16)
    pretrained = targets.Context(out=tmp_path, quick=True, dataset=None, progress=False, fresh=False,
                                 pretrained=("org/resnet", "org/vit"))
    for ctx, target, quick_run in ((full, "tab1", False), (full, "tab2", False), (quick, "tab4", True),
                                   (pretrained, "tab2", True)):
        config = targets.table_config(ctx, target)
        command = runs.gap_command(config, tmp_path / "out", quick_run)
        assert ("--quick" in command.split()) == quick_run
        assert gap_config_of_command(command) == config, command
    assert targets.table_config(pretrained, "tab2").img_size is None  # the checkpoints' size


def fake_rows(config: SweepConfig) -> list[dict]:
    """Rows as sweep.run returns them, EF rising with β, without training anything."""
    return [{"activation": config.activation, "beta": beta, "seed": seed, "test_accuracy": 0.8, "epochs": 1,
             "ef": 0.1 + 0.01 * i, "ef_std": 0.01, "ef_ref": 0.1, "ef_raw": 0.2, "ef_penalty": 0.0, "n_images": 4, "train_seconds": 0.0,
             "reached_cap": True, "dead_maps": 0, "diverged": False, "store_key": f"{i:016x}", "score": "log_prob",
             "spectrum": np.linspace(1.0, 0.0, 6) / 3,
             "examples": np.zeros((1, 4, 4))} for i, beta in enumerate(config.betas) for seed in config.seeds]


def test_quick_fig7_runs_one_config_per_depth_and_learning_rate(tmp_path, monkeypatch):
    seen = []

    def run(config, out, **options):
        seen.append((config, out.name))
        return fake_rows(config)

    monkeypatch.setattr(beta_sweep, "run", run)
    record = targets.reproduce("fig7", tmp_path, quick=True, progress=False)
    quick = SweepConfig(dataset="synthetic:n_train=1024,n_test=256", img_size=16, betas=(2.0, 5.0, 20.0, math.inf),
                        acc_cap=0.7, max_epochs=8, n_explain=64, seeds=(0, 1))
    expected = [(SweepConfig(**{**dataclasses.asdict(quick), "depth": depth, "lr": lr}), f"depth{depth}_lr{lr:g}")
                for depth in (1, 2) for lr in (1e-3, 3e-3)]
    assert seen == expected
    assert [run["dir"] for run in record["runs"]] == [name for _, name in expected]
    for run, (config, _) in zip(record["runs"], expected):
        assert config_of_command(run["command"]) == config


@pytest.mark.slow
@pytest.mark.parametrize("name", list(targets.TARGETS))
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
        targets.reproduce("fig4", tmp_path)


def test_cli_passes_its_flags_to_the_library(tmp_path, monkeypatch):
    calls = []

    def run(name, out, **options):
        calls.append((name, out, options))
        return {"title": name, "checks": [], "seconds": 0.0, "figures": [], "tables": []}

    monkeypatch.setattr(targets, "reproduce", run)
    argv = ["--target", "tab2", "--quick", "--out", str(tmp_path), "--pretrained", "org/resnet,org/vit", "org/x",
            "--input-noise", "0.1", "--no-cap", "--no-progress", "--split", "test"]
    assert reproduce.main(argv) == 0
    (name, out, options), = calls
    assert (name, out) == ("tab2", tmp_path)
    assert options == {"quick": True, "dataset": None, "progress": False, "fresh": False, "data_dir": None,
                       "split": "test", "pretrained": ["org/resnet", "org/vit", "org/x"], "input_noise": 0.1,
                       "no_cap": True, "seeds": ()}


def test_ef_in_the_papers_convention_divides_by_the_number_of_radial_bins():
    # 16×16: radii 0 … ⌊√(8² + 8²)⌋ = 11, so K = 12
    assert targets.ef_per_k(0.6, 16) == pytest.approx(1e4 * 0.6 / 12)


def test_paper_values_cover_every_method_of_tab4():
    for model, values in paper_values.TAB4.items():
        assert set(values) <= set(METHODS), model
        assert values["lrp"] is None and values["vanilla_grad"][1] == 0.0
    assert paper_values.TAB4["vit-relu"]["gradcam"] == (0.205, 0.051)
    assert set(paper_values.CLAIMS) | set(targets.EXTRA_CLAIMS) == set(targets.TARGETS)
    assert paper_values.paper_table("tab4") is paper_values.TAB4 and paper_values.paper_table("fig2") is None


def test_comparison_markdown_puts_the_papers_numbers_beside_ours():
    row = {"model": "vit-relu", "method": "gradcam", "ef": 0.05, "delta_ef": 0.01, "ef_per_k_1e4": 41.0,
           "delta_ef_per_k_1e4": 8.0, "paper_ef": 0.205, "paper_delta_ef": 0.051}
    undefined = {**row, "method": "lrp", "ef": math.nan, "paper_ef": math.nan}
    text = targets.comparison_markdown("tab4", [row, undefined], True, ["a note"])
    assert "| vit-relu | GradCAM | 5.00 | 1.00 | 41.000 | 8.000 | 0.205 | 0.051 |" in text
    assert "| vit-relu | LRP | undefined | – | undefined | – | – | – |" in text
    assert "> a note" in text


def test_table_checks_leave_a_diverged_model_undecided(tmp_path):
    nan = math.nan
    finite = [{"model": "vit-relu", "method": method, "ef": 0.3, "delta_ef": 0.2 if method == "gradcam" else 0.01}
              for method in METHODS]
    diverged = [{"model": "vit-gelu", "method": method, "ef": nan, "delta_ef": nan} for method in METHODS]
    ctx = targets.Context(out=tmp_path, quick=True, dataset=None, progress=False, fresh=False)
    targets.vit_check(ctx, finite + diverged)
    assert [(c.claim, c.holds, c.inconclusive) for c in ctx.checks] == [
        ("GELU-ViT's VanillaGrad EF exceeds ReLU-ViT's (the paper's observation)", None, "a ViT diverged")]
    assert [(c.claim.split(":")[0], c.holds) for c in map(gap_report.ordering_check, ("vit-relu", "vit-gelu"),
                                                              (finite, [{**r, "diverged": True} for r in diverged]))] \
        == [("vit-relu", True), ("vit-gelu", None)]


def test_context_check_records_typed_checks_with_intervals(tmp_path):
    ctx = targets.Context(out=tmp_path, quick=True, dataset=None, progress=False, fresh=False)
    ctx.check("a", np.bool_(True), "ρ = 0.9", interval=(0.5, 1.0))
    ctx.check("b", None, "too few")
    assert ctx.checks == [Check("a", True, "ρ = 0.9", (0.5, 1.0)), Check("b", None, "too few", inconclusive="too few")]
