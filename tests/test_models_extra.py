"""Models: every registry family, PlainCNN against a hand-written forward pass, BN train/eval, checkpoints,
the registry's options and spec parsing."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from specxai_jax import models
from specxai_jax.attribution.core import as_model
from specxai_jax.attribution.gradcam import find_layer
from specxai_jax.models import PlainCNN, init_variables
from specxai_jax.models.registry import FAMILIES, ModelSpec, build_model, parse_model_spec
from specxai_jax.storage.checkpoints import load_variables, save_variables


def small(family, activation="relu"):
    extra = {"dense": 16, "width": 4} if family.startswith("cnn") else ({"width": 4} if family == "resnet" else
                                                                          {"dim": 16, "mlp_dim": 32, "heads": 2})
    return build_model(family, num_classes=5, activation=activation, depth=2, **extra)


@pytest.mark.parametrize("family", [pytest.param(f, marks=pytest.mark.slow) if f in ("cnn-skip", "cnn-bn") else f
                                    for f in FAMILIES])  # cnn-skip-bn has both options
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


@pytest.mark.parametrize("path", sorted(Path(models.__file__).parent.glob("*.py")), ids=lambda path: path.stem)
def test_models_do_not_import_the_explanation_layer(path):
    source = path.read_text()
    assert "attribution" not in source and "specxai_jax.attribution" not in source


def test_importing_every_model_loads_no_explanation_code():
    names = [f"specxai_jax.models.{path.stem}" for path in Path(models.__file__).parent.glob("*.py")]
    code = (f"import importlib, sys; [importlib.import_module(n) for n in {names!r}]; "
            "print(sorted(m for m in sys.modules if m.startswith(('specxai_jax.attribution', 'specxai_jax.attribution'))))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def plain_cnn_by_hand(params, beta, x, depth):
    """L × [conv3×3 SAME, SoftPlus_β, 2×2 max] → dense → SoftPlus_β → head, from lax primitives."""
    def softplus(z):
        return jnp.logaddexp(beta * z, 0.0) / beta

    for i in range(depth):
        layer = params[f"conv{i}"]
        z = lax.conv_general_dilated(x, layer["kernel"], (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"))
        x = lax.reduce_window(softplus(z + layer["bias"]), -jnp.inf, lax.max, (1, 2, 2, 1), (1, 2, 2, 1), "VALID")
    hidden = softplus(x.reshape(x.shape[0], -1) @ params["dense"]["kernel"] + params["dense"]["bias"])
    return hidden @ params["head"]["kernel"] + params["head"]["bias"]


def test_plain_cnn_is_the_papers_net_with_its_checkpoint_names():
    model = PlainCNN(depth=2, width=4, dense=16, num_classes=5, activation="softplus")
    variables = init_variables(model, jax.random.key(0), 3.0, (1, 16, 16, 3))
    assert sorted(variables["params"]) == ["conv0", "conv1", "dense", "head"] and "batch_stats" not in variables
    assert model.gradcam_layer == "conv1" and not model.skip and not model.batch_norm
    x = jax.random.uniform(jax.random.key(1), (2, 16, 16, 3))
    np.testing.assert_allclose(model.apply(variables, x), plain_cnn_by_hand(variables["params"], 3.0, x, 2),
                               rtol=1e-5, atol=1e-6)


def test_plain_cnn_skip_and_batch_norm_add_their_layers():
    model = PlainCNN(depth=2, width=4, dense=16, num_classes=5, activation="relu", skip=True, batch_norm=True)
    variables = init_variables(model, jax.random.key(0), math.inf, (1, 16, 16, 3))
    assert sorted(variables["params"]) == ["bn0", "bn1", "conv0", "conv1", "dense", "head", "skip0", "skip1"]
    assert sorted(variables["batch_stats"]) == ["bn0", "bn1"] and model.gradcam_layer == "bn1"


def test_registry_builds_the_sweeps_conv_nets_and_refuses_unknown_options():
    """The sweep's call: build_model(config.model, num_classes=, activation=, depth=, width=, dense=)."""
    for name, (skip, batch_norm) in {"cnn": (False, False), "cnn-skip": (True, False), "cnn-bn": (False, True),
                                     "cnn-skip-bn": (True, True)}.items():
        model = build_model(name, num_classes=7, activation="gauss", depth=3, width=8, dense=32)
        assert model == PlainCNN(depth=3, width=8, dense=32, num_classes=7, activation="gauss", skip=skip,
                                 batch_norm=batch_norm)
    assert build_model("cnn", num_classes=2) == PlainCNN(num_classes=2, activation="relu")
    for name, options, match in (("resnet", {"dense": 8}, "takes no option dense"),
                                 ("cnn-skip", {"skip": False}, "takes no option skip"),
                                 ("mlp", {}, "unknown model family 'mlp'")):
        with pytest.raises(ValueError, match=match):
            build_model(name, num_classes=3, **options)
    with pytest.raises(ValueError, match="activation"):
        build_model("cnn", num_classes=3, activation="tanh")


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
