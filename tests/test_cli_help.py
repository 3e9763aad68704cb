"""Every entry point's command line: the same flag names for the same settings, and --help shows defaults."""

import argparse
import importlib

import pytest

from specxai_jax.cli import validation

ENTRY_POINTS = ("specxai_jax.cli.sweep_beta", "specxai_jax.cli.explanation_gap", "specxai_jax.cli.reproduce",
                "specxai_jax.cli.report", "specxai_jax.cli.verify_lemma1", "specxai_jax.cli.compare_trained")


def parser_of(module: str) -> argparse.ArgumentParser:
    return importlib.import_module(module).build_parser()


def flags(parser: argparse.ArgumentParser) -> set[str]:
    return {option for action in parser._actions for option in action.option_strings}


@pytest.mark.parametrize("module", ENTRY_POINTS)
def test_every_entry_point_has_one_line_errors_and_shows_its_defaults(module):
    parser = parser_of(module)
    assert isinstance(parser, validation.OneLineArgumentParser)
    shown = [action for action in parser._actions
             if action.option_strings and action.default not in (None, False, argparse.SUPPRESS)]
    for action in shown:
        line = " ".join(parser._get_formatter()._format_action(action).split())
        assert "default: " in line, (module, line)


def test_the_same_setting_has_the_same_flag_everywhere():
    data = {"--dataset", "--data-dir", "--split"}
    runs = {"--out", "--fresh", "--no-progress"}
    sweep, gap, reproduce = (flags(parser_of(f"specxai_jax.cli.{name}"))
                             for name in ("sweep_beta", "explanation_gap", "reproduce"))
    for found in (sweep, gap, reproduce):
        assert data | runs <= found
    assert {"--n-explain", "--lr", "--acc-cap", "--no-cap", "--max-epochs", "--max-train", "--max-test",
            "--img-size", "--depth"} <= sweep & gap
    assert "--quick" in gap & reproduce & flags(parser_of("specxai_jax.cli.verify_lemma1"))
    assert "--n-images" not in parser_of("specxai_jax.cli.explanation_gap").format_help()  # kept as a hidden alias


def test_help_formatter_names_a_default_once_and_never_a_missing_one():
    parser = validation.OneLineArgumentParser(prog="demo")
    parser.add_argument("--depth", type=int, default=3, help="conv blocks")
    parser.add_argument("--out", default="runs", help="where (default: %(default)s)")
    parser.add_argument("--max-train", type=int, help="at most this many")
    parser.add_argument("--fresh", action="store_true", help="recompute")
    text = " ".join(parser.format_help().split())
    assert "conv blocks (default: 3)" in text
    assert text.count("(default: runs)") == 1
    assert "at most this many" in text and "many (default" not in text
    assert "recompute (default" not in text


@pytest.mark.parametrize("argv, n_explain", [(["--n-explain", "7"], 7), (["--n-images", "9"], 9)])
def test_explanation_gap_takes_n_explain_and_its_old_spelling(argv, n_explain, tmp_path):
    from specxai_jax.cli import explanation_gap

    config = explanation_gap.parse_args([*argv, "--out", str(tmp_path)])[0]
    assert config.n_explain == n_explain
