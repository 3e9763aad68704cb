"""Infinite-width NNGP and NTK of dense networks with the project's activations.

An activation enters the kernel recursion only through its *duals* ``(nngp_fn, d_nngp_fn)``:
``nngp_fn(cov12, var1, var2) = E[φ(u)φ(v)]`` and ``d_nngp_fn = E[φ'(u)φ'(v)]`` for a centred Gaussian
(u, v) with that covariance — the signature neural-tangents' ``stax.Elementwise`` takes, so the same
duals drive this module's dot-product recursion and neural-tangents networks.

Closed forms: ReLU (arc-cosine kernels); ``gauss`` = ReLU * N(0, 1/p), whose duals are ReLU's with the
variances enlarged by 1/p, the two factors smoothed independently (so the diagonal uses correlation
σ²/(σ² + 1/p) < 1); erf (arcsine kernel). SoftPlus(β) is ReLU * logistic(scale 1/β), and a logistic
is a Gaussian scale mixture (σ = 2K/β, K Kolmogorov-distributed), so its duals are mixtures of
``gauss`` duals over two independent σ. GELU uses Gauss–Hermite quadrature (it is smooth).
"""

from __future__ import annotations

import functools
import math
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from scipy import special, stats

from specxai_jax.ntk import nt_compat
from specxai_jax.ops import activations


def _stax():
    """neural-tangents' ``stax``, loaded on first use (the closed forms here do not need it)."""
    return nt_compat.load().stax


def __getattr__(name: str):
    """``analytic.stax``: neural-tangents' stax, loaded on first access."""
    if name == "stax":
        return _stax()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

ACTIVATIONS = ("relu", "gauss", "softplus", "gelu", "erf")

# Range of the Kolmogorov variable K outside of which its density is below 1e-17 (both tails).
_KOLMOGOROV_RANGE = (0.15, 5.0)
# Mixture pairs lighter than this are dropped from SoftPlus duals (their summed weight is below 1e-16).
_PAIR_WEIGHT_FLOOR = 1e-18


class Duals(NamedTuple):
    """``nngp(cov12, var1, var2) = E[φ(u)φ(v)]`` and ``d_nngp(...) = E[φ'(u)φ'(v)]`` (broadcasting).

    ``joint``, when given, returns both at once (cheaper when they share work).
    """

    nngp: Callable
    d_nngp: Callable
    joint: Callable | None = None


def arccos_duals(cov12, var1, var2, extra_variance=0.0):
    """ReLU duals (E[ReLU ReLU], E[1·1]) with ``extra_variance`` added to both variances; arrays broadcast."""
    s1, s2 = var1 + extra_variance, var2 + extra_variance
    norm = jnp.sqrt(s1 * s2)
    theta = jnp.arccos(jnp.clip(cov12 / norm, -1.0, 1.0))
    nngp = norm * (jnp.sin(theta) + (jnp.pi - theta) * jnp.cos(theta)) / (2 * jnp.pi)
    return nngp, (jnp.pi - theta) / (2 * jnp.pi)


def gauss_duals(precision: float) -> Duals:
    """Duals of ReLU * N(0, 1/precision); ``precision = inf`` is ReLU."""
    extra = 0.0 if math.isinf(precision) else 1.0 / precision
    return Duals(
        lambda c, v1, v2: arccos_duals(c, v1, v2, extra)[0],
        lambda c, v1, v2: arccos_duals(c, v1, v2, extra)[1],
    )


