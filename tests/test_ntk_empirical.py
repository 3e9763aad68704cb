"""Empirical NTK of the Flax models: against a jax.jacobian contraction, neural-tangents stax, and width limits."""

import math
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from specxai_jax.models import PlainCNN, init_variables
from specxai_jax.models.mlp import MLP
from specxai_jax.ntk import analytic, empirical

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def jacobian_ntk(model, variables, x1, x2):
    """Θ[i, j, a, b] = Σ_w ∂f_a(x1_i)/∂w ∂f_b(x2_j)/∂w from plain jax.jacobian (no neural-tangents)."""
    fixed = {k: v for k, v in variables.items() if k != "params"}

    @jax.jit
    def flat_jacobian(x):
        jac = jax.jacobian(lambda p: model.apply({**fixed, "params": p}, x))(variables["params"])
        return jnp.concatenate([leaf.reshape(leaf.shape[0], leaf.shape[1], -1) for leaf in jax.tree.leaves(jac)], -1)

    return jnp.einsum("iap,jbp->ijab", flat_jacobian(x1), flat_jacobian(x2))


def float64(tree):
    return jax.tree.map(lambda a: jnp.asarray(a, jnp.float64), tree)


@pytest.mark.parametrize("activation,beta,implementation",
                         [pytest.param("softplus", 2.0, 1, marks=pytest.mark.slow), ("softplus", 2.0, 3), ("gauss", 0.5, 3),
                          ("relu", math.inf, 3)])
def test_plain_cnn_matches_jacobian_contraction(activation, beta, implementation):
    """Per-example (vmapped) Jacobians, the default; the whole-batch path is neural-tangents' own (compat tests)."""
    model = PlainCNN(depth=2, width=3, dense=8, num_classes=3, activation=activation)
    with jax.enable_x64(True):
        variables = float64(init_variables(model, jax.random.PRNGKey(0), beta, (1, 4, 4, 2)))
        x1 = jax.random.uniform(jax.random.PRNGKey(1), (3, 4, 4, 2), jnp.float64)
        x2 = jax.random.uniform(jax.random.PRNGKey(2), (2, 4, 4, 2), jnp.float64)
        got = empirical.empirical_ntk(model, variables, x1, x2, trace_axes=(), implementation=implementation)
        expected = jacobian_ntk(model, variables, x1, x2)
    np.testing.assert_allclose(np.asarray(got), np.asarray(expected), rtol=1e-10, atol=1e-12)


def test_mlp_matches_jacobian_contraction_and_averages_outputs():
    model = MLP(depth=2, width=16, outputs=3, activation="softplus")
    with jax.enable_x64(True):
        variables = float64(init_variables(model, jax.random.PRNGKey(0), 1.5, (1, 5)))
        x = jax.random.normal(jax.random.PRNGKey(1), (4, 5), jnp.float64)
        full = jacobian_ntk(model, variables, x, x)
        traced = empirical.empirical_ntk(model, variables, x)
        expected = jnp.trace(full, axis1=2, axis2=3) / 3
    np.testing.assert_allclose(np.asarray(traced), np.asarray(expected), rtol=1e-10)


def test_mlp_is_neural_tangents_dense_network():
    """Same weights → same outputs as stax.serial(Dense(W_std=1), act, …, Dense(1)) (NTK parameterization)."""
    model = MLP(depth=2, width=7, activation="gauss")
    variables = init_variables(model, jax.random.PRNGKey(0), 3.0, (1, 4))
    _, apply_fn, _ = analytic.stax_mlp(depth=2, activation="gauss", beta=3.0, width=7)
    p = variables["params"]
    stax_params = [(p["dense0"]["kernel"], None), (), (p["dense1"]["kernel"], None), (), (p["head"]["kernel"], None)]
    x = jax.random.normal(jax.random.PRNGKey(1), (5, 4))
    np.testing.assert_allclose(model.apply(variables, x), apply_fn(stax_params, x), rtol=1e-5, atol=1e-6)


def test_wide_mlp_ntk_approaches_the_analytic_kernel_like_inverse_root_width():
    x = empirical.sphere_points(jax.random.PRNGKey(0), 12, 6)
    cosines = np.clip(np.asarray(x @ x.T, np.float64) / 6, -1, 1)
    reference = analytic.dot_product_ntk(cosines, depth=2, activation="softplus", beta=1.0)
    widths = np.array([64, 512, 4096])
    errors = []
    for width in widths:
        model = MLP(depth=2, width=int(width), activation="softplus")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            kernels = [empirical.empirical_ntk(model, init_variables(model, jax.random.PRNGKey(s), 1.0, x.shape), x)
                       for s in range(4)]
        errors.append(np.mean([empirical.relative_error(k, reference) for k in kernels]))
    slope = np.polyfit(np.log(widths), np.log(errors), 1)[0]
    assert errors[0] > errors[1] > errors[2]
    assert -0.8 < slope < -0.3, (slope, errors)
