"""Integrated Gradients: (x − x₀) ⊙ ∫₀¹ ∇f(x₀ + α(x − x₀)) dα by a fixed quadrature rule."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from specxai_jax.attribution.core import ApplyFn, check_options, check_score, resolve_target, score_gradient

QUADRATURES = ("gausslegendre", "riemann_left", "riemann_right", "riemann_middle", "riemann_trapezoid")


def path_quadrature(steps: int, quadrature: str = "gausslegendre") -> tuple[np.ndarray, np.ndarray]:
    """Nodes α (steps,) in [0, 1] and weights (steps,) summing to 1; the rules Captum names."""
    if steps < 1 or (quadrature == "riemann_trapezoid" and steps < 2):
        raise ValueError(f"{quadrature} needs more steps than {steps}")
    if quadrature == "gausslegendre":
        nodes, weights = np.polynomial.legendre.leggauss(steps)
        return 0.5 * (nodes + 1.0), 0.5 * weights
    uniform = np.full(steps, 1.0 / steps)
    if quadrature == "riemann_left":
        return np.arange(steps) / steps, uniform
    if quadrature == "riemann_right":
        return np.arange(1, steps + 1) / steps, uniform
    if quadrature == "riemann_middle":
        return (np.arange(steps) + 0.5) / steps, uniform
    if quadrature == "riemann_trapezoid":
        weights = np.full(steps, 1.0 / (steps - 1))
        weights[[0, -1]] /= 2
        return np.linspace(0.0, 1.0, steps), weights
    raise ValueError(f"unknown quadrature {quadrature!r}; choose one of {QUADRATURES}")


def path_gradient(apply_fn: ApplyFn, variables, x: jax.Array, target: jax.Array, baseline: jax.Array,
                  steps: int, quadrature: str, score: str) -> jax.Array:
    """Quadrature of ∫₀¹ ∇f(x₀ + α(x − x₀)) dα: the surrogate gradient IntGrad explains, shape of x."""
    nodes, weights = path_quadrature(steps, quadrature)

    def weighted(node_weight):
        alpha, weight = node_weight
        return weight * score_gradient(apply_fn, variables, baseline + alpha * (x - baseline), target, score)

    return jax.lax.map(weighted, (jnp.asarray(nodes, x.dtype), jnp.asarray(weights, x.dtype))).sum(axis=0)


def integrated_gradients(apply_fn: ApplyFn, variables, x: jax.Array, target: jax.Array | None = None, *,
                         baseline: jax.Array | float = 0.0, steps: int = 50, quadrature: str = "gausslegendre",
                         score: str = "log_prob") -> jax.Array:
    """(x − x₀) ⊙ path-averaged gradient, x₀ = ``baseline`` (broadcast to x); shape of x.

    Completeness: the attributions sum to f(x) − f(x₀) up to the quadrature error.
    """
    check_score(score)
    check_options({"steps": steps})
    target = resolve_target(apply_fn, variables, x, target)
    baseline = jnp.broadcast_to(jnp.asarray(baseline, x.dtype), x.shape)
    return (x - baseline) * path_gradient(apply_fn, variables, x, target, baseline, steps, quadrature, score)
