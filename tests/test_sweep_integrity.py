"""The β-sweep never prints a wrong number silently: diverged models are flagged with EF NaN, store keys
cover the data's content, the output set is never a mix of two runs, and bad input is one line, exit 2."""

from __future__ import annotations

import csv
import dataclasses
import math
import shutil
from pathlib import Path

import jax
import numpy as np
import pytest

from specxai_jax import spectral, stats, sweep
from specxai_jax.cli import sweep_beta, validation
from specxai_jax.configs import SweepConfig
from specxai_jax.data import load_dataset
from specxai_jax.models import init_variables
from specxai_jax.storage.store import ResultStore, config_key
from specxai_jax.sweep import report as sweep_report

TINY = ["--img-size", "8", "--max-train", "128", "--max-test", "64", "--n-explain", "8", "--max-epochs", "1",
        "--betas", "1,relu", "--seeds", "0", "--depth", "2", "--batch-size", "32", "--no-progress"]


def run_cli(argv, capsys):
    """(exit code, stdout, stderr) of the sweep's command line, in this process."""
    with pytest.raises(SystemExit) as stopped:
        validation.cli_entry(sweep_beta.main, argv)
    captured = capsys.readouterr()
    return stopped.value.code, captured.out, captured.err


def read_rows(out: Path) -> list[dict]:
    with open(out / "results.csv", newline="") as stream:
        return list(csv.DictReader(stream))


def write_npz(path: Path, *, n_train=64, n_test=16, size=8, channels=1, seed=0, labels=None, classes=3):
    rng = np.random.default_rng(seed)
    np.savez(path, x_train=rng.integers(0, 256, (n_train, size, size, channels), dtype=np.uint8),
             y_train=np.arange(n_train) % classes if labels is None else labels,
             x_test=rng.integers(0, 256, (n_test, size, size, channels), dtype=np.uint8),
             y_test=np.arange(n_test) % classes)
    return path


def seeded_store(out: Path, argv: list[str], nan_beta: float) -> None:
    """Store untrained checkpoints for every job of ``argv`` as the sweep would (the one of ``nan_beta``
    with NaN weights), so a run only explains them."""
    config = sweep.resolve(sweep_beta.sweep_config(sweep_beta.build_parser().parse_args([*argv, "--out", str(out)])))
    dataset = load_dataset(config.dataset, img_size=config.img_size, seed=0, max_train=config.max_train,
                           max_test=config.max_test)
    model = sweep.sweep_model(config, dataset.num_classes)
    base = sweep.model_settings(config, dataset)
    store = ResultStore(out)
    for beta in config.betas:
        variables = init_variables(model, jax.random.key(0), beta, (1, *dataset.image_shape))
        if beta == nan_beta:
            variables["params"] = jax.tree.map(lambda leaf: leaf * np.nan, variables["params"])
        metadata = {"beta": beta, "seed": 0, "test_accuracy": 0.1, "epochs": 1, "reached_cap": False,
                    "train_seconds": 0.0, "diverged": not stats.weights_finite(variables)}
        store.save_checkpoint(config_key({**base, "beta": beta, "seed": 0}), variables, metadata)


@pytest.mark.slow
def test_nan_weights_give_a_diverged_row_never_a_finite_ef(tmp_path, capsys):
    out = tmp_path / "out"
    seeded_store(out, TINY, nan_beta=1.0)
    for attempt in ("explained now", "read back from the store"):
        code, stdout, stderr = run_cli([*TINY, "--out", str(out)], capsys)
        assert code == 0, stderr
        assert "skipped training 2 of 2" in stdout
        diverged, relu = read_rows(out)
        assert diverged["diverged"] == "True" and relu["diverged"] == "False", attempt
        assert all(math.isnan(float(diverged[name])) for name in ("ef", "ef_std", "ef_ref")), attempt
        assert 0 < float(relu["ef"]) < 1, attempt
        assert "diverged" in stderr and "β=1" in stderr, attempt
    assert "**diverged**" in (out / "report.md").read_text()
    spectra = list(csv.DictReader(open(out / "spectra.csv")))
    assert {row["beta"] for row in spectra} == {"inf"}  # the diverged model's spectrum is not averaged in


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_ef_of_a_map_holding_nan_is_nan_not_a_number(bad):
    maps = np.random.default_rng(0).normal(size=(3, 8, 8)).astype(np.float32)
    clean = np.asarray(spectral.expected_frequency(maps))
    maps[1, 2, 3] = bad
    maps[2] = np.nan  # a fully diverged map (the case gave 0.00381 here)
    ef = np.asarray(spectral.expected_frequency(maps))
    assert ef[0] == clean[0] and np.isnan(ef[2])
    assert np.isnan(ef[1]) == np.isnan(bad)  # an inf pixel is only the map's largest value, its rank is defined


