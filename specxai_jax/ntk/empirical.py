"""Empirical NTK of the project's Flax models through ``neural_tangents.empirical_ntk_fn``."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from specxai_jax.ntk import nt_compat

# neural_tangents.NtkImplementation.STRUCTURED_DERIVATIVES: cheapest for dense and conv layers, and never
# materializes the Jacobian.
DEFAULT_IMPLEMENTATION = 3


def params_apply_fn(model, variables: dict):
    """``f(params, x)`` of a Flax model with every non-``params`` collection (β, batch stats) held fixed."""
    fixed = {name: value for name, value in variables.items() if name != "params"}

    def apply(params, x):
        return model.apply({**fixed, "params": params}, x)

    return apply


def empirical_ntk(model, variables: dict, x1, x2=None, *, trace_axes=(-1,), implementation=DEFAULT_IMPLEMENTATION,
                  vmap_axes: int | None = 0):
    """Θ(x1, x2): (N1, N2) averaged over outputs (``trace_axes=(-1,)``), or (N1, N2, K, K) with ``trace_axes=()``.

    Inputs (N, ...) in the model's layout; the kernel is taken w.r.t. ``variables["params"]``. Compiled once
    per (model, trace_axes, implementation, vmap_axes, shapes): β lives in ``variables``, so sweeping it
    reuses the compile. ``vmap_axes=0`` declares that each example's output depends on that example
    only (true in eval mode: no batch statistics), so per-example Jacobians are vmapped — N times less
    work than differentiating the whole batch per output; pass None for models that mix the batch.
    """
    return _compiled_ntk_fn(model, tuple(trace_axes), int(implementation), vmap_axes)(variables, x1, x2)


@functools.lru_cache(maxsize=32)
def _compiled_ntk_fn(model, trace_axes: tuple, implementation: int, vmap_axes: int | None):
    """jit of ``(variables, x1, x2) -> Θ`` for a (hashable) Flax module."""

    def ntk_fn(variables, x1, x2):
        fn = nt_compat.load().empirical_ntk_fn(params_apply_fn(model, variables), trace_axes=trace_axes,
                                               implementation=implementation, vmap_axes=vmap_axes)
        return fn(x1, x2, variables["params"])

    return jax.jit(ntk_fn)


def relative_error(kernel, reference) -> float:
    """‖kernel − reference‖_F / ‖reference‖_F."""
    kernel, reference = np.asarray(kernel, np.float64), np.asarray(reference, np.float64)
    return float(np.linalg.norm(kernel - reference) / np.linalg.norm(reference))


def sphere_points(key: jax.Array, count: int, dim: int) -> jax.Array:
    """(count, dim) points uniform on the sphere of radius √dim (so ‖x‖² = d, as the analytic kernels assume)."""
    x = jax.random.normal(key, (count, dim))
    return x / jnp.linalg.norm(x, axis=1, keepdims=True) * jnp.sqrt(dim)
