"""Fuzzing every command line with generated bad values per flag type (number, list, path, spec string):
each is answered by one ``error:`` line on stderr, no traceback and exit code 2. The commands run in-process
through ``validation.cli_entry``; the experiments themselves are replaced by a stub that fails the test, so
a bad value that is accepted is caught at once instead of starting a run."""

from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from specxai_jax import gap, sweep
from specxai_jax.cli import compare_trained, explanation_gap, prepare, reproduce, sweep_beta, validation, verify_lemma1
from specxai_jax.cli import report as report_cli
from specxai_jax.data import tfds_source
from specxai_jax.reproduction import targets
from specxai_jax.reproduction.report import write_report

FUZZ = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
NOT_A_NUMBER = st.sampled_from(["", " ", "abc", "1,2", "0x10", "1e", "--", "½", "1_0_", "NaN", "nan", "inf", "-inf",
                                "1e999", "+-1", "٣x"])


def not_a_float(text: str) -> bool:
    try:
        return not math.isfinite(float(text))
    except ValueError:
        return True


def not_an_int(text: str) -> bool:
    try:
        int(text.strip())
        return False
    except ValueError:
        return True


BAD_TEXT = st.text(min_size=0, max_size=12)
BAD_POSITIVE = st.one_of(NOT_A_NUMBER, st.floats(max_value=0, allow_nan=False).map(repr),
                         BAD_TEXT.filter(not_a_float))
BAD_FRACTION = st.one_of(BAD_POSITIVE, st.floats(min_value=1.0, exclude_min=True, allow_infinity=False).map(repr))
BAD_NONNEGATIVE = st.one_of(NOT_A_NUMBER, st.floats(max_value=0, exclude_max=True, allow_nan=False,
                                                    allow_infinity=False).map(repr), BAD_TEXT.filter(not_a_float))
BAD_COUNT = st.one_of(NOT_A_NUMBER, st.integers(max_value=0).map(str), st.integers(min_value=10**6, max_value=10**30)
                      .map(lambda n: f"{n}.5"), BAD_TEXT.filter(not_an_int))
BAD_BOUNDED = st.one_of(BAD_COUNT, st.integers(min_value=5000, max_value=10**40).map(str),
                        st.just("9" * 5000))
BAD_BETAS = st.one_of(NOT_A_NUMBER.filter(lambda t: t not in ("inf", "1,2")),
                      st.lists(st.floats(max_value=0, allow_nan=False).map(repr), min_size=1, max_size=3).map(",".join),
                      st.just("1,1"), st.just("relu,inf"), st.just("1e39"), st.just(",,"))
BAD_SIGMAS = st.one_of(NOT_A_NUMBER.filter(lambda t: t != "1,2"),
                       st.lists(st.floats(max_value=0, allow_nan=False).map(repr), min_size=1, max_size=3).map(",".join),
                       st.just("0.1,0.1"), st.just(",,"))
BAD_SEEDS = st.one_of(st.just(""), st.just("0,0"), st.integers(max_value=-1).map(str),
                      st.integers(min_value=2**32).map(str), BAD_TEXT.filter(lambda t: any(not_an_int(i) for i in
                                                                                               t.replace(",", " ").split())))
BAD_SPEC = st.one_of(st.sampled_from(["", "tfds:", "tfds:../../etc", "tfds:Bad Name", "tfds:mnist;touch X", "npz:",
                                      "folder:", "permuted:", "permuted:permuted:synthetic", "imagenet",
                                      "synthetic:size=1", "synthetic:size=16,size=32", "synthetic:bogus=1",
                                      "synthetic:classes=0", "synthetic:size=1e20"]),
                     BAD_TEXT.filter(lambda t: t.partition(":")[0].strip() not in ("synthetic", "tfds", "npz", "folder",
                                                                                  "permuted")))
BAD_MODELS = st.one_of(st.sampled_from(["", "cnn", "cnn-nope", "mlp-relu:0", "cnn-softplus:-1", "cnn-relu,cnn-relu"]),
                       BAD_TEXT.filter(lambda t: "-" not in t))

