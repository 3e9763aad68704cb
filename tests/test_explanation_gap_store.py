"""specxai_jax.gap with a checkpoint_dir reuses a stored model only if every setting that changes its
numbers, and the data's content, match; anything else is trained beside it. fresh retrains."""

from __future__ import annotations

import dataclasses
import shutil
import types

import jax
import numpy as np
import pytest

from specxai_jax import gap
from specxai_jax.configs import GapConfig
from specxai_jax.data import load_dataset
from specxai_jax.errors import SpecxaiWarning
from specxai_jax.models import init_variables
from specxai_jax.models.registry import build_model, parse_model_spec
from specxai_jax.storage.store import KEY_PATTERN, ResultStore, config_key

BASE = GapConfig(models=("cnn-relu",), img_size=8, max_train=64, max_test=16, max_epochs=1)


def data_of(config):
    return load_dataset(config.dataset, img_size=config.img_size, seed=config.seed, max_train=config.max_train,
                        max_test=config.max_test)


def entries(root):
    """Names of the model entries in a store (its lock file is not one)."""
    return sorted(path.name for path in (root / "models").iterdir() if KEY_PATTERN.fullmatch(path.name))


@pytest.fixture
def fake_training(monkeypatch):
    """Replace training by a counter returning fresh variables, so reuse decisions are cheap to test."""
    calls = []

    def train(apply_fn, variables, dataset, seeds, config, **kwargs):
        calls.append(config)
        return types.SimpleNamespace(variables=variables, test_accuracy=np.array([0.5 + len(calls) / 100]),
                                     epochs=np.array([1]))

    monkeypatch.setattr(gap, "train_models", train)
    return calls


def trained(config, root):
    """(variables, metadata, reused) of the config's first model, stored under ``root``."""
    spec = parse_model_spec(config.models[0])
    dataset = data_of(config)
    model = build_model(spec.family, num_classes=dataset.num_classes, activation=spec.activation, depth=config.depth)
    return gap.trained_variables(spec, model, dataset, config, ResultStore(root))


@pytest.mark.parametrize("changed", [dict(lr=0.05), dict(max_train=32), dict(acc_cap=0.5), dict(max_epochs=2),
                                     dict(depth=1), dict(seed=1), dict(dataset="synthetic:slope=1"),
                                     dict(img_size=16)])
def test_any_changed_setting_trains_a_new_model(tmp_path, fake_training, changed):
    _, first, reused = trained(BASE, tmp_path)
    assert not reused
    _, again, reused = trained(BASE, tmp_path)
    assert reused and again == first and len(fake_training) == 1  # same settings: reused
    _, other, reused = trained(dataclasses.replace(BASE, **changed), tmp_path)
    assert not reused and len(fake_training) == 2 and other["key"] != first["key"]
    assert entries(tmp_path) == sorted([first["key"], other["key"]])  # the first model is kept beside the new one


def test_checkpoint_copied_from_other_settings_is_retrained(tmp_path, fake_training):
    trained(dataclasses.replace(BASE, lr=0.05), tmp_path)
    (source,) = entries(tmp_path)
    spec = parse_model_spec("cnn-relu")
    wanted = config_key(gap.checkpoint_settings(spec, BASE, data_of(BASE)))
    shutil.copytree(tmp_path / "models" / source, tmp_path / "models" / wanted)
    with pytest.warns(SpecxaiWarning, match="another entry"):
        _, metadata, reused = trained(BASE, tmp_path)
    assert not reused and len(fake_training) == 2 and metadata["training"]["lr"] == 1e-3


def test_stored_model_of_other_settings_under_the_right_key_is_retrained(tmp_path, fake_training):
    """A model whose metadata names other settings (say, an older code) is not used even in its entry."""
    spec = parse_model_spec("cnn-relu")
    settings = gap.checkpoint_settings(spec, BASE, data_of(BASE))
    variables, _, _ = trained(BASE, tmp_path)
    ResultStore(tmp_path).save_checkpoint(config_key(settings), variables,
                                          {**settings, "format": 1, "test_accuracy": 0.5, "epochs": 1})
    with pytest.warns(SpecxaiWarning, match="other settings"):
        _, metadata, reused = trained(BASE, tmp_path)
    assert not reused and metadata["format"] == gap.CHECKPOINT_FORMAT


def test_fingerprint_follows_content_not_name():
    spec = parse_model_spec("cnn-relu")
    a = gap.checkpoint_settings(spec, BASE, data_of(BASE))
    assert gap.checkpoint_settings(spec, BASE, data_of(BASE)) == a
    dataset = data_of(BASE)
    changed = type(dataset)(dataset.name, dataset.x_train[::-1].copy(), dataset.y_train[::-1].copy(),
                            dataset.x_test, dataset.y_test, dataset.num_classes)
    assert config_key(gap.checkpoint_settings(spec, BASE, changed)) != config_key(a)


def test_loaded_variables_are_the_saved_ones(tmp_path, fake_training):
    saved, _, _ = trained(BASE, tmp_path)
    loaded, _, reused = trained(BASE, tmp_path)
    assert reused
    dataset = data_of(BASE)
    model = build_model("cnn", num_classes=dataset.num_classes, activation="relu")
    expected = init_variables(model, jax.random.key(BASE.seed), float("inf"), (1, *dataset.image_shape))
    for a, b, c in zip(jax.tree.leaves(saved), jax.tree.leaves(loaded), jax.tree.leaves(expected)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
        np.testing.assert_array_equal(np.asarray(b), np.asarray(c))


@pytest.fixture
def no_explaining(monkeypatch):
    """Replace the explanation by NaN rows (read as diverged), so runs only train, store and write."""
    def rows_of(spec, model, variables, images, config):
        rows, sweep = gap.diverged_rows(spec, len(images), config.sigmas)
        return rows, {}, sweep

    monkeypatch.setattr(gap, "explain_model", rows_of)


def test_run_reuses_stored_models_and_fresh_retrains(tmp_path, fake_training, no_explaining, capsys):
    config = dataclasses.replace(BASE, checkpoint_dir=str(tmp_path / "ckpt"), n_explain=2, sigmas=(0.1,),
                                 samples=2, ig_steps=2)
    gap.run(config, tmp_path / "out", progress=False)
    gap.run(config, tmp_path / "out", progress=False)
    assert len(fake_training) == 1 and "skipped training 1 of 1 models" in capsys.readouterr().out
    gap.run(config, tmp_path / "out", progress=False, fresh=True)
    assert len(fake_training) == 2 and len(entries(tmp_path / "ckpt")) == 1


def test_without_a_checkpoint_dir_nothing_is_kept(tmp_path, fake_training, no_explaining):
    config = dataclasses.replace(BASE, n_explain=2, sigmas=(0.1,), samples=2, ig_steps=2)
    gap.run(config, tmp_path / "out", progress=False)
    gap.run(config, tmp_path / "out", progress=False)
    assert len(fake_training) == 2 and not (tmp_path / "out" / "models").exists()


def test_gap_models_keep_the_keys_of_their_own_scheme_in_the_store_scheme():
    """The key of a gap model is the one its own settings dict (the scheme before the store owned it) gave,
    so stored gap checkpoints still resolve."""
    spec = parse_model_spec("cnn-relu")
    dataset = types.SimpleNamespace(fingerprint="f" * 16)
    before = {"model": "cnn-relu", "data": "f" * 16, "img_size": 8, "depth": None, "seed": 0, "format": 2,
              "training": dataclasses.asdict(gap.training_config(BASE))}
    assert config_key(gap.checkpoint_settings(spec, BASE, dataset)) == config_key(before)