@functools.lru_cache(maxsize=None)
def logistic_scale_mixture(beta: float, nodes: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """Standard deviations σ (nodes,) and weights (nodes,) with logistic(scale 1/β) ≈ Σ w N(0, σ²).

    Gauss–Legendre over the Kolmogorov variable K (σ = 2K/β), weights normalized to sum to one.
    """
    low, high = _KOLMOGOROV_RANGE
    unit, weights = special.roots_legendre(nodes)
    k = 0.5 * (high - low) * unit + 0.5 * (high + low)
    weights = weights * stats.kstwobign.pdf(k)
    return 2.0 * k / beta, weights / weights.sum()


def softplus_duals(beta: float, nodes: int = 64) -> Duals:
    """Duals of SoftPlus(β) as a mixture of Gaussian-smoothed ReLU duals (independent σ per factor).

    Pairs (σ_i, σ_j) whose weight w_i·w_j is below ``_PAIR_WEIGHT_FLOOR`` are dropped (their total
    weight is < 1e-16, so the duals change by less than rounding) — about half of the nodes² pairs.
    """
    if math.isinf(beta):
        return gauss_duals(math.inf)
    sigma, weight = logistic_scale_mixture(float(beta), nodes)
    pair_weight = np.outer(weight, weight)
    first, second = np.nonzero(pair_weight > _PAIR_WEIGHT_FLOOR)
    # NumPy arrays: cast at call time (x64 or not).
    extra1, extra2, pair_weight = sigma[first] ** 2, sigma[second] ** 2, pair_weight[first, second]

    def joint(c, v1, v2):
        return _mixed_arccos_duals(c, v1, v2, extra1, extra2, pair_weight)

    return Duals(lambda *a: joint(*a)[0], lambda *a: joint(*a)[1], joint)


@jax.jit
def _mixed_arccos_duals(cov12, var1, var2, extra1, extra2, pair_weight):
    """Σ_n w_n · arccos_duals(cov12, var1 + extra1_n, var2 + extra2_n) over mixture pairs n (both duals)."""
    c, v1, v2 = (a[..., None] for a in jnp.broadcast_arrays(cov12, var1, var2))
    nngp, d_nngp = arccos_duals(c, v1 + extra1, v2 + extra2)
    return nngp @ pair_weight, d_nngp @ pair_weight


def erf_duals() -> Duals:
    """Duals of erf (arcsine kernel)."""

    def nngp(c, v1, v2):
        return 2 / jnp.pi * jnp.arcsin(2 * c / jnp.sqrt((1 + 2 * v1) * (1 + 2 * v2)))

    def d_nngp(c, v1, v2):
        return 4 / jnp.pi / jnp.sqrt((1 + 2 * v1) * (1 + 2 * v2) - 4 * c**2)

    return Duals(nngp, d_nngp)


def gauss_hermite_duals(phi: Callable, dphi: Callable, degree: int = 100) -> Duals:
    """Duals of any φ by a degree×degree Gauss–Hermite rule (exact for polynomials; fast for smooth φ)."""
    nodes, weights = np.polynomial.hermite_e.hermegauss(degree)
    z1, z2 = np.meshgrid(nodes, nodes, indexing="ij")  # NumPy: cast at call time (x64 or not)
    w = np.outer(weights, weights) / (2 * np.pi)

    def expectation(f, c, v1, v2):
        c, v1, v2 = (jnp.asarray(a)[..., None, None] for a in (c, v1, v2))
        root1 = jnp.sqrt(v1)
        u = root1 * z1
        v = c / root1 * z1 + jnp.sqrt(jnp.maximum(v2 - c**2 / v1, 0.0)) * z2
        return jnp.sum(f(u) * f(v) * w, axis=(-2, -1))

    return Duals(functools.partial(expectation, phi), functools.partial(expectation, dphi))


def activation_fn(activation: str, beta: float = math.inf) -> Callable:
    """Elementwise φ(x) of a family at smoothness β (erf is jax.scipy.special.erf)."""
    if activation == "erf":
        return jax.scipy.special.erf
    fn = activations.get(activation)
    return lambda x: fn(x, jnp.asarray(beta, x.dtype))


def duals(activation: str, beta: float = math.inf) -> Duals:
    """The duals of ``activation`` at smoothness β (β ignored by relu/gelu/erf; inf means ReLU)."""
    if activation == "relu" or (activation in activations.SMOOTHED and math.isinf(beta)):
        return gauss_duals(math.inf)
    if activation == "gauss":
        return gauss_duals(beta)
    if activation == "softplus":
        return softplus_duals(beta)
    if activation == "erf":
        return erf_duals()
    if activation == "gelu":
        gelu = activation_fn("gelu")
        return gauss_hermite_duals(gelu, elementwise_derivative(gelu))
    raise ValueError(f"unknown activation {activation!r}; choose one of {', '.join(ACTIVATIONS)}")


def elementwise_derivative(fn: Callable) -> Callable:
    """φ' of an elementwise φ, for arrays of any shape (one forward-mode pass)."""
    return lambda x: jax.jvp(fn, (x,), (jnp.ones_like(x),))[1]


def dot_product_kernels(c, *, depth: int, activation: str, beta: float = math.inf, kernel_duals: Duals | None = None):
    """(NNGP, NTK) arrays of c's shape for ‖x‖² = ‖x′‖² = d and cosine c (float64).

    Network: ``depth`` × [Dense(W_std=1, no bias, NTK parameterization), φ] then Dense(1).
    ``kernel_duals`` overrides the activation's duals (e.g. a quadrature for cross-checks).
    """
    kernel_duals = kernel_duals or duals(activation, beta)
    with jax.enable_x64(True):
        cov = jnp.asarray(c, jnp.float64)
        var = jnp.ones((), jnp.float64)
        ntk = cov
        for _ in range(depth):
            if kernel_duals.joint is not None:
                nngp, d_nngp = kernel_duals.joint(cov, var, var)
            else:
                nngp, d_nngp = kernel_duals.nngp(cov, var, var), kernel_duals.d_nngp(cov, var, var)
            var = kernel_duals.nngp(var, var, var)
            ntk = nngp + d_nngp * ntk
            cov = nngp
        return np.asarray(cov), np.asarray(ntk)


def dot_product_ntk(c, *, depth: int, activation: str, beta: float = math.inf):
    """Infinite-width NTK Θ(c) (array of c's shape); see :func:`dot_product_kernels`."""
    return dot_product_kernels(c, depth=depth, activation=activation, beta=beta)[1]


def dot_product_nngp(c, *, depth: int, activation: str, beta: float = math.inf):
    """Infinite-width NNGP K(c) (array of c's shape); see :func:`dot_product_kernels`."""
    return dot_product_kernels(c, depth=depth, activation=activation, beta=beta)[0]


def stax_activation(activation: str, beta: float = math.inf):
    """neural-tangents layer for the activation: its own Relu/Erf/Gelu, else ``Elementwise`` with our duals."""
    if activation == "relu" or (activation in activations.SMOOTHED and math.isinf(beta)):
        return _stax().Relu()
    if activation == "erf":
        return _stax().Erf()
    if activation == "gelu":
        return _stax().Gelu(approximate=False)
    kernel_duals = duals(activation, beta)
    return _stax().Elementwise(activation_fn(activation, beta), kernel_duals.nngp, kernel_duals.d_nngp)


def stax_mlp(*, depth: int, activation: str, beta: float = math.inf, width: int = 1024, act_layer=None):
    """neural-tangents ``(init_fn, apply_fn, kernel_fn)`` of the network of :func:`dot_product_kernels`."""
    act_layer = act_layer or stax_activation(activation, beta)
    layers = []
    for _ in range(depth):
        layers += [_stax().Dense(width, W_std=1.0), act_layer]
    return _stax().serial(*layers, _stax().Dense(1, W_std=1.0))


def stax_plain_cnn(*, depth: int, activation: str, beta: float = math.inf, width: int = 16, dense: int = 512,
                   act_layer=None):
    """neural-tangents version of PlainCNN for images (N, H, W, C): L × [Conv3×3, φ, AvgPool2] → Dense → φ → Dense(1).

    Max pooling has no infinite-width kernel in neural-tangents, so average pooling stands in for it.
    """
    act_layer = act_layer or stax_activation(activation, beta)
    layers = []
    for i in range(depth):
        layers += [_stax().Conv(width * 2**i, (3, 3), padding="SAME", W_std=1.0), act_layer, _stax().AvgPool((2, 2), (2, 2))]
    return _stax().serial(*layers, _stax().Flatten(), _stax().Dense(dense, W_std=1.0), act_layer, _stax().Dense(1, W_std=1.0))


def unit_pair_inputs(c) -> tuple[np.ndarray, np.ndarray]:
    """x (1, 2) and x′ (n, 2) with ‖x‖² = ‖x′‖² = 2 = d and cosines c (n,), for neural-tangents inputs."""
    c = np.ravel(np.asarray(c, np.float64))
    x1 = np.array([[math.sqrt(2.0), 0.0]])
    x2 = math.sqrt(2.0) * np.stack([c, np.sqrt(np.clip(1 - c**2, 0.0, None))], axis=1)
    return x1, x2


def stax_dot_product_kernels(c, *, depth: int, activation: str, beta: float = math.inf, act_layer=None):
    """(NNGP, NTK) at cosines c (n,) from neural-tangents' ``kernel_fn`` on points of norm² = d (float64)."""
    _, _, kernel_fn = stax_mlp(depth=depth, activation=activation, beta=beta, act_layer=act_layer)
    x1, x2 = unit_pair_inputs(c)
    with jax.enable_x64(True):
        kernel = kernel_fn(jnp.asarray(x1), jnp.asarray(x2), ("nngp", "ntk"))
        return np.asarray(kernel.nngp)[0], np.asarray(kernel.ntk)[0]
