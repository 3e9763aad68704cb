"""Hugging Face ``hidden_act`` names (transformers' ACT2FN) as JAX functions of one array."""

from __future__ import annotations

import functools
import math
from typing import Callable

import jax
import jax.numpy as jnp

_FUNCTIONS: dict[str, Callable[[jax.Array], jax.Array]] = {
    "relu": jax.nn.relu,
    "gelu": functools.partial(jax.nn.gelu, approximate=False),
    "gelu_python": functools.partial(jax.nn.gelu, approximate=False),
    "gelu_new": functools.partial(jax.nn.gelu, approximate=True),
    "gelu_pytorch_tanh": functools.partial(jax.nn.gelu, approximate=True),
    "gelu_python_tanh": functools.partial(jax.nn.gelu, approximate=True),
    "gelu_fast": functools.partial(jax.nn.gelu, approximate=True),
    "gelu_accurate": lambda x: 0.5 * x * (1 + jnp.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3))),
    "quick_gelu": lambda x: x * jax.nn.sigmoid(1.702 * x),
    "silu": jax.nn.silu,
    "swish": jax.nn.silu,
    "tanh": jnp.tanh,
    "sigmoid": jax.nn.sigmoid,
    "relu6": jax.nn.relu6,
    "leaky_relu": functools.partial(jax.nn.leaky_relu, negative_slope=0.01),
}
ACTIVATIONS = {name: jax.jit(fn) for name, fn in _FUNCTIONS.items()}
"""Each a jitted elementwise call, one equation in a traced program (as :mod:`specxai_jax.models.layers`), so
program transformations such as GuidedBackprop's see the activation as a whole (a bare erf GELU would be
differentiated plainly)."""


def hf_activation(name: str):
    """The activation ``name`` (e.g. ``relu``, ``gelu`` = exact erf GELU, ``gelu_new`` = tanh form) as f(x)."""
    if name not in ACTIVATIONS:
        raise ValueError(f"hidden_act {name!r} is not supported; supported: {', '.join(ACTIVATIONS)}")
    return ACTIVATIONS[name]
