"""User input: each bad value gets one line and exit code 2; Ctrl-C exits 130 saying how to resume."""

import argparse
import math
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from specxai_jax.cli import validation

REPO = Path(__file__).resolve().parents[1]

BAD_VALUES = [
    (validation.positive_float, ["0", "-1e-3", "nan", "inf", "abc", ""]),
    (validation.positive_int, ["0", "-2", "1.5", "two", ""]),
    (validation.nonnegative_int, ["-1", "0.5", "x"]),
    (validation.fraction, ["0", "1.01", "-0.5", "nan", "90%"]),
    (validation.beta_list, ["0", "-1", "nan", "1,abc", "", " , ", "1,3,1.0", "relu,inf", "1e39", "1e308", "1e-46",
                            "1e-39"]),
    (validation.seed_list, ["99999999999999999999999", "4294967296", "-1", "0,0"]),
    (validation.dataset_spec, ["tfds:../../x", "tfds:mnist;rm -rf /", "tfds:", "synthetic:size=16,size=32"]),
]


@pytest.mark.parametrize("check, values", BAD_VALUES, ids=lambda v: getattr(v, "__name__", ""))
def test_bad_values_get_one_line(check, values):
    for value in values:
        with pytest.raises(argparse.ArgumentTypeError) as caught:
            check(value)
        message = str(caught.value)
        assert message and "\n" not in message, (value, message)


def test_good_values_parse():
    assert validation.positive_float("1e-3") == 1e-3
    assert validation.positive_int(" 7 ") == 7 and validation.nonnegative_int("0") == 0
    assert validation.fraction("1") == 1.0 and validation.fraction("0.9") == 0.9
    assert validation.beta_list("1, 3 10,relu") == [1.0, 3.0, 10.0, math.inf]
    assert validation.beta_list("0.5") == [0.5]
    assert validation.beta_list("1e-30,1e30") == [1e-30, 1e30]  # inside float32's normal range
    assert validation.seed_list("0,4294967295") == [0, 2**32 - 1]
    for spec in ("tfds:mnist", "tfds:cifar10/corrupted:3.0.1", "synthetic:size=16,classes=3"):
        assert validation.dataset_spec(spec) == spec


def test_a_flag_value_starting_with_a_dash_says_how_to_write_it(capsys):
    parser = validation.OneLineArgumentParser(prog="x")
    parser.add_argument("--betas", type=validation.beta_list)
    with pytest.raises(SystemExit) as stopped:
        parser.parse_args(["--betas", "-inf"])
    err = capsys.readouterr().err
    assert stopped.value.code == 2 and "--flag=VALUE" in err and err.count("\n") == 1
    with pytest.raises(SystemExit):
        parser.parse_args(["--betas=-inf"])
    assert "β must be a positive number" in capsys.readouterr().err


def test_writable_dir(tmp_path):
    created = validation.writable_dir(str(tmp_path / "a" / "b"))
    assert created.is_dir()
    (tmp_path / "file").write_text("")
    with pytest.raises(argparse.ArgumentTypeError) as caught:
        validation.writable_dir(str(tmp_path / "file" / "out"))  # a file where a directory must go
    assert "choose another" in str(caught.value) and "\n" not in str(caught.value)


SCRIPT = textwrap.dedent("""
    import sys, time
    from specxai_jax.cli import validation
    from specxai_jax.errors import DataError, UsageError

    def main(argv=None):
        parser = validation.OneLineArgumentParser(prog="tiny")
        parser.add_argument("--betas", type=validation.beta_list, default=[1.0])
        parser.add_argument("--acc-cap", type=validation.fraction, default=0.9)
        parser.add_argument("--out", type=validation.writable_dir, default=".")
        parser.add_argument("--raise", dest="kind", default="")
        args = parser.parse_args(argv)
        if args.kind == "usage":
            raise UsageError("depth 5 is too deep for 16-pixel images;\\n use --depth 4 or less")
        if args.kind == "data":
            raise DataError("npz file lacks y_test; save arrays x_train, y_train, x_test, y_test")
        if args.kind == "bug":
            raise RuntimeError("a real bug")
        if args.kind == "interrupt":
            raise KeyboardInterrupt
        if args.kind == "wait":
            print("ready", flush=True)
            time.sleep(60)
        print("ok", args.betas)
        return 0

    validation.cli_entry(main)
""")


def run_tiny(tmp_path, *args):
    script = tmp_path / "tiny.py"
    script.write_text(SCRIPT)
    return subprocess.run([sys.executable, str(script), *args], cwd=tmp_path, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=120)


@pytest.mark.parametrize("args, expected", [
    (["--betas", "1,-3"], "--betas"),
    (["--betas", "nan"], "β must be a positive number"),
    (["--acc-cap", "1.5"], "(0, 1]"),
    (["--out", "tiny.py/sub"], "cannot write to directory"),
    (["--depth", "3"], "unrecognized arguments"),
    (["--raise", "usage"], "too deep for 16-pixel images; use --depth 4"),
    (["--raise", "data"], "npz file lacks y_test"),
])
def test_user_errors_exit_2_with_one_line(tmp_path, args, expected):
    done = run_tiny(tmp_path, *args)
    assert done.returncode == 2, done.stderr
    assert done.stdout == "" and done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith("error: ") and expected in done.stderr


def test_success_and_bugs_are_untouched(tmp_path):
    done = run_tiny(tmp_path, "--betas", "1,relu")
    assert (done.returncode, done.stdout) == (0, "ok [1.0, inf]\n")
    bug = run_tiny(tmp_path, "--raise", "bug")
    assert bug.returncode == 1 and "Traceback" in bug.stderr and "RuntimeError: a real bug" in bug.stderr


def test_keyboard_interrupt_exits_130_saying_how_to_resume(tmp_path):
    done = run_tiny(tmp_path, "--raise", "interrupt")
    assert done.returncode == 130 and done.stderr.count("\n") == 1
    assert "kept" in done.stderr and "resume" in done.stderr


def test_real_sigint_exits_130(tmp_path):
    script = tmp_path / "tiny.py"
    script.write_text(SCRIPT)
    process = subprocess.Popen([sys.executable, str(script), "--raise", "wait"], cwd=tmp_path, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               env={**os.environ, "PYTHONPATH": str(REPO)})
    assert process.stdout.readline() == "ready\n"
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130 and stderr.startswith("interrupted:") and stderr.count("\n") == 1
