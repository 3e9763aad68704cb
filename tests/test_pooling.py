"""Max pooling as reshape + one argmax per window: values and gradients of flax's max_pool, ties included."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from specxai_jax import pooling
from specxai_jax.models import PlainCNN, init_variables


def window_max_pool(x, window):
    return nn.max_pool(x, (window, window), strides=(window, window))


@pytest.mark.parametrize("shape,window", [((3, 9, 7, 4), 2), ((2, 9, 11, 3), 3), ((1, 2, 2, 1), 2)])
def test_values_and_gradients_match_flax_max_pool_with_ties_and_odd_sizes(shape, window):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 3, size=shape).astype(np.float32)       # many tied maxima
    out = window_max_pool(x, window)
    cotangent = rng.normal(size=out.shape).astype(np.float32)
    tangent = rng.normal(size=shape).astype(np.float32)
    np.testing.assert_array_equal(pooling.max_pool(x, window), out)
    ours = jax.vjp(lambda u: pooling.max_pool(u, window), x)[1](cotangent)[0]
    np.testing.assert_array_equal(ours, jax.vjp(lambda u: window_max_pool(u, window), x)[1](cotangent)[0])
    np.testing.assert_array_equal(jax.jvp(lambda u: pooling.max_pool(u, window), (x,), (tangent,))[1],
                                  jax.jvp(lambda u: window_max_pool(u, window), (x,), (tangent,))[1])


def test_a_tied_window_sends_its_whole_gradient_to_the_first_entry():
    x = jnp.ones((1, 2, 2, 1))
    gradient = jax.grad(lambda u: pooling.max_pool(u).sum())(x)
    np.testing.assert_array_equal(gradient[0, :, :, 0], [[1.0, 0.0], [0.0, 0.0]])


def test_first_maximum_marks_one_entry_per_window():
    blocks = jnp.asarray([[1.0, 3.0], [2.0, 3.0]]).reshape(1, 1, 2, 1, 2, 1)   # one 2×2 window, a tie
    np.testing.assert_array_equal(pooling.first_maximum(blocks).reshape(2, 2), [[False, True], [False, False]])


def test_jitted_parameter_jacobian_equals_the_eager_one():
    """XLA recomputes pooled activations in several fusions; the gradient routing must not depend on it.

    (With the winner found as ``entries == max``, conv weights' jitted Jacobian here was off by 0.3.)
    """
    model = PlainCNN(depth=2, width=3, dense=8, num_classes=3, activation="gauss")
    with jax.enable_x64(True):
        variables = jax.tree.map(lambda a: jnp.asarray(a, jnp.float64),
                                 init_variables(model, jax.random.PRNGKey(0), 0.5, (1, 4, 4, 2)))
        x = jax.random.uniform(jax.random.PRNGKey(1), (3, 4, 4, 2), jnp.float64)

        def jacobian(params):
            return jax.jacobian(lambda p: model.apply({**variables, "params": p}, x))(params)

        eager, jitted = jacobian(variables["params"]), jax.jit(jacobian)(variables["params"])
        for a, b in zip(jax.tree.leaves(eager), jax.tree.leaves(jitted)):
            np.testing.assert_allclose(np.asarray(b), np.asarray(a), rtol=1e-12, atol=1e-12)
