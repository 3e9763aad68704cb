"""The command-line tools: verify_lemma1 in quick mode, compare_trained on a small synthetic sweep."""

import csv
import json
import math
import subprocess
import sys

import numpy as np
import pytest

from specxai_jax.cli import compare_trained as compare_cli
from specxai_jax.cli import validation
from specxai_jax.cli import verify_lemma1 as verify_cli
from specxai_jax.ntk import verify_lemma1


@pytest.fixture(scope="module")
def lemma1_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("lemma1")
    result = subprocess.run([sys.executable, "-m", "ntk.verify_lemma1", "--quick", "--out", str(out)],
                            capture_output=True, text=True, timeout=600)
    return result, out


@pytest.mark.slow  # the whole --quick run: about a minute on a busy 2-core CPU
def test_verify_lemma1_passes_and_writes_outputs(lemma1_run):
    result, out = lemma1_run
    assert result.returncode == 0, result.stdout + result.stderr
    figure = out / "fig_ntk_eigendecay.png"
    assert figure.stat().st_size > 50_000
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_lemma1_json_has_every_beta_spectrum_and_check(lemma1_run):
    _, out = lemma1_run
    report = json.loads((out / "lemma1.json").read_text())
    assert report["passed"] is True
    for family in verify_lemma1.FAMILIES:
        entries = report["families"][family]
        assert [e["beta"] for e in entries] == list(verify_lemma1.QUICK_BETAS)
        for entry in entries:
            assert len(entry["mercer_eigenvalues"]) == verify_lemma1.Settings.quick().max_degree + 1
            assert {"exponent", "exponent_stderr", "rate", "rate_stderr"} <= set(entry["mercer_fit"])
            for record in entry["checks"].values():
                assert record["passed"] is True and record["error"] <= record["tolerance"]
    assert report["families"]["relu"][0]["beta"] == "inf"
    names = set(report["checks"])
    assert {"mercer_decay_ordered_softplus", "mercer_decay_ordered_gauss", "relu_vs_neural_tangents"} <= names
    assert any(name.startswith("width_convergence_") for name in names)
    # The measured Lemma-1 ordering, read back: tail share grows with β and ReLU's is the largest.
    shares = [e["mercer_tail_share"] for e in report["families"]["softplus"]]
    assert np.all(np.diff(shares) > 0) and report["families"]["relu"][0]["mercer_tail_share"] > shares[-1]


def test_failing_check_gives_nonzero_exit(monkeypatch, tmp_path):
    def failing_run(settings):
        return {"families": {}, "checks": {"x": {"error": 1.0, "tolerance": 0.0, "passed": False}}, "passed": False}

    monkeypatch.setattr(verify_lemma1, "run", failing_run)
    monkeypatch.setattr(verify_lemma1, "eigendecay_figure", lambda report, path: None)
    assert verify_cli.main(["--quick", "--out", str(tmp_path)]) == 1
    assert json.loads((tmp_path / "lemma1.json").read_text())["passed"] is False


def write_sweep(path, rows):
    fields = ["activation", "beta", "seed", "test_accuracy", "epochs", "ef", "ef_std", "ef_ref", "n_images",
              "train_seconds"]
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        for activation, beta, seed, ef in rows:
            writer.writerow({"activation": activation, "beta": beta, "seed": seed, "test_accuracy": 0.7, "epochs": 3,
                             "ef": ef, "ef_std": 0.01, "ef_ref": ef, "n_images": 16, "train_seconds": 1.0})


