"""The project's activations and max pooling as named function calls (``jax.jit``) for use inside models.

Inside a traced program each call is one equation, so a program transformation sees an activation
or a pooling as a whole (e.g. the modified backward rules of GuidedBackprop, DeepLift and LRP). XLA
inlines the calls: values and gradients are those of the plain functions up to float rounding.
"""

from __future__ import annotations

import functools

import jax

from specxai_jax.ops import activations, pooling


@functools.cache
def activation(name: str):
    """``f(x, beta)`` of the family ``name`` (see :func:`specxai_jax.ops.activations.get`) as one call.

    β enters the call only for the smoothed families (ReLU and GELU ignore it).
    """
    fn = jax.jit(activations.get(name))
    if name in activations.SMOOTHED:
        return fn
    return lambda x, beta=None: fn(x)


max_pool = jax.jit(pooling.max_pool, static_argnames="window")
"""window×window max pooling, stride = window (:func:`specxai_jax.ops.pooling.max_pool`), as one call."""
