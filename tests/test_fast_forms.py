"""The switch between CPU fast forms and plain forms: defaults, overrides, nesting, and jit's cache.

Each form's own test (test_spectral, test_convolution, test_pooling, test_sharding) forces both
branches on CPU and compares them with each other and with an independent reference.
"""

import threading

import jax
import jax.numpy as jnp
import pytest

from specxai_jax import fast_forms, spectral, train
from specxai_jax.validation import UsageError

ON_CPU = jax.default_backend() == "cpu"


def test_every_form_defaults_to_the_backend():
    assert {form: fast_forms.enabled(form) for form in fast_forms.FORMS} == dict.fromkeys(fast_forms.FORMS, ON_CPU)


def test_forced_blocks_nest_and_restore():
    with fast_forms.forced(False):
        assert not any(fast_forms.enabled(form) for form in fast_forms.FORMS)
        with fast_forms.forced(True, "bitonic_sort", "argmax_pooling"):
            taken = {form for form in fast_forms.FORMS if fast_forms.enabled(form)}
            assert taken == {"bitonic_sort", "argmax_pooling"}
            with fast_forms.forced(None, "unrolled_models"):       # back to the backend's default
                assert fast_forms.enabled("unrolled_models") == ON_CPU
                assert not fast_forms.enabled("patch_input_tangent")
        assert not fast_forms.enabled("bitonic_sort")
    assert fast_forms.enabled("bitonic_sort") == ON_CPU


def test_override_is_local_to_its_thread():
    seen = []
    with fast_forms.forced(not ON_CPU):
        worker = threading.Thread(target=lambda: seen.append(fast_forms.enabled("bitonic_sort")))
        worker.start()
        worker.join()
        assert fast_forms.enabled("bitonic_sort") == (not ON_CPU)
    assert seen == [ON_CPU]


def test_unknown_form_is_a_usage_error():
    with pytest.raises(UsageError, match="unknown fast form 'bitonic'.*bitonic_sort"):
        fast_forms.enabled("bitonic")
    with pytest.raises(UsageError, match="unknown fast form"):
        with fast_forms.forced(True, "bitonic"):
            pass


def test_a_jitted_function_is_traced_anew_when_the_override_flips():
    """rank_normalize is jitted: without the override in jit's cache key, the second call would reuse the first trace."""
    maps = jnp.asarray([[[3.0, 1.0], [2.0, 1.0]]])
    programs = {}
    for taken in (True, False, True):
        with fast_forms.forced(taken, "bitonic_sort"):
            spectral.rank_normalize(maps).block_until_ready()          # fills jit's cache under this setting
            programs.setdefault(taken, []).append(str(jax.make_jaxpr(spectral.rank_normalize)(maps)))
    assert "top_k" in programs[False][0]
    assert all("top_k" not in program for program in programs[True])


def test_training_engine_follows_its_form():
    with fast_forms.forced(True, "per_device_training"):
        assert train.default_engine() == "per_device"
    with fast_forms.forced(False, "per_device_training"):
        assert train.default_engine() == "vectorized"
