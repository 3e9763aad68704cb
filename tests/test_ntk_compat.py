"""The neural-tangents compatibility layer against the installed neural-tangents and JAX."""

import subprocess
import sys
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from specxai_jax import ntk
from specxai_jax.ntk import nt_compat

nt = ntk.neural_tangents


def test_private_jax_names_still_exist():
    missing = nt_compat.missing_private_names()
    assert not missing, (
        "this JAX removed private names that ntk/nt_compat.py relies on: " + ", ".join(missing)
    )


def test_import_leaves_jax_and_tensorflow_untouched():
    code = (
        "import sys, jax.core, jax.interpreters.ad\n"
        "before = set(dir(jax.core)), set(dir(jax.interpreters.ad)), set(sys.modules)\n"
        "from specxai_jax import ntk\n"
        "assert 'tensorflow' not in sys.modules, 'TensorFlow was imported'\n"
        "assert (set(dir(jax.core)), set(dir(jax.interpreters.ad))) == before[:2], 'JAX namespaces changed'\n"
        "stubs = [m for m in set(sys.modules) - before[2] if m.startswith('jax.') and not hasattr(sys.modules[m], '__file__')]\n"
        "assert not stubs, stubs\n"
        "print(ntk.neural_tangents.__version__)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "0.6.5"


def test_load_is_idempotent():
    assert nt_compat.load() is nt


def test_experimental_stub_explains_missing_tensorflow():
    if "tensorflow" in sys.modules:
        pytest.skip("TensorFlow is installed; the real experimental module is used")
    with pytest.raises(ImportError, match="TensorFlow"):
        nt.experimental.empirical_ntk_fn_tf(lambda p, x: x)


def _mlp_and_data():
    init_fn, apply_fn, kernel_fn = nt.stax.serial(
        nt.stax.Conv(3, (3, 3), padding="SAME"), nt.stax.Relu(), nt.stax.Flatten(), nt.stax.Dense(4), nt.stax.Erf(),
        nt.stax.Dense(2),
    )
    x1 = jax.random.normal(jax.random.PRNGKey(1), (3, 5, 5, 2), jnp.float64)
    x2 = jax.random.normal(jax.random.PRNGKey(2), (2, 5, 5, 2), jnp.float64)
    _, params = init_fn(jax.random.PRNGKey(0), x1.shape)
    return apply_fn, kernel_fn, jax.tree.map(lambda p: p.astype(jnp.float64), params), x1, x2


def jacobian_ntk(apply_fn, params, x1, x2):
    """Θ[i, j, a, b] = Σ_params ∂f_a(x1_i)/∂w · ∂f_b(x2_j)/∂w by plain jax.jacobian."""
    def flat(jac, x):
        return [leaf.reshape(x.shape[0], -1, leaf[0, 0].size) for leaf in jax.tree.leaves(jac)]

    j1 = flat(jax.jacobian(apply_fn)(params, x1), x1)
    j2 = flat(jax.jacobian(apply_fn)(params, x2), x2)
    return sum(jnp.einsum("iap,jbp->ijab", a, b) for a, b in zip(j1, j2))


@pytest.mark.parametrize("implementation", [pytest.param(1, marks=pytest.mark.slow), 2, 3, 0])
def test_every_empirical_ntk_implementation_matches_jacobian(implementation):
    with jax.enable_x64(True):
        apply_fn, _, params, x1, x2 = _mlp_and_data()
        expected = jacobian_ntk(apply_fn, params, x1, x2)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # neural-tangents' own deprecation notices
            fn = nt.empirical_ntk_fn(apply_fn, trace_axes=(), implementation=implementation)
            got = fn(x1, x2, params)
    np.testing.assert_allclose(np.asarray(got), np.asarray(expected), rtol=1e-10, atol=1e-12)


def test_jitted_kernel_fn_and_empirical_ntk():
    with jax.enable_x64(True):
        apply_fn, kernel_fn, params, x1, x2 = _mlp_and_data()
        eager = kernel_fn(x1, x2, "ntk")
        jitted = jax.jit(kernel_fn, static_argnames="get")(x1, x2, get="ntk")
        np.testing.assert_allclose(np.asarray(jitted), np.asarray(eager), rtol=1e-12)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ntk_fn = jax.jit(nt.empirical_ntk_fn(apply_fn, implementation=3))
            got = ntk_fn(x1, x2, params)
        # neural-tangents averages over traced output axes (trace / number of outputs).
        expected = jnp.trace(jacobian_ntk(apply_fn, params, x1, x2), axis1=2, axis2=3) / 2
        np.testing.assert_allclose(np.asarray(got), np.asarray(expected), rtol=1e-10, atol=1e-12)
