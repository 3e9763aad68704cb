"""Flax models whose activation smoothness β lives in the ``constants`` collection.

Variables are plain dicts ``{"params": ..., "constants": {"beta": β}}`` so models of different β
(and seeds) stack along a leading axis and vmap.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from specxai_jax.models.cnn import PlainCNN, check_image_fits
from specxai_jax.models.pretrained import from_pretrained
from specxai_jax.models.registry import build_model
from specxai_jax.ops import fast_forms

__all__ = ["PlainCNN", "build_model", "check_image_fits", "from_pretrained", "init_variables", "stack_variables"]


def init_variables(model, key: jax.Array, beta: float, input_shape: tuple[int, ...]) -> dict:
    """Fresh variables {"params", "constants": {"beta"}} for inputs of shape (B, H, W, C).

    Compiled once per (model, input shape), the key and β being data, when the module is hashable
    (run op by op, every initializer shape compiles on its own).
    """
    try:
        hash(model)
    except TypeError:
        return _fresh_variables(model, key, beta, tuple(input_shape))
    return _compiled_fresh_variables(model, key, jnp.asarray(beta, jnp.float32), tuple(input_shape))


def _fresh_variables(model, key, beta, input_shape):
    variables = model.init(key, jnp.zeros(input_shape, jnp.float32))
    out = {"params": variables["params"], "constants": {"beta": jnp.asarray(beta, jnp.float32)}}
    if "batch_stats" in variables:
        out["batch_stats"] = variables["batch_stats"]
    return out


_compiled_fresh_variables = fast_forms.jit(_fresh_variables, static_argnums=(0, 3))


def stack_variables(variables: list[dict]) -> dict:
    """List of M variable trees → one tree with a leading model axis M, on the default device.

    Stacked on the host, so the trees may live on different devices and nothing is compiled.
    """
    return jax.device_put(jax.tree.map(lambda *leaves: np.stack([np.asarray(leaf) for leaf in leaves]), *variables))

