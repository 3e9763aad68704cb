"""Attribution numbers against closed forms: every IntGrad quadrature on a quadratic model against the exact
line integral (and each Riemann rule's known bias), and every method with an explicit non-argmax target."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from specxai_jax.attribution import explain
from specxai_jax.attribution.integrated import QUADRATURES

X = jax.random.uniform(jax.random.key(0), (2, 3, 3, 1), minval=0.1, maxval=1.0)
A = jax.random.normal(jax.random.key(1), (9, 3))
C = jax.random.normal(jax.random.key(2), (9, 3))


def quadratic(params, x):
    """Logit k = Σᵢ A[i, k] xᵢ² + C[i, k] xᵢ; along the path αx its gradient is 2 A α x + C (linear in α)."""
    flat = x.reshape(x.shape[0], -1)
    return (flat ** 2) @ params["a"] + flat @ params["c"]


STEPS = 4
MEAN_NODE = {"gausslegendre": 0.5, "riemann_middle": 0.5, "riemann_trapezoid": 0.5,
             "riemann_left": (STEPS - 1) / (2 * STEPS), "riemann_right": (STEPS + 1) / (2 * STEPS)}
"""∫₀¹ α dα = 1/2 is what a rule computes for an integrand linear in α: exactly for Gauss–Legendre, the midpoint
and trapezoid rules; the left (right) Riemann sum of n nodes gives (n ∓ 1)/(2n), worked out by hand."""


@pytest.mark.parametrize("quadrature", QUADRATURES)
def test_every_quadrature_against_the_line_integral(quadrature):
    target = 2
    maps = explain("integrated_gradients", quadratic, {"a": A, "c": C}, X, target, steps=STEPS,
                   quadrature=quadrature, score="logit")
    flat = X.reshape(2, -1)
    expected = flat * (C[:, target] + 2 * A[:, target] * flat * MEAN_NODE[quadrature])
    np.testing.assert_allclose(maps.reshape(2, -1), expected, rtol=1e-5, atol=1e-6)
    if MEAN_NODE[quadrature] == 0.5:  # exact rules: completeness f(x) − f(0) = Σ attributions
        np.testing.assert_allclose(maps.sum(axis=(1, 2, 3)), quadratic({"a": A, "c": C}, X)[:, target], rtol=1e-5)


V = jnp.abs(jax.random.normal(jax.random.key(3), (9, 5)))   # positive: every hidden unit is active for x > 0
U = jax.random.normal(jax.random.key(4), (5, 3))


def relu_net(params, x):
    """Bias-free ReLU net relu(x V) U; for images in (0, 1] it is linear, with gradient V U[:, t]."""
    return jax.nn.relu(x.reshape(x.shape[0], -1) @ params["v"]) @ params["u"]


def non_argmax_targets() -> jnp.ndarray:
    logits = relu_net({"v": V, "u": U}, X)
    target = jnp.argmin(logits, -1)
    assert not jnp.any(target == jnp.argmax(logits, -1))
    return target


# each method on the (locally linear) ReLU net, score="logit": the closed form of its map for class t (x₀ = 0);
# gradient × input is also what completeness demands (Σ = f(x) − f(0) = f(x)) of IntGrad, DeepLift and LRP
CLOSED_FORMS = {
    "vanilla_grad": (lambda t: (V @ U[:, t]).T, {}),
    "smooth_grad": (lambda t: (V @ U[:, t]).T, {"key": jax.random.key(5), "sigma": 0.02, "samples": 4}),
    "integrated_gradients": (lambda t: X.reshape(2, -1) * (V @ U[:, t]).T, {"steps": 3}),
    "guided_backprop": (lambda t: (V @ jax.nn.relu(U[:, t])).T, {}),
    "deeplift": (lambda t: X.reshape(2, -1) * (V @ U[:, t]).T, {}),
    "lrp": (lambda t: X.reshape(2, -1) * (V @ U[:, t]).T, {}),
}


@pytest.mark.parametrize("method", list(CLOSED_FORMS))
def test_every_method_explains_the_target_it_is_given(method):
    target = non_argmax_targets()
    closed_form, options = CLOSED_FORMS[method]
    maps = explain(method, relu_net, {"v": V, "u": U}, X, target, score="logit", **options)
    np.testing.assert_allclose(maps.reshape(2, -1), closed_form(target), rtol=1e-4, atol=1e-5)
