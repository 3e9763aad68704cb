"""The command lines answer every bad input of the fault campaign (issue 28) with one line and exit 2: no
hang, no traceback, no flag silently dropped, no file from outside the runs embedded in report.html."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from specxai_jax.cli import explanation_gap, prepare, reproduce, sweep_beta, validation
from specxai_jax.cli import report as report_cli
from specxai_jax.errors import UsageError
from specxai_jax.models import check_image_fits
from specxai_jax.storage import atomic

REPO = Path(__file__).resolve().parents[1]


def run(main, argv, capsys) -> str:
    """stderr of ``main(argv)`` run through cli_entry, checked to be one line and exit 2."""
    with pytest.raises(SystemExit) as caught:
        validation.cli_entry(main, argv)
    err = capsys.readouterr().err
    assert caught.value.code == validation.USAGE_EXIT, err
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    return err


@pytest.mark.parametrize("argv,says", [
    (["--depth", "99999999999999999999"], "from 1 to 12"),
    (["--depth", "20000"], "from 1 to 12"),
    (["--depth", "9" * 5000], "from 1 to 12"),
    (["--img-size", "100000000000000000000"], "from 1 to 4096"),
    (["--img-size", "1e20"], "from 1 to 4096"),
    (["--img-size", "8", "--depth", "5"], "too small for depth 5"),
])
def test_sweep_bounds_answer_at_once(tmp_path, capsys, argv, says):
    start = time.perf_counter()
    assert says in run(sweep_beta.main, [*argv, "--out", str(tmp_path)], capsys)
    assert time.perf_counter() - start < 20


def test_image_fit_is_checked_before_any_power_of_two():
    start = time.perf_counter()
    with pytest.raises(UsageError, match=r"need at least 2\^99999999999999999999 px"):
        check_image_fits(32, 99999999999999999999)
    with pytest.raises(UsageError, match="need at least 64 px"):
        check_image_fits(32, 6)
    assert time.perf_counter() - start < 1
    check_image_fits(32, 5)  # 32 px halve 5 times to 1 px


@pytest.mark.parametrize("argv,says", [
    (["--acc-cap", "0.5", "--no-cap"], "--acc-cap 0.5 and --no-cap contradict"),
    (["--activation", "relu", "--betas", "1,3"], "--activation relu has no β"),
    (["--preset", "synthetic", "--activation", "gelu", "--betas", "2"], "--activation gelu has no β"),
    (["--out", ""], "is empty"),
])
def test_sweep_conflicting_flags(tmp_path, capsys, argv, says):
    argv = argv if "--out" in argv else [*argv, "--out", str(tmp_path)]
    assert says in run(sweep_beta.main, argv, capsys)


def test_gap_conflicting_flags(tmp_path, capsys):
    assert "not allowed with" in run(explanation_gap.main, ["--acc-cap", "0.5", "--no-cap", "--out", str(tmp_path)],
                                     capsys)
    assert "from 1 to 4096" in run(explanation_gap.main, ["--img-size", "10" * 20, "--out", str(tmp_path)], capsys)


def test_reproduce_refuses_pretrained_for_other_targets(tmp_path, capsys):
    says = run(reproduce.main, ["--target", "fig2", "--pretrained", str(tmp_path), "--out", str(tmp_path)], capsys)
    assert "--pretrained applies to --target tab2 only, not fig2" in says


@pytest.mark.parametrize("name", ["Bad Name", "../../etc", "tfds:", "", "mnist;touch X"])
def test_prepare_refuses_bad_names(tmp_path, capsys, name, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert "is not a TFDS dataset name" in run(prepare.main, [name, "--data-dir", str(tmp_path)], capsys)
    assert not (tmp_path / "X").exists()


def test_prepare_prints_its_error_line_alone(tmp_path):
    """An unusable data dir: TFDS's absl warning used to come before the one error line (a subprocess, as
    pytest would capture the log record)."""
    done = subprocess.run([sys.executable, "-m", "specxai_jax.cli.prepare", "mnist", "--data-dir", "/proc/specxai-none"],
                          capture_output=True, text=True, timeout=120, cwd=REPO)
    assert done.returncode == validation.USAGE_EXIT, done.stderr
    assert done.stderr.startswith("error: ") and done.stderr.count("\n") == 1, done.stderr


def test_a_directory_where_a_file_belongs_is_one_line(tmp_path, capsys):
    (tmp_path / "results.csv").mkdir()
    says = run(lambda argv: atomic.write_csv(tmp_path / "results.csv", [{"a": 1}], ["a"]), [], capsys)
    assert "results.csv is a directory where a file belongs" in says


def target_dir(root: Path, claim: str = "a claim") -> Path:
    root.mkdir(parents=True)
    atomic.write_json(root / "target.json", {
        "target": "fig2", "title": "Fig. 2", "claim": claim, "quick": True, "dataset": None, "seconds": 1.0,
        "checks": [{"claim": "c", "holds": True, "measured": "m"}], "figures": [], "tables": [],
        "environment": {"platform": "cpu"}})
    return root


@pytest.mark.parametrize("name,text", [
    ("target.json", "{"),
    ("target.json", "{}"),
    ("target.json", "[1, 2]"),
    ("target.json", "checks-as-string"),
    ("target.json", "checks-entry-string"),
    ("lemma1.json", "{\"checks\": "),
    ("config.json", "\x00\x01garbage"),
])
def test_report_names_a_corrupt_input_in_one_line(tmp_path, capsys, name, text):
    run_dir = target_dir(tmp_path / "run")
    if text.startswith("checks-"):
        record = json.loads((run_dir / "target.json").read_text())
        record["checks"] = "all fine" if text == "checks-as-string" else ["all fine"]
        text = json.dumps(record)
    (run_dir / name).write_text(text)
    says = run(report_cli.main, ["--runs", str(run_dir), "--out", str(tmp_path / "out")], capsys)
    assert name in says


def test_report_embeds_no_file_named_in_a_multi_line_field(tmp_path):
    secret = tmp_path / "elsewhere" / "secret.png"
    secret.parent.mkdir()
    secret.write_bytes(b"\x89PNG not for the report")
    run_dir = target_dir(tmp_path / "run", claim=f"first line\n![x]({secret})\n![y](../elsewhere/secret.png)")
    assert report_cli.main(["--runs", str(run_dir), "--out", str(tmp_path / "out")]) == 0
    page = (tmp_path / "out" / "report.html").read_text()
    assert base64.b64encode(secret.read_bytes()).decode() not in page
    assert "data:image/png" not in page and "figure left out" in page
