"""Every command line is built from the config dataclasses: each field is a flag with help, the flags a
config is written as (configs.to_flags) parse back to that config, and a run's config.json given as
--config reproduces the run's config."""

from __future__ import annotations

import dataclasses
import json
import math

import pytest

from specxai_jax import configs
from specxai_jax.cli import explanation_gap, sweep_beta, validation
from specxai_jax.configs import GAP_QUICK, PRESETS, GapConfig, SweepConfig
from specxai_jax.storage import atomic

SWEEPS = [SweepConfig(), *PRESETS.values(),
          SweepConfig(betas=(0.25, 1.0, math.inf), seeds=(3, 1), acc_cap=None, max_train=100, ef_penalty=(0.0, 0.3),
                      matched_epochs=4, activation="gauss", model="cnn-skip-bn", explain_noise=0.003, split="test")]
GAPS = [GapConfig(), GAP_QUICK, GapConfig(models=("cnn-relu", "vit-gelu"), sigmas=(0.1, 0.7), acc_cap=None, depth=2,
                                          seed=9, max_test=40, smooth_sigma=0.25)]


def sweep_of(argv) -> SweepConfig:
    return sweep_beta.sweep_config(sweep_beta.build_parser().parse_args(argv))


@pytest.mark.parametrize("config", SWEEPS, ids=lambda c: c.preset or "custom")
def test_a_sweep_config_written_as_flags_parses_back_to_itself(config):
    assert sweep_of(configs.to_flags(config, SweepConfig())) == config


@pytest.mark.parametrize("config", GAPS)
def test_a_gap_config_written_as_flags_parses_back_to_itself(config, tmp_path):
    argv = [*configs.to_flags(config, GapConfig()), "--out", str(tmp_path)]
    assert explanation_gap.parse_args(argv)[0] == config


def test_every_field_carries_its_help_and_its_flag_shows_it():
    for cls, parser in ((SweepConfig, sweep_beta.build_parser()), (GapConfig, explanation_gap.build_parser())):
        text = " ".join(parser.format_help().split())
        for field in dataclasses.fields(cls):
            assert field.metadata.get("help"), (cls.__name__, field.name)
            assert f"--{field.name.replace('_', '-')}" in text


def test_a_runs_config_json_given_as_config_reproduces_it_and_flags_override(tmp_path):
    config = SWEEPS[-1]
    path = tmp_path / "config.json"
    atomic.write_json(path, {**dataclasses.asdict(config), "environment": {"jax": "x"}, "score": "log_prob"})
    assert sweep_of(["--config", str(path)]) == config
    assert sweep_of(["--config", str(path), "--lr", "0.01"]) == dataclasses.replace(config, lr=0.01)
    gap_path = tmp_path / "gap.json"
    gap_path.write_text(json.dumps({**dataclasses.asdict(GAPS[-1]), "environment": {}}))
    assert explanation_gap.parse_args(["--config", str(gap_path), "--out", str(tmp_path)])[0] == GAPS[-1]


@pytest.mark.parametrize("content", ["{", "[1, 2]", '{"depth": "three"}', '{"lr": {}}', '{"betas": [1, 1]}',
                                     '{"activation": "tanh"}', '{"lr": -1}'])
def test_an_unreadable_config_file_is_one_line(content, tmp_path, capsys):
    path = tmp_path / "config.json"
    path.write_text(content)
    with pytest.raises(SystemExit) as stopped:
        validation.cli_entry(sweep_beta.main, ["--config", str(path), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert stopped.value.code == 2 and err.count("\n") == 1 and "--config" in err, err
