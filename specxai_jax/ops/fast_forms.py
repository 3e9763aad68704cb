"""Which CPU fast forms to take: one switch for every place where the library runs XLA:CPU differently.

A fast form computes what its plain form computes (the same values and gradients, up to float
rounding) in a way XLA:CPU runs faster; the plain form is what accelerators run. Each form is taken
by default when JAX's default backend is CPU; :func:`forced` overrides that for a block of code,
e.g. to run the accelerators' program on CPU in tests, or to keep the plain forms on CPU::

    with fast_forms.forced(False):                  # every plain form
        ...
    with fast_forms.forced(True, "argmax_pooling"): # one fast form, whatever the backend
        ...

The choice is read while a program is traced, and the override is part of what ``jax.jit`` caches
on (a ``jax.make_user_context``), so a function jitted under one setting is traced anew under
another. The override is local to the thread. One form is a compilation setting, not a program form:
functions jitted with :func:`jit` read it at each call.
"""

from __future__ import annotations

import contextlib
import functools
from typing import Iterator

import jax

from specxai_jax.errors import UsageError

FORMS = {
    "patch_input_tangent": "convolution.conv_general_dilated: a few-channel conv's input tangent as patches @ kernel",
    "argmax_pooling": "pooling.max_pool: reshape + one argmax per window instead of lax.reduce_window",
    "unrolled_models": "sharding.per_model: the models unrolled in one program instead of jax.vmap",
    "one_model_at_a_time": "pipeline.summarize_saliency: one single-model program per model instead of one stacked",
    "per_device_training": "train.train_models: engine 'per_device' instead of 'vectorized'",
    "light_compilation": "fast_forms.jit: XLA's backend optimization level 1 instead of its default",
    "pool_before_activation": "models.PlainCNN: max pooling before a monotone activation instead of after it",
}
LIGHT_COMPILATION = {"xla_backend_optimization_level": 1}
"""XLA:CPU compiles the project's programs with these options in about half the time, and runs them as
fast or faster: the default sweep ~12 % faster end to end, identical results (benchmarks/RESULTS.md)."""

_overrides = jax.make_user_context(default_value=())   # sorted ((form, taken), ...): hashable, in jit's cache key


def enabled(form: str) -> bool:
    """Whether to take the CPU fast form ``form`` (a key of :data:`FORMS`) here and now."""
    _check(form)
    chosen = dict(_overrides.value).get(form)
    return jax.default_backend() == "cpu" if chosen is None else chosen


@contextlib.contextmanager
def forced(taken: bool | None, *forms: str) -> Iterator[None]:
    """Within the block, take (True) or skip (False) the named fast forms, all of them if none are named.

    ``None`` gives the named forms back their default (taken on CPU only). Blocks nest; the inner wins.
    """
    for form in forms:
        _check(form)
    chosen = dict(_overrides.value)
    for form in forms or FORMS:
        if taken is None:
            chosen.pop(form, None)
        else:
            chosen[form] = bool(taken)
    with _overrides(tuple(sorted(chosen.items()))):
        yield


def jit(fn, **options):
    """``jax.jit(fn, **options)`` that compiles with :data:`LIGHT_COMPILATION` where the fast form
    "light_compilation" is taken at the call, except inside another traced function (XLA takes
    compiler options from the outermost program only)."""
    plain = jax.jit(fn, **options)
    light = jax.jit(fn, compiler_options=LIGHT_COMPILATION, **options)

    @functools.wraps(fn)
    def call(*args, **kwargs):
        traced = any(isinstance(leaf, jax.core.Tracer) for leaf in jax.tree.leaves((args, kwargs)))
        return (light if enabled("light_compilation") and not traced else plain)(*args, **kwargs)

    return call


def _check(form: str) -> None:
    if form not in FORMS:
        raise UsageError(f"unknown fast form {form!r}; choose from {', '.join(FORMS)}")
