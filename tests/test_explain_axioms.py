"""Attribution axioms and hand-written references on models written with plain flax.linen layers and
on the project's models: IntGrad completeness, DeepLift summation to delta, SmoothGrad → VanillaGrad,
VanillaGrad = jax.grad of the log-softmax, GuidedBackprop = a hand-written guided backward pass, and
softmax's stabilising max is no max pooling."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from specxai_jax.attribution import backward, explain
from specxai_jax.attribution.core import select_score
from specxai_jax.attribution.integrated import path_quadrature
from specxai_jax.models import init_variables
from specxai_jax.models.registry import build_model

CLASSES = 4


def stable_log_softmax(z):
    """log softmax written out, subtracting the max without stop_gradient."""
    shifted = z - z.max(axis=-1, keepdims=True)
    return shifted - jnp.log(jnp.exp(shifted).sum(axis=-1, keepdims=True))


class FlaxCNN(nn.Module):
    """2 × [Conv3×3, relu, MaxPool2] → Dense → relu → Dense, plain flax.linen layers; ``output``: the logits
    as they are ("logits") or their log-softmax by ``jax.nn.log_softmax`` ("jax") or :func:`stable_log_softmax`."""

    output: str = "logits"

    @nn.compact
    def __call__(self, x):
        for features in (4, 8):
            x = nn.max_pool(nn.relu(nn.Conv(features, (3, 3))(x)), (2, 2), strides=(2, 2))
        hidden = nn.relu(nn.Dense(16)(x.reshape(x.shape[0], -1)))
        logits = nn.Dense(CLASSES)(hidden)
        return {"logits": logits, "jax": jax.nn.log_softmax(logits), "by_hand": stable_log_softmax(logits)}[self.output]


def setup(family, activation="relu", beta=np.inf):
    if family == "flax":
        model = FlaxCNN()
        variables = model.init(jax.random.key(0), jnp.zeros((1, 8, 8, 3)))
    else:
        size = {"vit": dict(dim=16, mlp_dim=32, heads=2)}.get(family, dict(width=4))
        model = build_model(family, num_classes=CLASSES, activation=activation, depth=2, **size,
                            **({"dense": 16} if family.startswith("cnn") else {}))
        variables = init_variables(model, jax.random.key(0), beta, (1, 8, 8, 3))
    x = jax.random.uniform(jax.random.key(1), (3, 8, 8, 3))
    target = jnp.argmax(model.apply(variables, x), -1)
    return model, variables, x, target


def score_difference(model, variables, x, baseline, target, score):
    """f(x) − f(x₀) of the explained scalar, (B,)."""
    return (select_score(model.apply(variables, x), target, score)
            - select_score(model.apply(variables, baseline), target, score))


@pytest.mark.parametrize("family,activation,beta", [("flax", "relu", np.inf),
                                                    pytest.param("cnn", "softplus", 3.0, marks=pytest.mark.slow)])
def test_integrated_gradients_completeness_tightens_with_steps(family, activation, beta):
    model, variables, x, target = setup(family, activation, beta)
    expected = np.asarray(score_difference(model, variables, x, jnp.zeros_like(x), target, "log_prob"))
    errors = [np.abs(np.asarray(explain("integrated_gradients", model, variables, x, target, steps=steps,
                                        quadrature="riemann_middle").sum((1, 2, 3))) - expected).max()
              for steps in (2, 8, 64)]
    assert errors[2] < 0.1 * errors[0]
    assert errors[2] < 1e-2 * np.abs(expected).max() + 1e-5


def test_integrated_gradients_is_complete_at_the_default_steps():
    model, variables, x, target = setup("flax")
    expected = np.asarray(score_difference(model, variables, x, jnp.zeros_like(x), target, "log_prob"))
    total = np.asarray(explain("integrated_gradients", model, variables, x, target).sum((1, 2, 3)))
    np.testing.assert_allclose(total, expected, rtol=0.03, atol=1e-4)


def test_quadrature_rules_integrate_a_line_exactly():
    for quadrature in ("gausslegendre", "riemann_middle", "riemann_trapezoid"):
        nodes, weights = path_quadrature(7, quadrature)
        assert weights.sum() == pytest.approx(1.0)
        assert (weights * (3 * nodes + 1)).sum() == pytest.approx(2.5)


@pytest.mark.parametrize("family,activation,beta", [("flax", "relu", np.inf), ("cnn", "relu", np.inf),
                                                    ("cnn", "softplus", 2.0), ("cnn-skip-bn", "relu", np.inf),
                                                    pytest.param("resnet", "softplus", 5.0, marks=pytest.mark.slow)])
def test_deeplift_sums_to_delta_on_the_logit(family, activation, beta):
    model, variables, x, target = setup(family, activation, beta)
    baseline = jax.random.uniform(jax.random.key(2), x.shape)
    attributions = explain("deeplift", model, variables, x, target, baseline=baseline, score="logit")
    expected = score_difference(model, variables, x, baseline, target, "logit")
    np.testing.assert_allclose(attributions.sum((1, 2, 3)), expected, rtol=1e-3, atol=1e-5)


def test_smooth_grad_tends_to_vanilla_grad_as_sigma_shrinks():
    """On a smooth net (no max pooling, whose argmax flips make the limit non-smooth)."""
    model, variables, x, target = setup("resnet", "softplus", 3.0)
    with jax.enable_x64(True):
        variables, x = jax.tree.map(lambda leaf: jnp.asarray(leaf, jnp.float64), (variables, x))
        vanilla = explain("vanilla_grad", model, variables, x, target)
        gaps = [float(jnp.abs(explain("smooth_grad", model, variables, x, target, sigma=sigma, samples=8,
                                      key=jax.random.key(0)) - vanilla).max()) for sigma in (1e-1, 1e-2, 1e-3)]
    assert gaps[0] > gaps[1] > gaps[2]
    assert gaps[2] < gaps[0] / 30          # the gap shrinks about linearly in σ


@pytest.mark.parametrize("score", ["log_prob", "logit"])
def test_vanilla_grad_is_the_gradient_of_the_log_softmax(score):
    model, variables, x, target = setup("flax")

    def explained(u):
        logits = model.apply(variables, u)
        values = jax.nn.log_softmax(logits) if score == "log_prob" else logits
        return values[jnp.arange(x.shape[0]), target].sum()

    np.testing.assert_allclose(explain("vanilla_grad", model, variables, x, target, score=score),
                               jax.grad(explained)(x), rtol=1e-6, atol=1e-9)


def guided_by_hand(params, x, target):
    """GuidedBackprop of log p(target) for FlaxCNN, written out layer by layer (ReLU: relu(g·1[z>0]))."""
    vjps, h = [], x
    for name in ("Conv_0", "Conv_1"):
        p = params[name]
        z, conv = jax.vjp(lambda u, p=p: lax.conv_general_dilated(u, p["kernel"], (1, 1), "SAME",
                                                                  dimension_numbers=("NHWC", "HWIO", "NHWC"))
                          + p["bias"], h)
        h, pool = jax.vjp(lambda u: lax.reduce_window(u, -jnp.inf, lax.max, (1, 2, 2, 1), (1, 2, 2, 1), "VALID"),
                          jnp.maximum(z, 0))
        vjps.append((conv, z, pool))
    flat = h.reshape(h.shape[0], -1)
    z_dense = flat @ params["Dense_0"]["kernel"] + params["Dense_0"]["bias"]
    logits = jnp.maximum(z_dense, 0) @ params["Dense_1"]["kernel"] + params["Dense_1"]["bias"]
    g = jax.nn.one_hot(target, CLASSES) - jax.nn.softmax(logits)          # ∂ log p_target / ∂ logits
    g = jnp.maximum((g @ params["Dense_1"]["kernel"].T) * (z_dense > 0), 0)
    g = (g @ params["Dense_0"]["kernel"].T).reshape(h.shape)
    for conv, z, pool in reversed(vjps):
        g = conv(jnp.maximum(pool(g)[0] * (z > 0), 0))[0]
    return g


def test_guided_backprop_equals_a_hand_written_guided_pass():
    model, variables, x, target = setup("flax")
    np.testing.assert_allclose(explain("guided_backprop", model, variables, x, target),
                               guided_by_hand(variables["params"], x, target), rtol=1e-5, atol=1e-8)


class UnitRecorder(backward.Rule):
    """Plain gradients; records (kind, input shape) of every unit it is applied to."""

    def __init__(self):
        super().__init__()
        self.units = []

    def forward(self, kind, fn, x):
        self.units.append((kind, x.shape))
        return super().forward(kind, fn, x)

    def pools(self) -> list[tuple]:
        return [shape for kind, shape in self.units if kind == "pool"]


class GlobalMaxPoolNet(nn.Module):
    @nn.compact
    def __call__(self, x):
        features = nn.relu(nn.Conv(4, (3, 3))(x))
        return stable_log_softmax(nn.Dense(CLASSES)(features.max(axis=(1, 2))))


@pytest.mark.parametrize("output", ["jax", "by_hand"])
def test_a_softmax_max_is_no_pooling_unit(output):
    _, variables, x, _ = setup("flax")
    recorder = UnitRecorder()
    backward.modified_gradient(recorder, lambda u: FlaxCNN(output).apply(variables, u), x, jnp.sum)
    assert recorder.pools() == [(3, 8, 8, 4), (3, 4, 4, 8)] and recorder.activations_seen == 3
    model = GlobalMaxPoolNet()
    recorder = UnitRecorder()
    backward.modified_gradient(recorder, lambda u: model.apply(model.init(jax.random.key(0), x), u), x, jnp.sum)
    assert recorder.pools() == [(3, 8, 8, 4)]   # the max over (H, W) is a pooling


@pytest.mark.parametrize("output", ["jax", "by_hand"])
def test_a_final_log_softmax_leaves_guided_backprop_and_deeplift_unchanged(output):
    """log_softmax is idempotent, so the explained log p(target) is the same with or without it."""
    model, variables, x, target = setup("flax")
    with_softmax = FlaxCNN(output)
    np.testing.assert_allclose(explain("guided_backprop", with_softmax, variables, x, target),
                               guided_by_hand(variables["params"], x, target), rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(explain("deeplift", with_softmax, variables, x, target),
                               explain("deeplift", model, variables, x, target), rtol=1e-4, atol=1e-7)


def test_guided_backprop_equals_gradient_where_no_negative_signal_flows():
    """A one-class-score ReLU net whose backward signals are all ≥ 0 is unchanged by the guide:
    with all weights made non-negative, guided backprop = the gradient of the logit."""
    model, variables, x, target = setup("cnn")
    positive = {**variables, "params": jax.tree.map(jnp.abs, variables["params"])}
    guided = explain("guided_backprop", model, positive, x, target, score="logit")
    plain = jax.grad(lambda u: select_score(model.apply(positive, u), target, "logit").sum())(x)
    np.testing.assert_allclose(guided, plain, rtol=1e-6)


def test_modified_gradient_methods_refuse_models_without_a_recognizable_activation():
    def tanh_model(params, x):
        return jnp.tanh(x.reshape(x.shape[0], -1) @ params["w"]) @ params["v"]

    params = {"w": jnp.ones((8 * 8 * 3, 5)), "v": jnp.ones((5, 2))}
    for method in ("guided_backprop", "deeplift"):
        with pytest.raises(ValueError, match="found no ReLU or activation"):
            explain(method, tanh_model, params, jnp.ones((1, 8, 8, 3)))
    with pytest.raises(ValueError, match="applies tanh"):
        explain("lrp", tanh_model, params, jnp.ones((1, 8, 8, 3)))


@pytest.mark.parametrize("family,match", [("resnet", "residual sum"), ("vit", "applies (square|a product)")])
def test_lrp_refuses_residual_and_attention_models(family, match):
    model, variables, x, target = setup(family)
    with pytest.raises(ValueError, match=match):
        explain("lrp", model, variables, x, target)
