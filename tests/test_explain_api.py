"""The explainer interface: compiled once, any model (linen, NNX, plain function), explicit keys,
the same ``score=`` everywhere, GradCAM by layer name (conv maps and ViT tokens), clear refusals."""

from __future__ import annotations

import math

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from specxai_jax import spectral
from specxai_jax.attribution import METHODS, explain, make_explainer
from specxai_jax.attribution.core import as_model
from specxai_jax.attribution.gradcam import find_layer
from specxai_jax.models import PlainCNN, init_variables
from specxai_jax.models.hf_vit import ViTForImageClassification
from specxai_jax.models.registry import build_model

X = jax.random.uniform(jax.random.key(1), (4, 8, 8, 3))


class SmallCNN(nn.Module):
    @nn.compact
    def __call__(self, x):
        x = nn.max_pool(nn.relu(nn.Conv(4, (3, 3))(x)), (2, 2), strides=(2, 2))
        x = nn.relu(nn.Conv(6, (3, 3))(x))
        return nn.Dense(3)(x.reshape(x.shape[0], -1))


@pytest.fixture(scope="module")
def small():
    model = SmallCNN()
    return model, model.init(jax.random.key(0), X[:1])


class CompileCounter:
    """Counts XLA compilations through jax.monitoring while active."""

    EVENT = "/jax/core/compile/backend_compile_duration"

    def __init__(self):
        self.count = 0

    def __call__(self, event, duration, **kwargs):
        self.count += event == self.EVENT

    def __enter__(self):
        jax.monitoring.register_event_duration_secs_listener(self)
        return self

    def __exit__(self, *exc):
        jax.monitoring.unregister_event_duration_listener(self)


def test_second_explain_call_with_the_same_shapes_does_not_compile(small):
    model, variables = small
    other = (X + 0.1).block_until_ready()
    with CompileCounter() as first:
        explain("integrated_gradients", model, variables, X, steps=8).block_until_ready()
    with CompileCounter() as second:
        explain("integrated_gradients", model, variables, other, steps=8).block_until_ready()
    assert first.count >= 1 and second.count == 0


def test_explainer_is_compiled_once_and_takes_array_options_per_call(small):
    model, variables = small
    explainer = make_explainer("smooth_grad", model, sigma=0.1, samples=2)
    with CompileCounter() as first:
        maps = [explainer(variables, X, key=jax.random.key(0))]
    with CompileCounter() as later:
        maps += [explainer(variables, X, key=jax.random.key(seed)) for seed in (1, 0)]
    assert first.count >= 1 and later.count == 0
    np.testing.assert_array_equal(maps[0], maps[2])
    assert not np.allclose(maps[0], maps[1])


def test_smooth_grad_noise_depends_on_the_image_index_not_the_batch(small):
    model, variables = small
    options = dict(sigma=0.1, samples=3, key=jax.random.key(7))
    whole = explain("smooth_grad", model, variables, X, **options)
    halves = [explain("smooth_grad", model, variables, X[i:i + 2], index=jnp.arange(i, i + 2), **options)
              for i in (0, 2)]
    np.testing.assert_allclose(np.concatenate(halves), whole, rtol=1e-6)


@pytest.mark.parametrize("method,options", [("smooth_grad", {}), ("vanilla_grad", {"noise_std": 0.01})])
def test_methods_that_draw_noise_need_an_explicit_key(small, method, options):
    model, variables = small
    with pytest.raises(ValueError, match="key=jax.random.key"):
        explain(method, model, variables, X, **options)


@pytest.mark.parametrize("method", sorted(METHODS))
def test_score_is_accepted_and_checked_the_same_way_by_every_method(small, method):
    model, variables = small
    extra = {"key": jax.random.key(0)} if method == "smooth_grad" else {}
    assert explain(method, model, variables, X, score="logit", **extra).shape == X.shape
    with pytest.raises(ValueError, match="unknown score 'margin'"):
        explain(method, model, variables, X, score="margin", **extra)


