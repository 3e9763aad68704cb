"""The sweep's flags are SweepConfig's fields, a preset plus flags is that preset replaced, resolve() applies
its rules, and the store keys are those earlier versions wrote (so stored models stay valid)."""

from __future__ import annotations

import dataclasses
import math
import types

import pytest

from specxai_jax import sweep
from specxai_jax.cli import sweep_beta
from specxai_jax.configs import PRESETS, SweepConfig
from specxai_jax.storage import store
from specxai_jax.storage.store import config_key

DATASET = types.SimpleNamespace(fingerprint="f" * 16)  # only its content fingerprint enters the key


def config_of(*argv: str) -> SweepConfig:
    return sweep_beta.sweep_config(sweep_beta.build_parser().parse_args(list(argv)))


def test_every_setting_has_a_flag_of_its_name():
    flags = {action.dest: action.option_strings for action in sweep_beta.build_parser()._actions}
    for field in dataclasses.fields(SweepConfig):
        assert flags[field.name] == [f"--{field.name.replace('_', '-')}"], field.name


def test_no_flags_give_the_default_config():
    assert config_of() == SweepConfig()


def test_a_preset_plus_flags_is_the_preset_with_those_fields_replaced():
    config = config_of("--preset", "cifar10", "--lr", "0.01", "--seeds", "0,1", "--betas", "2,relu")
    assert config == dataclasses.replace(PRESETS["cifar10"], lr=0.01, seeds=(0, 1), betas=(2.0, math.inf))
    assert (config.preset, config.dataset, config.img_size, config.depth, config.acc_cap, config.max_epochs,
            config.n_explain, config.width) == ("cifar10", "tfds:cifar10", 32, 4, 0.7, 200, 1000, 16)


def test_no_cap_wins_over_acc_cap():
    assert config_of("--acc-cap", "0.5", "--no-cap").acc_cap is None
    assert config_of("--preset", "fashion_mnist", "--no-cap").acc_cap is None
    assert config_of("--acc-cap", "0.5").acc_cap == 0.5


def test_help_shows_the_defaults():
    text = " ".join(sweep_beta.build_parser().format_help().split())
    assert "Adam learning rate (default: 0.001)" in text
    assert "(default: 0.5,1,2,3,5,7,10,20,50,100,relu)" in text
    assert "(default: all)" in text and "(default: runs/sweep_beta)" in text


@pytest.mark.parametrize("activation, betas", [("softplus", (1.0, 3.0, math.inf)), ("gauss", (1.0, 3.0, math.inf)),
                                               ("relu", (math.inf,)), ("gelu", (math.inf,))])
def test_resolve_keeps_beta_only_for_smoothed_activations(activation, betas):
    config = sweep.resolve(SweepConfig(activation=activation, betas=[1, 3.0, math.inf], seeds=[2, 0]))
    assert config.betas == betas and config.seeds == (2, 0)
    assert all(type(beta) is float for beta in config.betas)


def test_resolve_takes_one_explanation_sample_without_noise():
    assert sweep.resolve(SweepConfig(explain_noise=0.0, explain_samples=8)).explain_samples == 1
    assert sweep.resolve(SweepConfig(explain_noise=0.003, explain_samples=8)).explain_samples == 8


def test_resolve_refuses_images_too_small_for_the_depth():
    assert sweep.resolve(SweepConfig(img_size=8, depth=3)).depth == 3
    with pytest.raises(ValueError, match="too small for depth 4"):
        sweep.resolve(SweepConfig(img_size=8, depth=4))


def test_store_key_settings_of_the_default_config():
    assert sweep.model_settings(SweepConfig(), DATASET) == {
        "data": "f" * 16, "format": 2, "img_size": 32, "max_train": None, "max_test": None, "model": "cnn",
        "activation": "softplus", "depth": 3, "width": 16, "dense": 512, "lr": 1e-3, "lr_decay": 0.95,
        "batch_size": 64, "acc_cap": 0.9, "max_epochs": 20, "input_noise": 0.0}


@pytest.mark.parametrize("argv, beta, seed, model_key, explanation_key", [
    ([], math.inf, 0, "6ea5a6bdb351db2e", "275ae712fb5e24e9"),
    (["--preset", "cifar10", "--seeds", "1"], 0.1, 1, "75239017f41b7925", "3e5d486a09d7b3e2"),
])
def test_store_keys_are_those_the_settings_dict_version_wrote(argv, beta, seed, model_key, explanation_key):
    """Model keys written by the sweep before its settings became a SweepConfig (same data fingerprint), so
    stored models are reused; explanation keys of record format 2 (records with ef_raw; format 1 records had
    keys 9d87b7fdd55cfa44 and 7fff7eb172e7994a and are recomputed)."""
    config = sweep.resolve(config_of(*argv))
    assert config_key({**sweep.model_settings(config, DATASET), "beta": beta, "seed": seed}) == model_key
    assert sweep.explain_key(config) == explanation_key


def test_sweep_and_gap_share_the_store_key_scheme():
    settings = {"lr": 1e-3, "depth": 3}
    assert store.model_settings("f" * 16, 2, settings) == {"data": "f" * 16, "format": 2, "lr": 1e-3, "depth": 3}
    assert store.model_key("f" * 16, 2, settings) == config_key({"data": "f" * 16, "format": 2, **settings})
    assert sweep.model_settings(SweepConfig(), DATASET) == store.model_settings(
        "f" * 16, sweep.STORE_FORMAT, {name: getattr(SweepConfig(), name) for name in sweep.MODEL_SETTINGS})


def test_matched_epoch_models_have_their_own_store_keys():
    config = sweep.resolve(SweepConfig(matched_epochs=7))
    matched = sweep.matched_config(config)
    assert (matched.acc_cap, matched.max_epochs) == (None, 7)
    capped_keys = {job.key for job in sweep.model_jobs(config, DATASET)}
    matched_keys = {job.key for job in sweep.model_jobs(matched, DATASET)}
    assert len(capped_keys) == len(matched_keys) == len(config.betas) and not capped_keys & matched_keys


def test_resolve_refuses_matched_epochs_without_a_cap():
    with pytest.raises(ValueError, match="needs an accuracy cap"):
        sweep.resolve(SweepConfig(acc_cap=None, matched_epochs=5))