# command → (its main, the fixed flags it needs, {flag: strategy of bad values})
COMMANDS = {
    "sweep_beta": (sweep_beta.main, [], {
        "--lr": BAD_POSITIVE, "--acc-cap": BAD_FRACTION, "--lr-decay": BAD_FRACTION, "--input-noise": BAD_NONNEGATIVE,
        "--explain-noise": BAD_NONNEGATIVE, "--depth": BAD_BOUNDED, "--img-size": BAD_BOUNDED, "--width": BAD_COUNT,
        "--batch-size": BAD_COUNT, "--max-epochs": BAD_COUNT, "--n-explain": BAD_COUNT, "--betas": BAD_BETAS,
        "--seeds": BAD_SEEDS, "--dataset": BAD_SPEC, "--devices": BAD_COUNT}),
    "explanation_gap": (explanation_gap.main, [], {
        "--lr": BAD_POSITIVE, "--acc-cap": BAD_FRACTION, "--img-size": BAD_BOUNDED, "--depth": BAD_BOUNDED,
        "--samples": BAD_COUNT, "--ig-steps": BAD_COUNT, "--smooth-sigma": BAD_POSITIVE, "--sigmas": BAD_SIGMAS,
        "--seed": BAD_SEEDS.filter(lambda t: "," not in t), "--dataset": BAD_SPEC, "--models": BAD_MODELS}),
    "reproduce": (reproduce.main, ["--target", "fig2"], {"--input-noise": BAD_NONNEGATIVE, "--dataset": BAD_SPEC}),
    "verify_lemma1": (verify_lemma1.main, [], {"--betas": BAD_BETAS}),
}


@pytest.fixture
def stubbed(monkeypatch):
    """Every experiment replaced by a stub that fails: a bad value must be refused before any run starts."""

    def accepted(*args, **kwargs):
        raise AssertionError(f"a bad value was accepted and the run started: {args!r:.200}")

    for owner, name in ((sweep, "run"), (gap, "run"), (targets, "reproduce"), (report_cli, "write_report"),
                        (tfds_source, "get_builder"), (verify_lemma1, "verify"), (compare_trained, "compare")):
        monkeypatch.setattr(owner, name, accepted)


def refused(main, argv, capsys) -> None:
    """``main(argv)`` through cli_entry: exit 2 and one ``error:`` line on stderr, no traceback."""
    capsys.readouterr()
    with pytest.raises(SystemExit) as caught:
        validation.cli_entry(main, argv)
    err = capsys.readouterr().err
    assert caught.value.code == validation.USAGE_EXIT, (argv, err)
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err, (argv, err)


CASES = [(command, flag) for command, (_, _, flags) in COMMANDS.items() for flag in flags]


@pytest.mark.parametrize("command,flag", CASES, ids=[f"{c}{f}" for c, f in CASES])
def test_bad_flag_values_are_one_line(command, flag, stubbed, capsys, tmp_path_factory):
    main, fixed, flags = COMMANDS[command]
    out = str(tmp_path_factory.mktemp("out"))

    @FUZZ
    @given(value=flags[flag])
    def check(value):
        refused(main, [*fixed, f"{flag}={value}", "--out", out], capsys)

    check()


BAD_PATHS = ["", "/proc/none/x", "/dev/null/sub", "\x00", "a" * 5000]


@pytest.mark.parametrize("main,fixed", [(sweep_beta.main, []), (explanation_gap.main, []),
                                        (reproduce.main, ["--target", "fig2"]), (verify_lemma1.main, []),
                                        (report_cli.main, ["--runs", "."])])
@pytest.mark.parametrize("path", BAD_PATHS, ids=["empty", "proc", "under-a-file", "nul", "too-long"])
def test_bad_output_directories_are_one_line(main, fixed, path, stubbed, capsys):
    refused(main, [*fixed, f"--out={path}"], capsys)


@pytest.mark.parametrize("runs", [["/proc/none"], [""], ["/dev/null"]])
def test_bad_run_directories_are_one_line(runs, stubbed, capsys, tmp_path, monkeypatch):
    monkeypatch.setattr(report_cli, "write_report", write_report)  # it refuses a run directory before writing
    refused(report_cli.main, ["--runs", *runs, "--out", str(tmp_path)], capsys)
    refused(compare_trained.main, ["--run", runs[0], "--out", str(tmp_path)], capsys)


@FUZZ
@given(name=st.one_of(st.sampled_from(["Bad Name", "../../etc", "tfds:", "", "mnist;touch X", "a/b/c/d", "MNIST"]),
                      BAD_TEXT.filter(lambda t: not validation.TFDS_NAME.fullmatch(t.strip().removeprefix("tfds:")))))
def test_prepare_refuses_bad_names(name, stubbed, capsys):
    refused(prepare.main, [name], capsys)
