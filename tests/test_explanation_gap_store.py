"""explanation_gap --checkpoint-dir reuses a model only if every setting that changes its numbers, and
the data's content, match; anything else is retrained beside it."""

from __future__ import annotations

import shutil
import types

import jax
import numpy as np
import pytest

from experiments import explanation_gap
from specxai_jax import validation
from specxai_jax.data import load_dataset
from specxai_jax.models import init_variables
from specxai_jax.models.registry import build_model
from specxai_jax.numerics import SpecxaiWarning

BASE = ["--models", "cnn-relu", "--img-size", "8", "--max-train", "64", "--max-test", "16", "--max-epochs", "1"]


def args_of(tmp_path, *extra):
    return explanation_gap.parse_args([*BASE, *extra, "--checkpoint-dir", str(tmp_path / "ckpt"),
                                       "--out", str(tmp_path / "out")])


def data_of(args):
    return load_dataset(args.dataset, img_size=args.img_size, seed=args.seed, max_train=args.max_train,
                        max_test=args.max_test)


@pytest.fixture
def fake_training(monkeypatch):
    """Replace training by a counter returning fresh variables, so reuse decisions are cheap to test."""
    calls = []

    def train(apply_fn, variables, dataset, seeds, config, **kwargs):
        calls.append(config)
        return types.SimpleNamespace(variables=variables, test_accuracy=np.array([0.5 + len(calls) / 100]),
                                     epochs=np.array([1]))

    monkeypatch.setattr(explanation_gap, "train_models", train)
    return calls


def trained(args):
    spec = args.models[0]
    dataset = data_of(args)
    model = build_model(spec.family, num_classes=dataset.num_classes, activation=spec.activation, depth=args.depth)
    return explanation_gap.trained_variables(spec, model, dataset, args)[1]


@pytest.mark.parametrize("changed", [["--lr", "0.05"], ["--max-train", "32"], ["--acc-cap", "0.5"],
                                     ["--max-epochs", "2"], ["--depth", "1"], ["--seed", "1"],
                                     ["--dataset", "synthetic:slope=1"], ["--img-size", "16"]])
def test_any_changed_setting_trains_a_new_model(tmp_path, fake_training, changed):
    first = trained(args_of(tmp_path))
    assert trained(args_of(tmp_path)) == first and len(fake_training) == 1  # same settings: reused
    other = trained(args_of(tmp_path, *changed))
    assert len(fake_training) == 2 and other["key"] != first["key"]
    assert len(list((tmp_path / "ckpt").iterdir())) == 2  # the first model is kept beside the new one


def test_checkpoint_copied_from_other_settings_is_retrained(tmp_path, fake_training):
    trained(args_of(tmp_path, "--lr", "0.05"))
    (source,) = (tmp_path / "ckpt").iterdir()
    wanted = explanation_gap.checkpoint_metadata(args_of(tmp_path).models[0], args_of(tmp_path), data_of(args_of(tmp_path)))
    shutil.copytree(source, tmp_path / "ckpt" / f"cnn-relu-seed0-{wanted['key']}")
    with pytest.warns(SpecxaiWarning, match="other settings"):
        metadata = trained(args_of(tmp_path))
    assert len(fake_training) == 2 and metadata["training"]["lr"] == 1e-3


def test_fingerprint_follows_content_not_name(tmp_path):
    args = args_of(tmp_path)
    spec = args.models[0]
    a = explanation_gap.checkpoint_metadata(spec, args, data_of(args))
    assert explanation_gap.checkpoint_metadata(spec, args, data_of(args)) == a
    dataset = data_of(args)
    changed = type(dataset)(dataset.name, dataset.x_train[::-1].copy(), dataset.y_train[::-1].copy(),
                            dataset.x_test, dataset.y_test, dataset.num_classes)
    assert explanation_gap.checkpoint_metadata(spec, args, changed)["key"] != a["key"]


def test_duplicate_models_are_refused(tmp_path):
    with pytest.raises(validation.UsageError, match="more than once"):
        explanation_gap.parse_args(["--models", "cnn-relu", "cnn-relu", "--out", str(tmp_path)])


def test_loaded_variables_are_the_saved_ones(tmp_path, fake_training):
    args = args_of(tmp_path)
    spec = args.models[0]
    dataset = data_of(args)
    model = build_model(spec.family, num_classes=dataset.num_classes, activation=spec.activation, depth=args.depth)
    saved, _ = explanation_gap.trained_variables(spec, model, dataset, args)
    loaded, _ = explanation_gap.trained_variables(spec, model, dataset, args)
    expected = init_variables(model, jax.random.key(args.seed), spec.beta, (1, *dataset.image_shape))
    for a, b, c in zip(jax.tree.leaves(saved), jax.tree.leaves(loaded), jax.tree.leaves(expected)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
        np.testing.assert_array_equal(np.asarray(b), np.asarray(c))
