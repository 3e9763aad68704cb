"""Which CPU fast forms to take: one switch for every place where the library runs XLA:CPU differently.

A fast form computes what its plain form computes (the same values and gradients, up to float
rounding) in a way XLA:CPU runs faster; the plain form is what accelerators run. Each form is taken
by default when JAX's default backend is CPU; :func:`forced` overrides that for a block of code,
e.g. to run the accelerators' program on CPU in tests, or to keep the plain forms on CPU::

    with fast_forms.forced(False):                  # every plain form
        ...
    with fast_forms.forced(True, "bitonic_sort"):   # one fast form, whatever the backend
        ...

The choice is read while a program is traced, and the override is part of what ``jax.jit`` caches
on (a ``jax.make_user_context``), so a function jitted under one setting is traced anew under
another. The override is local to the thread.
"""

from __future__ import annotations

import contextlib
from typing import Iterator

import jax

from specxai_jax.validation import UsageError

FORMS = {
    "bitonic_sort": "spectral.sort_with_positions: a bitonic network instead of lax.top_k",
    "patch_input_tangent": "convolution.conv_general_dilated: a few-channel conv's input tangent as patches @ kernel",
    "argmax_pooling": "pooling.max_pool: reshape + one argmax per window instead of lax.reduce_window",
    "unrolled_models": "sharding.per_model: the models unrolled in one program instead of jax.vmap",
    "one_model_at_a_time": "pipeline.summarize_saliency: one single-model program per model instead of one stacked",
    "per_device_training": "train.train_models: engine 'per_device' instead of 'vectorized'",
}

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


def _check(form: str) -> None:
    if form not in FORMS:
        raise UsageError(f"unknown fast form {form!r}; choose from {', '.join(FORMS)}")