def test_diverged_rows_are_listed_but_left_out_of_spectra_checks_and_figures(tmp_path):
    rows = fake_rows(0.25)
    rows[0].update(ef=math.nan, ef_std=math.nan, ef_ref=math.nan, diverged=True,
                   spectrum=np.full(12, np.nan), examples=np.full((2, 8, 8), np.nan))
    sweep_report.write_outputs(tmp_path, rows, CONFIG, np.zeros((2, 8, 8, 1), np.float32))
    written = read_rows(tmp_path)
    assert written[0]["diverged"] == "True" and written[0]["ef"] == "nan" and written[1]["diverged"] == "False"
    assert {row["beta"] for row in csv.DictReader(open(tmp_path / "spectra.csv"))} == {"inf"}
    assert "**diverged**" in (tmp_path / "report.md").read_text()
    assert all(not math.isnan(s["n_capped"]) for s in sweep_report.spearman_per_seed(rows).values())
    assert sweep_report.spearman_per_seed(rows)[0]["n_capped"] == 1


def test_data_content_is_part_of_the_key(tmp_path):
    config = SweepConfig(dataset=f"npz:{tmp_path / 'data.npz'}", img_size=8, depth=2)
    keys = []
    for seed in (0, 0, 1):  # the same file, rewritten: same, same, other content
        write_npz(tmp_path / "data.npz", seed=seed)
        dataset = load_dataset(config.dataset, img_size=8)
        keys.append(config_key(sweep.model_settings(config, dataset)))
    assert keys[0] == keys[1] != keys[2]
    same_content = load_dataset(f"npz:{tmp_path / 'data.npz'}", img_size=8).fingerprint
    assert same_content == dataset.fingerprint
    assert load_dataset(f"npz:{tmp_path / 'data.npz'}", img_size=8, max_train=32).fingerprint != same_content


def fake_rows(ef: float):
    rng = np.random.default_rng(0)
    return [{"activation": "softplus", "beta": beta, "seed": 0, "test_accuracy": 0.5, "epochs": 1, "ef": ef,
             "ef_std": 0.1, "ef_ref": ef / 12, "ef_raw": ef, "ef_penalty": 0.0, "n_images": 8, "train_seconds": 1.0, "reached_cap": True,
             "dead_maps": 0, "diverged": False, "store_key": "0" * 16, "score": "log_prob", "spectrum": rng.random(12),
             "examples": rng.random((2, 8, 8))}
            for beta in (1.0, math.inf)]


CONFIG = SweepConfig(activation="softplus", acc_cap=0.9, dataset="synthetic", model="cnn", depth=2, width=4,
                       img_size=8, lr=1e-3, lr_decay=0.95, batch_size=32, max_epochs=1)


@pytest.mark.parametrize("fails_in", ["saliency_grid", "report_markdown", "environment"])
def test_a_failure_while_writing_outputs_leaves_the_previous_set_whole(tmp_path, monkeypatch, fails_in):
    images = np.zeros((2, 8, 8, 1), np.float32)
    sweep_report.write_outputs(tmp_path, fake_rows(0.25), CONFIG, images)
    before = {name: (tmp_path / name).read_bytes() for name in sweep_report.OUTPUTS}
    owner = sweep_report.plots if fails_in == "saliency_grid" else sweep_report

    def fail(*args, **kwargs):
        raise KeyboardInterrupt  # a kill at this point

    monkeypatch.setattr(owner, fails_in, fail)
    with pytest.raises(KeyboardInterrupt):
        sweep_report.write_outputs(tmp_path, fake_rows(0.5), dataclasses.replace(CONFIG, lr=0.05), images)
    assert {name: (tmp_path / name).read_bytes() for name in sweep_report.OUTPUTS} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(sweep_report.OUTPUTS)  # no staging left


def test_outputs_of_a_new_run_replace_the_old_set_and_stale_temp_files(tmp_path):
    images = np.zeros((2, 8, 8, 7), np.float32)  # 7 channels: shown as gray in fig_saliency
    (tmp_path / ".results.csv.tmp-abc123").write_text("left by a killed run")
    (tmp_path / "notes.txt").write_text("the user's")
    sweep_report.write_outputs(tmp_path, fake_rows(0.25), CONFIG, images)
    assert "0.25" in (tmp_path / "results.csv").read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*sweep_report.OUTPUTS, "notes.txt"])


