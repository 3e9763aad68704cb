"""Eigen-decay of kernels: Gram-matrix spectra, Mercer eigenvalues on the sphere, fitted decay laws.

Mercer eigenvalues of a dot-product kernel κ(⟨x, x′⟩) on the unit sphere S^{d−1} (uniform probability
measure) follow from the Funk–Hecke formula: for degree k,
``μ_k = c_d ∫₋₁¹ κ(t) P_k(t) (1 − t²)^{(d−3)/2} dt``, with ``P_k = C_k^λ / C_k^λ(1)``, λ = (d − 2)/2,
``c_d = Γ(d/2) / (√π Γ((d − 1)/2))``, each with multiplicity ``N(d, k)`` (the dimension of the degree-k
spherical harmonics). The integral is a Gauss–Jacobi rule with that weight.
"""

from __future__ import annotations

import math
from typing import Callable, NamedTuple

import numpy as np
from scipy import special, stats


def gram_eigenvalues(kernel_matrix) -> np.ndarray:
    """Eigenvalues (N,) of a symmetric (N, N) kernel matrix, descending, in float64."""
    matrix = np.asarray(kernel_matrix, np.float64)
    return np.linalg.eigvalsh(0.5 * (matrix + matrix.T))[::-1]


def harmonic_multiplicity(dim: int, degree) -> np.ndarray:
    """N(d, k): number of independent degree-k spherical harmonics on S^{d−1} (array of degree's shape)."""
    k = np.asarray(degree)
    return np.where(k == 0, 1, (2 * k + dim - 2) / np.maximum(k, 1) * special.comb(k + dim - 3, dim - 2))


def sphere_quadrature(dim: int, nodes: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss–Jacobi nodes t (nodes,) and weights for ∫₋₁¹ f(t)(1 − t²)^{(d−3)/2} dt, scaled by c_d (sum 1)."""
    alpha = (dim - 3) / 2
    t, w = special.roots_jacobi(nodes, alpha, alpha)
    scale = math.exp(special.gammaln(dim / 2) - special.gammaln((dim - 1) / 2)) / math.sqrt(math.pi)
    return t, w * scale


def legendre_sphere(degree: int, dim: int, t) -> np.ndarray:
    """P_k(t) of S^{d−1}: Gegenbauer C_k^{(d−2)/2}(t) normalized to P_k(1) = 1."""
    lam = (dim - 2) / 2
    return special.eval_gegenbauer(degree, lam, t) / special.eval_gegenbauer(degree, lam, 1.0)


def mercer_eigenvalues(kappa: Callable, dim: int, max_degree: int, nodes: int = 2000) -> np.ndarray:
    """μ_0 … μ_max_degree (max_degree + 1,) of κ(⟨x, x′⟩) on S^{d−1}; ``kappa`` maps cosines (n,) → values (n,)."""
    if dim < 3:
        raise ValueError("the Gegenbauer form needs dim ≥ 3")
    t, w = sphere_quadrature(dim, nodes)
    values = np.asarray(kappa(t), np.float64) * w
    return np.array([np.dot(values, legendre_sphere(k, dim, t)) for k in range(max_degree + 1)])


class DecayFit(NamedTuple):
    """Least-squares decay law on the fitted window: μ_k ≈ A k^(−exponent) and μ_k ≈ B rate^k.

    ``*_stderr`` are the regression standard errors; ``*_residual`` the RMS residual in log μ (which law fits).
    """

    exponent: float
    exponent_stderr: float
    exponent_residual: float
    rate: float
    rate_stderr: float
    rate_residual: float
    first: int
    last: int

    def as_dict(self) -> dict:
        return {name: (float(v) if isinstance(v, float) else int(v)) for name, v in self._asdict().items()}


def fit_decay(values, indices=None, *, floor: float = 1e-11, first: int = 1, last: int | None = None) -> DecayFit:
    """Fit polynomial and geometric decay to positive ``values`` (e.g. eigenvalues) over ``indices``.

    Uses the entries with index ≥ ``first`` (and ≤ ``last``) whose value exceeds ``floor`` × the largest;
    needs at least three. The geometric rate is exp(slope of log μ vs k) with a delta-method stderr.
    """
    values = np.asarray(values, np.float64)
    indices = np.arange(len(values)) if indices is None else np.asarray(indices)
    keep = (indices >= first) & (values > floor * values.max())
    if last is not None:
        keep &= indices <= last
    k, v = indices[keep].astype(np.float64), np.log(values[keep])
    if len(k) < 3:
        raise ValueError(f"only {len(k)} values above the floor to fit a decay law")
    power = stats.linregress(np.log(k), v)
    geometric = stats.linregress(k, v)
    rms = lambda fit, x: float(np.sqrt(np.mean((v - fit.intercept - fit.slope * x) ** 2)))  # noqa: E731
    rate = math.exp(geometric.slope)
    return DecayFit(
        exponent=-power.slope, exponent_stderr=power.stderr, exponent_residual=rms(power, np.log(k)),
        rate=rate, rate_stderr=rate * geometric.stderr, rate_residual=rms(geometric, k),
        first=int(k[0]), last=int(k[-1]),
    )


def tail_fraction(eigenvalues, multiplicities=None, *, start: int) -> float:
    """Share of the trace Σ N_k μ_k carried by indices ≥ ``start`` (heavier tail → larger)."""
    mu = np.clip(np.asarray(eigenvalues, np.float64), 0.0, None)
    weight = mu if multiplicities is None else mu * np.asarray(multiplicities, np.float64)
    return float(weight[start:].sum() / weight.sum())
