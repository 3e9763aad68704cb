"""The switch between CPU fast forms and plain forms: defaults, overrides, nesting, and jit's cache.

Each form's own test (test_spectral, test_convolution, test_pooling, test_sharding) forces both
branches on CPU and compares them with each other and with an independent reference.
"""

import threading

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from specxai_jax.errors import UsageError
from specxai_jax.models import PlainCNN, init_variables, layers
from specxai_jax.ops import fast_forms
from specxai_jax.training import train

ON_CPU = jax.default_backend() == "cpu"


def test_every_form_defaults_to_the_backend():
    assert {form: fast_forms.enabled(form) for form in fast_forms.FORMS} == dict.fromkeys(fast_forms.FORMS, ON_CPU)


def test_forced_blocks_nest_and_restore():
    with fast_forms.forced(False):
        assert not any(fast_forms.enabled(form) for form in fast_forms.FORMS)
        with fast_forms.forced(True, "light_compilation", "argmax_pooling"):
            taken = {form for form in fast_forms.FORMS if fast_forms.enabled(form)}
            assert taken == {"light_compilation", "argmax_pooling"}
            with fast_forms.forced(None, "unrolled_models"):       # back to the backend's default
                assert fast_forms.enabled("unrolled_models") == ON_CPU
                assert not fast_forms.enabled("patch_input_tangent")
        assert not fast_forms.enabled("argmax_pooling")
    assert fast_forms.enabled("argmax_pooling") == ON_CPU


def test_override_is_local_to_its_thread():
    seen = []
    with fast_forms.forced(not ON_CPU):
        worker = threading.Thread(target=lambda: seen.append(fast_forms.enabled("argmax_pooling")))
        worker.start()
        worker.join()
        assert fast_forms.enabled("argmax_pooling") == (not ON_CPU)
    assert seen == [ON_CPU]


def test_unknown_form_is_a_usage_error():
    with pytest.raises(UsageError, match="unknown fast form 'argmax'.*argmax_pooling"):
        fast_forms.enabled("argmax")
    with pytest.raises(UsageError, match="unknown fast form"):
        with fast_forms.forced(True, "argmax"):
            pass


def test_a_jitted_function_is_traced_anew_when_the_override_flips():
    """layers.max_pool is jitted: without the override in jit's cache key, the second call would reuse the first trace."""
    x = jnp.arange(16.0).reshape(1, 4, 4, 1)
    programs = {}
    for taken in (True, False, True):
        with fast_forms.forced(taken, "argmax_pooling"):
            layers.max_pool(x, window=2).block_until_ready()          # fills jit's cache under this setting
            programs.setdefault(taken, []).append(str(jax.make_jaxpr(lambda x: layers.max_pool(x, window=2))(x)))
    assert "reduce_window" in programs[False][0]
    assert all("reduce_window" not in program for program in programs[True])


def test_training_engine_follows_its_form():
    with fast_forms.forced(True, "per_device_training"):
        assert train.default_engine() == "per_device"
    with fast_forms.forced(False, "per_device_training"):
        assert train.default_engine() == "vectorized"


def _train_step_result():
    """One Adam step of a small PlainCNN (as the sweep compiles it), from a fixed init and batch."""
    model = PlainCNN(depth=2, width=4, dense=16, num_classes=3)
    config = train.TrainConfig()
    optimizer = train.make_optimizer(config, 4)
    variables = init_variables(model, jax.random.key(0), 3.0, (1, 8, 8, 1))
    x = jax.random.uniform(jax.random.key(1), (4, 8, 8, 1))
    step = fast_forms.jit(train.make_train_step(model.apply, optimizer, config, 4))
    new, _, _ = step(variables, optimizer.init(variables["params"]), x, jnp.arange(4) % 3, 0, 0, 0)
    return new["params"]


def test_light_compilation_gives_the_plain_compilations_numbers():
    with fast_forms.forced(False, "light_compilation"):
        plain = _train_step_result()
    with fast_forms.forced(True, "light_compilation"):
        light = _train_step_result()
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7), light, plain)


def test_light_jit_also_runs_inside_other_transformations():
    """XLA takes compiler options from the outermost program only: nested, the plain jit serves."""
    with fast_forms.forced(True, "light_compilation"):
        double = fast_forms.jit(lambda x: 2 * x)
        assert double(jnp.ones(3)).tolist() == [2.0, 2.0, 2.0]
        assert jax.jit(lambda x: double(x) + 1)(jnp.ones(3)).tolist() == [3.0, 3.0, 3.0]
        assert jax.eval_shape(lambda: double(jnp.ones((2, 5)))).shape == (2, 5)
        assert jax.grad(lambda x: double(x).sum())(jnp.ones(2)).tolist() == [2.0, 2.0]


def test_accuracy_is_counted_with_plain_pooling_even_where_training_takes_the_fast_form():
    """The argmax form pays off in gradients only; a forward pass runs faster as lax.reduce_window."""
    model = PlainCNN(depth=1, width=2, dense=4, num_classes=2)
    variables = init_variables(model, jax.random.key(0), 1.0, (1, 4, 4, 1))
    with fast_forms.forced(True, "argmax_pooling"):
        program = jax.jit(train._hits(model.apply)).lower(variables, jnp.ones((2, 4, 4, 1)), jnp.zeros(2, int))
    assert "reduce_window" in program.as_text()


@pytest.mark.parametrize("activation", ["softplus", "relu", "gelu"])
def test_pooling_before_a_monotone_activation_gives_the_same_logits_and_gradients(activation):
    """max φ(h) = φ(max h) for non-decreasing φ; GELU dips below zero, so its order must stay."""
    model = PlainCNN(depth=2, width=4, dense=8, num_classes=3, activation=activation)
    variables = init_variables(model, jax.random.key(0), 3.0, (1, 8, 8, 2))
    x = jax.random.normal(jax.random.key(1), (4, 8, 8, 2))

    def outputs():
        loss = lambda p, x: model.apply({**variables, "params": p}, x)[:, 0].sum()  # noqa: E731
        return model.apply(variables, x), jax.grad(loss, argnums=(0, 1))(variables["params"], x)

    with fast_forms.forced(False, "pool_before_activation"):
        plain = outputs()
    with fast_forms.forced(True, "pool_before_activation"):
        pooled_first = outputs()
    np.testing.assert_array_equal(pooled_first[0], plain[0])
    for a, b in zip(jax.tree.leaves(pooled_first[1]), jax.tree.leaves(plain[1])):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_methods_that_rewrite_units_see_the_activation_before_the_pooling():
    """DeepLift's rule depends on where each unit sits: the same attributions either way."""
    from specxai_jax.attribution import explain

    model = PlainCNN(depth=2, width=4, dense=8, num_classes=3, activation="softplus")
    x = jax.random.uniform(jax.random.key(1), (3, 8, 8, 1))
    baseline = jax.random.uniform(jax.random.key(2), (3, 8, 8, 1))   # its maxima sit elsewhere than x's
    for method, beta, options in (("deeplift", 2.0, {"baseline": baseline}), ("guided_backprop", 2.0, {}),
                                  ("lrp", np.inf, {})):
        variables = init_variables(model, jax.random.key(0), beta, (1, 8, 8, 1))
        runs = []
        for taken in (False, True):
            with fast_forms.forced(taken, "pool_before_activation"):
                runs.append(np.asarray(explain(method, model, variables, x, **options)))
        np.testing.assert_array_equal(runs[1], runs[0], err_msg=method)
