"""Flax models whose activation smoothness β lives in the ``constants`` collection.

Variables are plain dicts ``{"params": ..., "constants": {"beta": β}}`` so models of different β
(and seeds) stack along a leading axis and vmap.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from specxai_jax.models.cnn import PlainCNN, check_image_fits

__all__ = ["PlainCNN", "check_image_fits", "init_variables", "stack_variables", "unstack_variables"]


def init_variables(model, key: jax.Array, beta: float, input_shape: tuple[int, ...]) -> dict:
    """Fresh variables {"params", "constants": {"beta"}} for inputs of shape (B, H, W, C)."""
    variables = model.init(key, jnp.zeros(input_shape, jnp.float32))
    out = {"params": variables["params"], "constants": {"beta": jnp.asarray(beta, jnp.float32)}}
    if "batch_stats" in variables:
        out["batch_stats"] = variables["batch_stats"]
    return out


def stack_variables(variables: list[dict]) -> dict:
    """List of M variable trees → one tree with a leading model axis M."""
    return jax.tree.map(lambda *leaves: jnp.stack(leaves), *variables)


def unstack_variables(stacked: dict) -> list[dict]:
    """Inverse of :func:`stack_variables`."""
    count = jax.tree.leaves(stacked)[0].shape[0]
    return [jax.tree.map(lambda leaf, i=i: leaf[i], stacked) for i in range(count)]
