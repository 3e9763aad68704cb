"""Attribution axioms: IntGrad completeness, DeepLift summation to delta, SmoothGrad → VanillaGrad."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from specxai_jax.attribution.gradients import select_score
from specxai_jax.attribution.integrated import path_quadrature
from specxai_jax.explain import explain
from specxai_jax.models import init_variables
from specxai_jax.models.registry import build_model


def setup(family, activation, beta):
    model = build_model(family, num_classes=4, activation=activation, depth=2, width=4,
                        **({"dense": 16} if family.startswith("cnn") else {}))
    variables = init_variables(model, jax.random.key(0), beta, (1, 8, 8, 3))
    x = jax.random.uniform(jax.random.key(1), (3, 8, 8, 3))
    target = jnp.argmax(model.apply(variables, x), -1)
    return model, variables, x, target


def score_difference(model, variables, x, baseline, target, score):
    """f(x) − f(x₀) of the explained scalar, (B,)."""
    return (select_score(model.apply(variables, x), target, score)
            - select_score(model.apply(variables, baseline), target, score))


@pytest.mark.parametrize("activation,beta", [("relu", np.inf), ("softplus", 3.0)])
def test_integrated_gradients_completeness_tightens_with_steps(activation, beta):
    model, variables, x, target = setup("cnn", activation, beta)
    expected = np.asarray(score_difference(model, variables, x, jnp.zeros_like(x), target, "log_prob"))
    errors = [np.abs(np.asarray(explain("integrated_gradients", model, variables, x, target, steps=steps,
                                        quadrature="riemann_middle").sum((1, 2, 3))) - expected).max()
              for steps in (2, 8, 64)]
    assert errors[2] < 0.1 * errors[0]
    assert errors[2] < 1e-2 * np.abs(expected).max() + 1e-5


def test_quadrature_rules_integrate_a_line_exactly():
    for quadrature in ("gausslegendre", "riemann_middle", "riemann_trapezoid"):
        nodes, weights = path_quadrature(7, quadrature)
        assert weights.sum() == pytest.approx(1.0)
        assert (weights * (3 * nodes + 1)).sum() == pytest.approx(2.5)


@pytest.mark.parametrize("family,activation,beta", [("cnn", "relu", np.inf), ("cnn", "softplus", 2.0),
                                                    ("cnn-skip-bn", "relu", np.inf), ("resnet", "softplus", 5.0)])
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
        gaps = [float(jnp.abs(explain("smooth_grad", model, variables, x, target, sigma=sigma, samples=8)
                              - vanilla).max()) for sigma in (1e-1, 1e-2, 1e-3)]
    assert gaps[0] > gaps[1] > gaps[2]
    assert gaps[2] < gaps[0] / 30          # the gap shrinks about linearly in σ


def test_guided_backprop_equals_gradient_where_no_negative_signal_flows():
    """A one-class-score ReLU net whose backward signals are all ≥ 0 is unchanged by the guide:
    with all weights made non-negative, guided backprop = the gradient of the logit."""
    model, variables, x, target = setup("cnn", "relu", np.inf)
    positive = {**variables, "params": jax.tree.map(jnp.abs, variables["params"])}
    guided = explain("guided_backprop", model, positive, x, target, score="logit")
    plain = jax.grad(lambda u: select_score(model.apply(positive, u), target, "logit").sum())(x)
    np.testing.assert_allclose(guided, plain, rtol=1e-6)


def test_rule_methods_refuse_models_that_bypass_the_rules():
    def plain_apply(variables, x):
        return jax.nn.relu(x.reshape(x.shape[0], -1)) @ variables["w"]

    variables = {"w": jnp.ones((8 * 8 * 3, 2))}
    with pytest.raises(ValueError, match="rules"):
        explain("guided_backprop", plain_apply, variables, jnp.ones((1, 8, 8, 3)))