def test_a_plain_function_of_params_and_x(small):
    model, variables = small

    def f(params, x):
        return model.apply({"params": params}, x)

    target = jnp.array([0, 1, 2, 0])
    expected = jax.grad(lambda u: jax.nn.log_softmax(f(variables["params"], u))[jnp.arange(4), target].sum())(X)
    np.testing.assert_allclose(explain("vanilla_grad", f, variables["params"], X, target), expected, rtol=1e-6)
    np.testing.assert_allclose(explain("guided_backprop", f, variables["params"], X, target),
                               explain("guided_backprop", model, variables, X, target), rtol=1e-6)
    with pytest.raises(ValueError, match="gradcam on a plain function needs features="):
        explain("gradcam", f, variables["params"], X)


class NNXNet(nnx.Module):
    def __init__(self, rngs):
        self.hidden = nnx.Linear(8 * 8 * 3, 6, rngs=rngs)
        self.out = nnx.Linear(6, 3, rngs=rngs)

    def __call__(self, x):
        return self.out(nnx.relu(self.hidden(x.reshape(x.shape[0], -1))))


def test_an_nnx_module_with_its_own_state():
    model = NNXNet(nnx.Rngs(0))
    target = jnp.array([2, 1, 0, 0])
    expected = jax.grad(lambda u: jax.nn.log_softmax(model(u))[jnp.arange(4), target].sum())(X)
    np.testing.assert_allclose(explain("vanilla_grad", model, None, X, target), expected, rtol=1e-6)
    np.testing.assert_allclose(explain("vanilla_grad", model, nnx.state(model), X, target), expected, rtol=1e-6)
    assert explain("deeplift", model, None, X, target).shape == X.shape


class TinyViT(nn.Module):
    """Patch embedding → [class token; tokens] → Dense → LayerNorm "norm" → class-token head."""

    @nn.compact
    def __call__(self, x):
        patches = nn.Conv(8, (2, 2), (2, 2), padding="VALID")(x)
        tokens = patches.reshape(x.shape[0], -1, 8)
        cls = jnp.broadcast_to(self.param("cls", nn.initializers.normal(1.0), (1, 1, 8)), (x.shape[0], 1, 8))
        tokens = nn.gelu(nn.Dense(8)(jnp.concatenate([cls, tokens], axis=1)))
        tokens = self.perturb("tokens", nn.LayerNorm(name="norm")(tokens))
        return nn.Dense(3)(tokens[:, 0] + tokens[:, 1:].mean(axis=1))


def test_gradcam_on_token_maps_drops_the_class_token_and_arranges_a_grid():
    model = TinyViT()
    variables = {"params": model.init(jax.random.key(0), X[:1])["params"]}
    target = jnp.array([0, 1, 2, 1])
    tokens = model.apply(variables, X, capture_intermediates=True, mutable=["intermediates"])[1]
    tokens = tokens["intermediates"]["norm"]["__call__"][0]
    _, state = model.apply(variables, X, mutable=["perturbations"])

    def explained(perturbations):
        logits = model.apply({**variables, "perturbations": perturbations}, X)
        return jax.nn.log_softmax(logits)[jnp.arange(4), target].sum()

    grads = jax.grad(explained)(state["perturbations"])["tokens"]
    grid = lambda t: t[:, 1:].reshape(4, 4, 4, 8)  # noqa: E731  (B, 1 + 16, D) → (B, 4, 4, D)
    cam = jax.nn.relu((grid(grads).mean(axis=(1, 2), keepdims=True) * grid(tokens)).sum(-1))
    expected = np.repeat(np.repeat(np.asarray(cam), 2, axis=1), 2, axis=2)   # nearest ×2
    mine = explain("gradcam", model, variables, X, target, layer="norm")
    np.testing.assert_allclose(mine, np.broadcast_to(expected[..., None], X.shape), rtol=1e-5, atol=1e-7)


