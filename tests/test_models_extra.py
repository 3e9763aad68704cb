"""Extra models: shapes, the PlainCNN equivalence, BN train/eval, checkpoints and spec parsing."""

from __future__ import annotations

import math
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from specxai_jax import models
from specxai_jax.attribution.core import as_model
from specxai_jax.attribution.gradcam import find_layer
from specxai_jax.checkpoints import load_variables, save_variables
from specxai_jax.models import PlainCNN, init_variables
from specxai_jax.models.registry import FAMILIES, ModelSpec, build_model, parse_model_spec


def small(family, activation="relu"):
    extra = {"dense": 16, "width": 4} if family.startswith("cnn") else ({"width": 4} if family == "resnet" else
                                                                          {"dim": 16, "mlp_dim": 32, "heads": 2})
    return build_model(family, num_classes=5, activation=activation, depth=2, **extra)


@pytest.mark.parametrize("family", FAMILIES)
def test_every_family_gives_logits_and_a_gradcam_layer(family):
    model = small(family, "softplus")
    variables = init_variables(model, jax.random.key(0), 2.0, (1, 16, 16, 3))
    x = jax.random.uniform(jax.random.key(1), (2, 16, 16, 3))
    logits = model.apply(variables, x)
    assert logits.shape == (2, 5) and np.isfinite(np.asarray(logits)).all()
    path, feature = find_layer(as_model(model), variables, x, None)
    assert path[-1] == {"resnet": "stage1_block0", "vit": "norm", "cnn-bn": "bn1", "cnn-skip-bn": "bn1"}.get(family,
                                                                                                      "conv1")
    assert feature.ndim == (3 if family == "vit" else 4)
    assert ("batch_stats" in variables) == (family in ("cnn-bn", "cnn-skip-bn", "resnet"))


@pytest.mark.parametrize("name", ["cnn", "cnn_variants", "resnet", "vit", "mlp", "layers", "registry"])
def test_models_do_not_import_the_explanation_layer(name):
    source = (Path(models.__file__).parent / f"{name}.py").read_text()
    assert "specxai_jax.attribution" not in source and "specxai_jax.explain" not in source


def test_plain_convnet_equals_plain_cnn_on_the_same_parameters():
    plain = PlainCNN(depth=2, width=4, dense=16, num_classes=5, activation="softplus")
    variables = init_variables(plain, jax.random.key(0), 3.0, (1, 16, 16, 3))
    x = jax.random.uniform(jax.random.key(1), (2, 16, 16, 3))
    np.testing.assert_allclose(small("cnn", "softplus").apply(variables, x), plain.apply(variables, x), rtol=1e-6,
                               atol=1e-6)


def test_beta_changes_the_function_and_inf_is_relu():
    model, relu_model = small("vit", "softplus"), small("vit", "relu")
    variables = init_variables(model, jax.random.key(0), 1.0, (1, 16, 16, 3))
    x = jax.random.uniform(jax.random.key(1), (2, 16, 16, 3))
    as_relu = {**variables, "constants": {"beta": jnp.asarray(jnp.inf)}}
    np.testing.assert_allclose(model.apply(as_relu, x), relu_model.apply(variables, x), rtol=1e-6)
    assert not np.allclose(model.apply(variables, x), relu_model.apply(variables, x))


def test_batch_norm_train_mode_normalizes_with_batch_statistics():
    model = small("cnn-bn")
    variables = init_variables(model, jax.random.key(0), math.inf, (1, 16, 16, 3))
    x = 5.0 + jax.random.uniform(jax.random.key(1), (4, 16, 16, 3))
    _, updates = model.apply(variables, x, train=True, mutable=["batch_stats"])
    moved = jax.tree.map(lambda a, b: float(jnp.abs(a - b).max()), updates["batch_stats"], variables["batch_stats"])
    assert max(jax.tree.leaves(moved)) > 0


@pytest.mark.parametrize("family", ["resnet", "vit"])
def test_checkpoint_round_trip_gives_the_same_logits(tmp_path, family):
    model = small(family)
    variables = init_variables(model, jax.random.key(0), math.inf, (1, 16, 16, 3))
    save_variables(tmp_path / family, variables, {"family": family})
    loaded, metadata = load_variables(tmp_path / family)
    x = jax.random.uniform(jax.random.key(1), (2, 16, 16, 3))
    assert metadata == {"family": family}
    np.testing.assert_array_equal(model.apply(loaded, x), model.apply(variables, x))


def test_model_specs_parse_and_reject():
    assert parse_model_spec("cnn-softplus:3") == ModelSpec("cnn", "softplus", 3.0)
    assert parse_model_spec("cnn-skip-bn-relu") == ModelSpec("cnn-skip-bn", "relu", math.inf)
    assert parse_model_spec("vit-gelu").name == "vit-gelu"
    assert parse_model_spec("resnet-softplus:10").name == "resnet-softplus:10"
    for bad in ("cnn-softplus", "vit-relu:3", "mlp-relu", "cnn-tanh"):
        with pytest.raises(ValueError):
            parse_model_spec(bad)
