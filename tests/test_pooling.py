"""Max pooling as reshape + one argmax per window: values and gradients of flax's max_pool, ties included."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from specxai_jax.models import PlainCNN, init_variables
from specxai_jax.ops import fast_forms, pooling


def window_max_pool(x, window):
    return nn.max_pool(x, (window, window), strides=(window, window))


def numpy_max_pool(x: np.ndarray, window: int, cotangent: np.ndarray, tangent: np.ndarray):
    """Independent reference by loops: pooled values, the VJP of ``cotangent`` and the JVP of ``tangent``.

    A window's gradient goes to its first maximal entry in row-major order.
    """
    batch, height, width, channels = x.shape
    rows, cols = height // window, width // window
    values, tangent_out = np.zeros((batch, rows, cols, channels)), np.zeros((batch, rows, cols, channels))
    vjp = np.zeros_like(x)
    for b, i, j, c in np.ndindex(batch, rows, cols, channels):
        patch = x[b, i * window:(i + 1) * window, j * window:(j + 1) * window, c]
        di, dj = divmod(int(np.argmax(patch)), window)             # np.argmax: first maximum, row-major
        values[b, i, j, c] = patch[di, dj]
        vjp[b, i * window + di, j * window + dj, c] += cotangent[b, i, j, c]
        tangent_out[b, i, j, c] = tangent[b, i * window + di, j * window + dj, c]
    return values, vjp, tangent_out


@pytest.mark.parametrize("argmax", [True, False])
@pytest.mark.parametrize("shape,window", [((3, 9, 7, 4), 2), ((2, 9, 11, 3), 3), ((1, 2, 2, 1), 2)])
def test_values_and_gradients_match_a_numpy_loop_and_flax_with_ties_and_odd_sizes(shape, window, argmax):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 3, size=shape).astype(np.float32)       # many tied maxima
    flax_out = window_max_pool(x, window)
    cotangent = rng.normal(size=flax_out.shape).astype(np.float32)
    tangent = rng.normal(size=shape).astype(np.float32)
    pool = lambda u: pooling.max_pool(u, window)
    with fast_forms.forced(argmax, "argmax_pooling"):
        program = str(jax.make_jaxpr(lambda u: jax.vjp(pool, u)[1](cotangent))(x))
        out, pullback = jax.vjp(pool, x)
        ours = out, pullback(cotangent)[0], jax.jvp(pool, (x,), (tangent,))[1]
    assert ("argmax" in program, "reduce_window_max" in program) == (argmax, not argmax)
    for a, b in zip(ours, numpy_max_pool(x, window, cotangent, tangent)):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(ours[0], flax_out)
    np.testing.assert_array_equal(ours[1], jax.vjp(lambda u: window_max_pool(u, window), x)[1](cotangent)[0])
    np.testing.assert_array_equal(ours[2], jax.jvp(lambda u: window_max_pool(u, window), (x,), (tangent,))[1])


@pytest.mark.parametrize("argmax", [True, False])
def test_a_tied_window_sends_its_whole_gradient_to_the_first_entry(argmax):
    x = jnp.ones((1, 2, 2, 1))
    with fast_forms.forced(argmax, "argmax_pooling"):
        gradient = jax.grad(lambda u: pooling.max_pool(u).sum())(x)
    np.testing.assert_array_equal(gradient[0, :, :, 0], [[1.0, 0.0], [0.0, 0.0]])


def test_first_maximum_marks_one_entry_per_window():
    blocks = jnp.asarray([[1.0, 3.0], [2.0, 3.0]]).reshape(1, 1, 2, 1, 2, 1)   # one 2×2 window, a tie
    np.testing.assert_array_equal(pooling.first_maximum(blocks).reshape(2, 2), [[False, True], [False, False]])


def test_jitted_parameter_jacobian_equals_the_eager_one():
    """XLA recomputes pooled activations in several fusions; the argmax form's routing must not depend on it.

    (With the winner found as ``entries == max``, conv weights' jitted Jacobian here was off by 0.3.)
    """
    model = PlainCNN(depth=2, width=3, dense=8, num_classes=3, activation="gauss")
    with jax.enable_x64(True):
        variables = jax.tree.map(lambda a: jnp.asarray(a, jnp.float64),
                                 init_variables(model, jax.random.PRNGKey(0), 0.5, (1, 4, 4, 2)))
        x = jax.random.uniform(jax.random.PRNGKey(1), (3, 4, 4, 2), jnp.float64)

        def jacobian(params):
            return jax.jacobian(lambda p: model.apply({**variables, "params": p}, x))(params)

        with fast_forms.forced(True, "argmax_pooling"):
            eager, jitted = jacobian(variables["params"]), jax.jit(jacobian)(variables["params"])
        for a, b in zip(jax.tree.leaves(eager), jax.tree.leaves(jitted)):
            np.testing.assert_allclose(np.asarray(b), np.asarray(a), rtol=1e-12, atol=1e-12)