def test_gradcam_default_layer_is_the_models_gradcam_layer_else_its_last_map(small):
    """A Hugging Face ViT's last map outputs (``vit``, ``vit/layernorm``) reach its logits only through the
    class token, so their patch tokens have zero gradient; by default GradCAM reads ``gradcam_layer``."""
    vit = ViTForImageClassification(hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32,
                                    image_size=8, patch_size=2, num_labels=3)
    variables = vit.init(jax.random.key(0), X[:1])
    target = jnp.array([0, 1, 2, 1])
    default = np.asarray(explain("gradcam", vit, variables, X, target, relu=False))
    np.testing.assert_array_equal(default, explain("gradcam", vit, variables, X, target, relu=False,
                                                   layer=vit.gradcam_layer))
    assert np.abs(default).max() > 0
    for last_map in ("vit", "vit/layernorm"):
        assert np.abs(np.asarray(explain("gradcam", vit, variables, X, target, relu=False, layer=last_map))).max() == 0
    model, variables = small
    assert find_layer(as_model(model), variables, X, None)[0] == ("Conv_1",)


def test_gradcam_names_the_layers_it_could_use(small):
    model, variables = small
    with pytest.raises(ValueError, match="Conv_0, Conv_1"):
        explain("gradcam", model, variables, X, layer="Conv_9")


def test_every_method_runs_on_the_default_plain_cnn():
    """The README's model as built there: all METHODS, LRP at β = inf (SoftPlus → ReLU)."""
    model = PlainCNN()
    variables = init_variables(model, jax.random.key(0), math.inf, (1, 8, 8, 3))
    options = {"smooth_grad": dict(key=jax.random.key(1), samples=2), "integrated_gradients": dict(steps=4)}
    for method in METHODS:
        maps = np.asarray(explain(method, model, variables, X, **options.get(method, {})))
        assert maps.shape == X.shape and np.isfinite(maps).all() and np.abs(maps).max() > 0, method


def inline_argmax_pool(x):
    """2×2 max pooling written inline as one argmax per window (no call a rule could recognize)."""
    batch, height, width, channels = x.shape
    windows = x.reshape(batch, height // 2, 2, width // 2, 2, channels).transpose(0, 1, 3, 5, 2, 4)
    windows = windows.reshape(batch, height // 2, width // 2, channels, 4)
    winner = jnp.argmax(jax.lax.stop_gradient(windows), axis=-1)[..., None] == jnp.arange(4)
    return jnp.where(winner, windows, 0).sum(-1)


class InlinePoolCNN(nn.Module):
    @nn.compact
    def __call__(self, x):
        x = inline_argmax_pool(nn.relu(nn.Conv(4, (3, 3))(x)))
        return nn.Dense(3)(x.reshape(x.shape[0], -1))


def test_deeplift_refuses_a_pooling_it_does_not_recognize():
    model = InlinePoolCNN()
    variables = model.init(jax.random.key(0), X[:1])
    with pytest.raises(ValueError, match="deeplift has no rule for argmax"):
        explain("deeplift", model, variables, X)
    assert explain("guided_backprop", model, variables, X).shape == X.shape


def test_lrp_refuses_a_smooth_activation_whose_beta_is_traced():
    model = build_model("cnn", num_classes=3, activation="softplus", depth=2, width=4, dense=16)
    relu_like = init_variables(model, jax.random.key(0), math.inf, (1, 8, 8, 3))
    assert np.isfinite(np.asarray(explain("lrp", model, relu_like, X))).all()
    with pytest.raises(ValueError, match="ReLU"):
        explain("lrp", model, init_variables(model, jax.random.key(0), 2.0, (1, 8, 8, 3)), X)


def test_unknown_methods_and_options_are_one_line_errors(small):
    model, variables = small
    with pytest.raises(ValueError, match="unknown method"):
        explain("saliency", model, variables, X)
    with pytest.raises(ValueError, match="takes the options"):
        explain("vanilla_grad", model, variables, X, sigma=0.1)


def test_spectral_refuses_a_channel_axis():
    maps = jax.random.uniform(jax.random.key(0), (2, 16, 16, 3))
    for fn in (spectral.expected_frequency, spectral.radial_power_spectrum):
        with pytest.raises(ValueError, match="channel axis"):
            fn(maps)
    assert spectral.expected_frequency(maps.sum(-1)).shape == (2,)
