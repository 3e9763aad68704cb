"""Console scripts (``specxai-sweep`` …) and ``python -m experiments.…`` / ``python -m ntk.…`` land here.

Each first re-runs the process with glibc's malloc on huge pages where that helps (:mod:`.launch`: this
module and that one import only the standard library, so nothing heavy is loaded twice), then runs its
command module's ``main`` with one-line errors (:func:`.validation.cli_entry`).
"""

from __future__ import annotations

import importlib
import sys

from specxai_jax.cli import launch

COMMANDS = {
    "specxai-sweep": "specxai_jax.cli.sweep_beta",
    "specxai-gap": "specxai_jax.cli.explanation_gap",
    "specxai-reproduce": "specxai_jax.cli.reproduce",
    "specxai-report": "specxai_jax.cli.report",
    "specxai-prepare": "specxai_jax.cli.prepare",
    "specxai-verify-lemma1": "specxai_jax.cli.verify_lemma1",
    "specxai-compare-ntk": "specxai_jax.cli.compare_trained",
}
"""Console script → the command module whose ``main(argv)`` it runs."""


def run_command(module_name: str) -> None:
    """Run ``module_name.main(sys.argv[1:])`` as a command: huge pages first, then one-line errors."""
    launch.rerun_with_huge_pages()
    module = importlib.import_module(module_name)
    validation = importlib.import_module("specxai_jax.cli.validation")
    validation.cli_entry(module.main, sys.argv[1:])


def sweep() -> None:
    run_command(COMMANDS["specxai-sweep"])


def gap() -> None:
    run_command(COMMANDS["specxai-gap"])


def reproduce() -> None:
    run_command(COMMANDS["specxai-reproduce"])


def report() -> None:
    run_command(COMMANDS["specxai-report"])


def prepare() -> None:
    run_command(COMMANDS["specxai-prepare"])


def verify_lemma1() -> None:
    run_command(COMMANDS["specxai-verify-lemma1"])


def compare_ntk() -> None:
    run_command(COMMANDS["specxai-compare-ntk"])