@pytest.mark.parametrize("extra, fragment", [
    (["--max-train", "10"], "fewer than one batch"),
    (["--batch-size", "1000"], "fewer than one batch"),
    (["--seeds", "99999999999999999999999"], "seeds must lie in"),
    (["--betas", "1e39"], "outside float32's range"),
    (["--betas", "1e308"], "outside float32's range"),
    (["--betas", "1e-46"], "outside float32's range"),
    (["--dataset", "npz:NPY"], "single .npy array"),
    (["--dataset", "npz:RANDOM"], "not a zip archive"),
    (["--dataset", "npz:HUGE_LABEL"], "below 100000"),
    (["--dataset", "npz:UINT64_LABEL"], "label 9223372036854775808"),
    (["--dataset", "npz:BIG", "--img-size", "512", "--depth", "1", "--batch-size", "4"], "parameters"),
    (["--img-size", "1024", "--depth", "3", "--max-train", "2000"], "parameters"),  # refused before loading 8 GB
    (["--dataset", "tfds:../../x"], "not a TFDS dataset name"),
    (["--dataset", "tfds:mnist;rm -rf /"], "not a TFDS dataset name"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, extra, fragment):
    np.save(tmp_path / "array.npy", np.zeros(3))
    shutil.move(tmp_path / "array.npy", tmp_path / "npy.npz")
    (tmp_path / "random.npz").write_bytes(np.random.default_rng(0).bytes(4096))
    write_npz(tmp_path / "huge_label.npz", labels=np.r_[10**9, np.arange(63) % 3])
    write_npz(tmp_path / "uint64_label.npz", labels=np.array([2**63] + [i % 3 for i in range(63)], np.uint64))
    write_npz(tmp_path / "big.npz", n_train=4, n_test=2, size=16)
    names = {"NPY": "npy.npz", "RANDOM": "random.npz", "HUGE_LABEL": "huge_label.npz",
             "UINT64_LABEL": "uint64_label.npz", "BIG": "big.npz"}
    extra = [str(tmp_path / names[a[4:]]) if a[4:] in names else a for a in extra]
    extra = [f"npz:{a}" if a.startswith(str(tmp_path)) else a for a in extra]
    argv = [*TINY, *extra, "--out", str(tmp_path / "out")]
    code, _, stderr = run_cli(argv, capsys)
    assert code == 2 and fragment in stderr, stderr
    assert stderr.startswith("error:") and stderr.count("\n") == 1, stderr
    assert not (tmp_path / "out" / "results.csv").exists()


def test_a_second_sweep_into_the_same_directory_is_refused(tmp_path, capsys):
    out = tmp_path / "out"
    with ResultStore(out).lock():
        code, _, stderr = run_cli([*TINY, "--out", str(out)], capsys)
    assert code == 2 and "another process" in stderr and stderr.count("\n") == 1


@pytest.mark.slow
def test_same_numbers_whatever_the_store_held(tmp_path, capsys):
    """The same command prints the same numbers after one model's entry was deleted (it then trains alone)."""
    argv = [*TINY, "--betas", "1,3,relu", "--out", str(tmp_path)]
    assert run_cli(argv, capsys)[0] == 0
    first = read_rows(tmp_path)
    shutil.rmtree(next((tmp_path / "models").glob("????????????????")))
    assert run_cli(argv, capsys)[0] == 0
    second = read_rows(tmp_path)
    for a, b in zip(first, second):
        a.pop("train_seconds"), b.pop("train_seconds")
    assert first == second


@pytest.mark.slow
def test_replaced_data_file_is_retrained_and_diverging_lr_is_flagged(tmp_path, capsys):
    data = write_npz(tmp_path / "data.npz", seed=0)
    argv = [*TINY, "--dataset", f"npz:{data}", "--n-explain", "100", "--out", str(tmp_path / "out")]
    code, stdout, stderr = run_cli(argv, capsys)
    assert code == 0 and "explaining all 16" in stderr
    first = read_rows(tmp_path / "out")
    write_npz(data, seed=1, channels=7)
    code, stdout, stderr = run_cli(argv, capsys)
    assert code == 0 and "skipped" not in stdout, stdout
    assert (tmp_path / "out" / "fig_saliency.png").stat().st_size > 0
    assert [row["ef"] for row in read_rows(tmp_path / "out")] != [row["ef"] for row in first]
    code, _, stderr = run_cli([*argv, "--lr", "1e10"], capsys)
    assert code == 0 and "diverged" in stderr
    assert all(row["diverged"] == "True" and row["ef"] == "nan" for row in read_rows(tmp_path / "out"))


@pytest.mark.slow
def test_concurrent_sweeps_into_one_directory_finish_or_refuse_in_one_line(tmp_path):
    import os
    import subprocess
    import sys

    repo = Path(__file__).resolve().parents[1]
    command = [sys.executable, "-m", "experiments.sweep_beta", *TINY, "--out", str(tmp_path)]
    processes = [subprocess.Popen(command, cwd=repo, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                  env={**os.environ, "PYTHONPATH": str(repo)}) for _ in range(3)]
    results = [(p.wait(timeout=600), p.stderr.read()) for p in processes]
    assert any(code == 0 for code, _ in results), results
    for code, stderr in results:
        if code != 0:
            errors = [line for line in stderr.splitlines() if line.startswith("error:")]
            assert code == 2 and errors and "another process" in errors[0] and "Traceback" not in stderr, stderr
    assert [row["diverged"] for row in read_rows(tmp_path)] == ["False", "False"]
