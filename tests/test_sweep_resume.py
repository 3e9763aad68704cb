"""End to end: a sweep killed after its first model resumes from its checkpoints and ends where an
uninterrupted run ends; a truncated checkpoint is detected and recomputed."""

import csv
import math
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

ARGS = ["--dataset", "synthetic:size=16,n_train=256,n_test=128", "--betas", "1,3,relu", "--seeds", "0",
        "--depth", "2", "--max-epochs", "3", "--n-explain", "32"]
IGNORED_COLUMNS = {"train_seconds"}
TIMEOUT = 600


def sweep_command(out):
    return [sys.executable, "-m", "experiments.sweep_beta", *ARGS, "--out", str(out)]


def run_sweep(out):
    done = subprocess.run(sweep_command(out), cwd=REPO, capture_output=True, text=True, timeout=TIMEOUT,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


def read_results(out):
    with open(Path(out) / "results.csv", newline="") as stream:
        reader = csv.DictReader(stream)
        return reader.fieldnames, list(reader)


def as_number(text):
    try:
        return float(text)
    except ValueError:
        return None


def assert_same_results(out, reference):
    columns, rows = read_results(out)
    expected_columns, expected_rows = read_results(reference)
    assert columns == expected_columns
    assert len(rows) == len(expected_rows)
    for row, expected in zip(rows, expected_rows):
        for name in columns:
            if name in IGNORED_COLUMNS:
                continue
            value, wanted = as_number(row[name]), as_number(expected[name])
            if value is None or wanted is None or math.isinf(wanted) or math.isnan(wanted):
                assert row[name] == expected[name], (name, row, expected)
            else:
                assert value == pytest.approx(wanted, rel=1e-6, abs=1e-12), (name, row, expected)


def skipped_count(output):
    counts = [int(n) for n in re.findall(r"skipped \w+ (\d+) of \d+ models", output)]
    return max(counts, default=0)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    out = tmp_path_factory.mktemp("uninterrupted")
    run_sweep(out)
    return out


def test_killed_sweep_resumes_to_the_same_results(tmp_path, reference):
    out = tmp_path / "killed"
    process = subprocess.Popen(sweep_command(out), cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               env={**os.environ, "PYTHONPATH": str(REPO)})
    deadline = time.monotonic() + TIMEOUT
    while not list((out / "models").glob("*/checkpoint")) and process.poll() is None:
        assert time.monotonic() < deadline, "no checkpoint appeared"
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    output = run_sweep(out)
    assert skipped_count(output) >= 1, output
    assert_same_results(out, reference)


@pytest.mark.slow  # store integrity has fast unit tests (test_store_integrity.py)
def test_truncated_checkpoint_is_detected_and_recomputed(tmp_path, reference):
    out = tmp_path / "damaged"
    run_sweep(out)
    checkpoint = sorted((out / "models").glob("*/checkpoint"))[0]
    largest = max((p for p in checkpoint.rglob("*") if p.is_file()), key=lambda p: p.stat().st_size)
    largest.write_bytes(largest.read_bytes()[: largest.stat().st_size // 2])
    output = run_sweep(out)
    assert "corrupt checkpoint" in output and "recomputed" in output, output
    assert str(checkpoint) in output or checkpoint.parent.name in output, output
    assert_same_results(out, reference)


def test_results_name_their_store_entries_and_checks_are_data(reference):
    from scipy.stats import spearmanr

    from specxai_jax.results import ModelResult, columns, read_checks

    names, rows = read_results(reference)
    assert names == ["activation", "beta", "seed", "test_accuracy", "epochs", "ef", "ef_std", "ef_ref", "n_images",
                     "train_seconds", "reached_cap", "dead_maps", "diverged", "store_key", "score", "ef_raw", "ef_penalty"] \
        == columns(ModelResult)
    assert all((Path(reference) / "models" / row["store_key"] / "checkpoint").is_dir() for row in rows)
    checks = read_checks(Path(reference) / "checks.json")
    report = (Path(reference) / "report.md").read_text()
    assert checks and all(f"| {check.claim} |" in report for check in checks)
    capped = [row for row in rows if row["reached_cap"] == "True"]
    (rho_check,) = [check for check in checks if check.claim.startswith("seed 0: EF rises with β")]
    if len({row["beta"] for row in capped}) >= 3:
        rho = spearmanr([float(r["beta"]) for r in capped], [float(r["ef"]) for r in capped]).statistic
        assert rho_check.holds == (rho >= 0.9) and f"ρ = {rho:.3f}" in rho_check.measured
    else:
        assert rho_check.holds is None and rho_check.inconclusive
