"""sweep_beta's command line: bad input is one line and exit 2; npz and folder datasets run end to end."""

from __future__ import annotations

import csv
import math

import numpy as np
import pytest
from PIL import Image

from specxai_jax.cli import sweep_beta, validation

TINY = ["--betas", "1,relu", "--seeds", "0", "--depth", "2", "--max-epochs", "1", "--n-explain", "8",
        "--batch-size", "16", "--no-progress"]


def run_cli(argv, capsys):
    """(exit code, stderr) of the sweep's entry point."""
    with pytest.raises(SystemExit) as stopped:
        validation.cli_entry(sweep_beta.main, argv)
    return stopped.value.code, capsys.readouterr().err


def write_npz(path, *, n_train=48, n_test=16, size=16, drop=None, labels_train=None):
    rng = np.random.default_rng(0)
    arrays = {"x_train": rng.integers(0, 256, (n_train, size, size, 1), dtype=np.uint8),
              "y_train": np.arange(n_train) % 3 if labels_train is None else labels_train,
              "x_test": rng.integers(0, 256, (n_test, size, size, 1), dtype=np.uint8),
              "y_test": np.arange(n_test) % 3}
    arrays.pop(drop, None)
    np.savez(path, **arrays)
    return path


@pytest.fixture
def bad_npz(tmp_path):
    return {"missing": write_npz(tmp_path / "missing.npz", drop="y_test"),
            "lengths": write_npz(tmp_path / "lengths.npz", labels_train=np.zeros(5, int))}


@pytest.mark.parametrize("args, fragment", [
    (["--betas", "0"], "β must be a positive number"),
    (["--betas", "1,nan"], "β must be a positive number"),
    (["--betas", "-2"], "β must be a positive number"),
    (["--dataset", "imagenet21k"], "unknown dataset"),
    (["--preset", "mnist"], "invalid choice"),
    (["--depth", "6", "--img-size", "32"], "too small for depth 6"),
    (["--lr", "nan"], "must be a positive number"),
    (["--acc-cap", "1.5"], "fraction"),
    (["--dataset", "npz:NPZ_missing"], "lacks array(s) y_test"),
    (["--dataset", "npz:NPZ_lengths"], "5 labels but there are 48 images"),
    (["--dataset", "npz:/nonexistent/data.npz"], "no such file"),
    (["--dataset", "folder:/nonexistent"], "no such directory"),
    (["--devices", "4096"], "4096 devices"),
    (["--no-cap", "--matched-epochs", "3"], "--matched-epochs needs an accuracy cap"),
    (["--matched-epochs", "0"], "--matched-epochs"),
])
def test_bad_input_is_one_line_and_exit_2(args, fragment, bad_npz, tmp_path, capsys):
    args = [a.replace("NPZ_missing", str(bad_npz["missing"])).replace("NPZ_lengths", str(bad_npz["lengths"]))
            for a in args]
    code, err = run_cli([*args, "--out", str(tmp_path / "out")], capsys)
    assert code == 2, err
    assert fragment in err, err
    assert err.startswith("error: ") and err.count("\n") == 1, err


def test_unwritable_out_is_one_line(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("")
    code, err = run_cli(["--out", str(blocker / "out")], capsys)
    assert code == 2 and "cannot write to directory" in err and err.count("\n") == 1, err


def check_outputs(out, expected_betas):
    rows = list(csv.DictReader(open(out / "results.csv")))
    assert [float(r["beta"]) for r in rows] == expected_betas
    for row in rows:
        assert 0.0 <= float(row["test_accuracy"]) <= 1.0 and int(row["epochs"]) == 1
        assert 0.0 < float(row["ef"]) < 1.0 and int(row["n_images"]) == 8
        bins = math.floor(math.hypot(8, 8)) + 1  # radii 0 … ⌊√(8² + 8²)⌋ of a 16 × 16 map
        assert math.isclose(float(row["ef_ref"]) * bins, float(row["ef"]), rel_tol=1e-5)
    for name in ("spectra.csv", "config.json", "report.md", "fig_ef_vs_beta.png", "fig_spectra.png",
                 "fig_accuracy.png", "fig_saliency.png"):
        assert (out / name).stat().st_size > 0, name


def test_npz_dataset_runs_end_to_end(tmp_path, capsys):
    path = write_npz(tmp_path / "data.npz")
    code, err = run_cli(["--dataset", f"npz:{path}", "--img-size", "16", *TINY, "--out", str(tmp_path / "out")], capsys)
    assert code == 0, err
    check_outputs(tmp_path / "out", [1.0, math.inf])


@pytest.mark.slow  # folder loading has fast unit tests (test_data_folder.py); npz runs end to end here
def test_folder_dataset_runs_end_to_end(tmp_path, capsys):
    rng = np.random.default_rng(1)
    for split, count in (("train", 16), ("val", 4)):
        for label in ("cat", "dog", "fox"):
            (tmp_path / "data" / split / label).mkdir(parents=True)
            for i in range(count):
                pixels = rng.integers(0, 256, (20, 20, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(tmp_path / "data" / split / label / f"{i}.png")
    argv = ["--dataset", f"folder:{tmp_path / 'data'}", "--img-size", "16", *TINY, "--out", str(tmp_path / "out")]
    code, err = run_cli(argv, capsys)
    assert code == 0, err
    check_outputs(tmp_path / "out", [1.0, math.inf])