def test_compare_trained_rank_correlation(tmp_path):
    # EF rising with β (as the paper reports) must give ρ = +1 against the kernel tail share.
    betas = [0.5, 1.0, 3.0, 10.0, "inf"]
    rows = [("softplus", b, s, 0.1 + 0.01 * i + 0.001 * s) for i, b in enumerate(betas) for s in range(2)]
    rows += [("gauss", b, 0, 0.3 - 0.01 * i) for i, b in enumerate([0.5, 5.0, 50.0])]  # falling: ρ = −1
    write_sweep(tmp_path / "results.csv", rows)
    assert compare_cli.main(["--run", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "ntk_vs_ef.json").read_text())
    assert report["spearman_tail_share_vs_ef"]["softplus"]["rho"] == pytest.approx(1.0)
    assert report["spearman_tail_share_vs_ef"]["gauss"]["rho"] == pytest.approx(-1.0)
    relu_row = next(r for r in report["rows"] if r["beta"] == "inf")
    assert relu_row["n_seeds"] == 2 and relu_row["ef_mean"] == pytest.approx(0.1405)
    assert (tmp_path / "fig_ntk_vs_ef.png").stat().st_size > 10_000
    assert not math.isnan(report["rows"][0]["geometric_rate"])


def cli(main, args, capsys):
    """(exit status, stderr) of ``main`` run as its command line runs it (through cli_entry)."""
    with pytest.raises(SystemExit) as exit_:
        validation.cli_entry(main, args)
    return exit_.value.code, capsys.readouterr().err


@pytest.mark.parametrize("args,message", [
    (["--betas", "0"], "β must be a positive number"),
    (["--betas", "0.5,relu"], "finite β only"),
    (["--betas", "2"], "at least two"),
])
def test_verify_lemma1_rejects_bad_betas_in_one_line(args, message, tmp_path, capsys):
    code, stderr = cli(verify_cli.main, [*args, "--out", str(tmp_path)], capsys)
    assert code == 2 and message in stderr
    assert stderr.count("\n") == 1 and stderr.startswith("error:")
    assert not list(tmp_path.iterdir())


def test_compare_trained_rejects_a_run_without_results_in_one_line(tmp_path):
    result = subprocess.run([sys.executable, "-m", "ntk.compare_trained", "--run", str(tmp_path / "missing")],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 2 and "no results.csv" in result.stderr
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error:")


def test_compare_trained_rejects_a_csv_without_the_sweep_columns(tmp_path, capsys):
    (tmp_path / "results.csv").write_text("model,ef\ncnn,0.1\n")
    code, stderr = cli(compare_cli.main, ["--run", str(tmp_path)], capsys)
    assert code == 2 and "lacks the column(s) activation, beta" in stderr


@pytest.mark.parametrize("content,message", [
    (bytes(range(256)) * 4, "is not a text CSV"),
    (b"activation,beta,ef\nsoftplus,1,0.1\ntanh,1,0.2\n", "line 3: unknown activation 'tanh'"),
    (b"activation,beta,ef\nsoftplus,1,nan\n", "no result rows with a finite EF"),
], ids=["binary", "unknown activation", "only diverged"])
def test_compare_trained_rejects_unreadable_results_in_one_line(content, message, tmp_path, capsys):
    (tmp_path / "results.csv").write_bytes(content)
    code, stderr = cli(compare_cli.main, ["--run", str(tmp_path)], capsys)
    assert code == 2 and message in stderr.splitlines()[-1]
    assert stderr.splitlines()[-1].startswith("error:") and "Traceback" not in stderr
    assert not (tmp_path / "ntk_vs_ef.json").exists()


def test_compare_trained_leaves_out_diverged_rows(tmp_path, capsys):
    write_sweep(tmp_path / "results.csv", [("softplus", 1.0, 0, 0.1), ("softplus", 1.0, 1, "nan"),
                                           ("softplus", 3.0, 0, 0.2)])
    assert compare_cli.main(["--run", str(tmp_path)]) == 0
    assert "left out" in capsys.readouterr().err
    rows = json.loads((tmp_path / "ntk_vs_ef.json").read_text())["rows"]
    assert [(r["n_seeds"], r["ef_mean"]) for r in rows] == [(1, 0.1), (1, 0.2)]
