"""Theorem 1 (App. E) and App. G in numbers: gradient maps of shift-invariant kernels and of kernel machines.

Lemma 3's setting: two signals x_e(τ), x_t(τ) on a grid (1-D (N,) or 2-D (N, N)), a kernel κ_b acting on
pixel values, and the map m(τ) = κ′_b(x_e(τ) − x_t(τ)). Its spatial power spectrum has a power-law tail
whose exponent is set either by the kernel (κ′'s first singularity at Δ = 0) or by the inputs' own 1/f^α
spectrum, whichever decays slower (see :func:`predicted_exponent`).

Whole kernel machines: kernel ridge regression f(x) = Σ_i a_i k(x, x_i) on flattened images, and its input
gradient ∇ₓf in closed form for the Laplace and Gaussian kernels and for dot-product kernels Θ(cos(x, x_i))
given as a table (e.g. infinite-width NTKs from ``specxai_jax.ntk.analytic``).

All functions are pure JAX and work in the caller's precision (call them under ``jax.enable_x64(True)`` to
resolve steep tails: a power ratio of 1e-20 is below float32's resolution).
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp

from specxai_jax import spectral

KERNELS = ("laplace", "matern32", "gaussian")
JUMP_ORDER = {"laplace": 2.0, "matern32": 6.0, "gaussian": math.inf}
"""1-D power-spectrum tail exponent (as ω^−order) of κ′ at its singularity Δ = 0: Laplace's κ′ jumps (ω⁻²);
Matérn-3/2's κ′ has a jump in its second derivative (ω⁻⁶); the Gaussian's κ′ is analytic (no power tail)."""


def kernel_derivative(kernel: str, u: jax.Array, bandwidth: float) -> jax.Array:
    """κ′_b(u) elementwise for κ_b(u) = exp(−|u|/b) (laplace), (1 + √3|u|/b)exp(−√3|u|/b) (matern32) or
    exp(−u²/2b²) (gaussian); any shape. κ′(0) = 0 for Laplace (the jump's midpoint)."""
    b = bandwidth
    if kernel == "laplace":
        return -jnp.sign(u) * jnp.exp(-jnp.abs(u) / b) / b
    if kernel == "matern32":
        return -3.0 * u / b**2 * jnp.exp(-math.sqrt(3.0) * jnp.abs(u) / b)
    if kernel == "gaussian":
        return -u / b**2 * jnp.exp(-0.5 * (u / b) ** 2)
    raise ValueError(f"unknown kernel {kernel!r}; choose one of {KERNELS}")


def power_law_fields(key: jax.Array, count: int, size: int, dim: int, alpha: float,
                     dtype=jnp.float32) -> jax.Array:
    """``count`` periodic Gaussian fields with power ∝ |f|^−α (α = 0: white), zero mean and unit std.

    Shape (count, size) for dim 1, (count, size, size) for dim 2; the zero frequency is removed.
    """
    shape = (count,) + (size,) * dim
    white = jax.random.normal(key, shape, dtype)
    freqs = jnp.meshgrid(*([jnp.fft.fftfreq(size).astype(dtype)] * dim), indexing="ij")
    radius = jnp.sqrt(sum(f**2 for f in freqs))
    amplitude = jnp.where(radius > 0, jnp.where(radius > 0, radius, 1.0) ** (-alpha / 2), 0.0)
    axes = tuple(range(1, dim + 1))
    fields = jnp.fft.ifftn(jnp.fft.fftn(white, axes=axes) * amplitude, axes=axes).real
    fields = fields - fields.mean(axis=axes, keepdims=True)
    return fields / fields.std(axis=axes, keepdims=True)


def as_maps(signals: jax.Array, dim: int) -> jax.Array:
    """1-D signals (..., N) as one-row maps (..., 1, N) for the project's 2-D spectral code; 2-D unchanged."""
    return signals[..., None, :] if dim == 1 else signals


@functools.partial(jax.jit, static_argnames=("kernel",))
def gradient_maps(kernel: str, x_e: jax.Array, x_t: jax.Array, bandwidth: float) -> jax.Array:
    """Lemma 3's explained map κ′_b(x_e − x_t), same shape as the inputs."""
    return kernel_derivative(kernel, x_e - x_t, bandwidth)


def fit_power_law(freqs: jax.Array, spectrum: jax.Array) -> jax.Array:
    """Least-squares slope of log S against log f over the last axis: (K,), (..., K) → (...)."""
    x = jnp.log(freqs) - jnp.log(freqs).mean()
    y = jnp.log(spectrum)
    y = y - y.mean(axis=-1, keepdims=True)
    return (y @ x) / (x @ x)


@functools.partial(jax.jit, static_argnames=("n_boot",))
def tail_exponent(spectra: jax.Array, freqs: jax.Array, key: jax.Array, n_boot: int = 200) -> dict:
    """Tail exponent of the mean spectrum over P maps, with its uncertainty.

    ``spectra`` (P, K): radial spectra restricted to the fit band; ``freqs`` (K,): their frequencies.
    Returns ``exponent`` (slope of log mean-S vs log f), ``se`` (bootstrap over the P maps) and ``drift``
    (half the difference between the slopes of the band's upper and lower halves: how far the band is from
    a pure power law; 0 when it is one), all scalars.
    """
    count, bins = spectra.shape
    exponent = fit_power_law(freqs, spectra.mean(axis=0))
    draws = jax.random.randint(key, (n_boot, count), 0, count)
    boot = fit_power_law(freqs, spectra[draws].mean(axis=1))
    half = bins // 2
    lower = fit_power_law(freqs[:half + 1], spectra[:, :half + 1].mean(axis=0))
    upper = fit_power_law(freqs[half:], spectra[:, half:].mean(axis=0))
    return {"exponent": exponent, "se": boot.std(), "drift": 0.5 * jnp.abs(upper - lower)}


def band_bins(num_bins: int, size: int, band: tuple[float, float]) -> tuple[int, int]:
    """Radial bins [lo, hi) whose frequency k/size (cycles per sample) lies in ``band``."""
    lo = max(1, math.ceil(band[0] * size))
    hi = min(num_bins, math.floor(band[1] * size) + 1)
    return lo, hi


def holder_exponent(alpha: float, dim: int) -> float:
    """Hölder exponent H = (α − d)/2 of a field with power ∝ |f|^−α in d dimensions (H ≥ 1: differentiable)."""
    return (alpha - dim) / 2


def predicted_exponent(kernel: str, alpha: float, dim: int) -> tuple[float, str]:
    """Predicted tail exponent of the (radially averaged, mean-per-bin) spectrum of κ′(x_e − x_t), and its regime.

    - Smooth crossings (H > 1): Lemma 3 linearizes Δ at each crossing; κ′'s singularity gives ω^−order in
      1-D, and a singularity along a curve in 2-D adds one power to the angle-averaged power (ω^−(order+1)).
      Away from crossings the map is as smooth as the inputs (ω^−α). The slower tail wins:
      −min(order + d − 1, α); regime ``kernel`` if the kernel's term is the slower one, else ``input``.
    - Rough crossings (H < 1, beyond Lemma 3): a smooth κ′ (Gaussian, Matérn) keeps the input's ω^−α; a
      jumping κ′ (Laplace) is an indicator of Δ's level set, whose increments over a lag h are nonzero with
      probability ∝ h^H, so power ∝ ω^−(d+H) (regime ``rough``).
    - No continuity (H ≤ 0, e.g. white inputs α = 0): the map is as rough as the inputs, ω^−α.
    """
    order = JUMP_ORDER[kernel] + dim - 1
    hurst = holder_exponent(alpha, dim)
    if hurst <= 0:
        return -alpha, "input"
    if hurst < 1 and kernel == "laplace":
        return -(dim + hurst), "rough"
    if order < alpha:
        return -order, "kernel"
    return -alpha, "input"


# ---------------------------------------------------------------- kernel machines on images


def pairwise_distances(x: jax.Array, y: jax.Array) -> jax.Array:
    """Euclidean distances (M, N) between rows of x (M, D) and y (N, D)."""
    squared = (x**2).sum(-1)[:, None] + (y**2).sum(-1)[None, :] - 2 * x @ y.T
    return jnp.sqrt(jnp.maximum(squared, 0.0))


def unit_rows(x: jax.Array) -> jax.Array:
    """Rows of (M, D) scaled to unit norm."""
    return x / jnp.linalg.norm(x, axis=-1, keepdims=True)


def table_lookup(grid: jax.Array, values: jax.Array, c: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Θ(c) and Θ′(c) of a dot-product kernel tabulated on an even ``grid`` over [−1, 1] (linear interpolation;
    Θ′ from central differences of the table)."""
    slope = jnp.gradient(values, grid)
    return jnp.interp(c, grid, values), jnp.interp(c, grid, slope)


def kernel_matrix(kind: str, x: jax.Array, y: jax.Array, bandwidth: float = 1.0,
                  table: tuple[jax.Array, jax.Array] | None = None) -> jax.Array:
    """k(x_m, y_n), (M, D), (N, D) → (M, N): ``laplace`` exp(−‖x − y‖/b), ``gaussian`` exp(−‖x − y‖²/2b²),
    ``dot`` Θ(cos(x, y)) from ``table`` = (grid, values)."""
    if kind == "dot":
        return table_lookup(*table, unit_rows(x) @ unit_rows(y).T)[0]
    distance = pairwise_distances(x, y)
    if kind == "laplace":
        return jnp.exp(-distance / bandwidth)
    if kind == "gaussian":
        return jnp.exp(-0.5 * (distance / bandwidth) ** 2)
    raise ValueError(f"unknown kernel machine {kind!r}; choose laplace, gaussian or dot")


def ridge_coefficients(gram: jax.Array, targets: jax.Array, ridge: float) -> jax.Array:
    """a = (K + λ·mean(diag K)·I)⁻¹ Y: (N, N), (N, C) → (N, C)."""
    scale = ridge * jnp.mean(jnp.diag(gram))
    return jax.scipy.linalg.solve(gram + scale * jnp.eye(gram.shape[0], dtype=gram.dtype), targets, assume_a="pos")


def input_gradients(kind: str, x: jax.Array, x_train: jax.Array, weights: jax.Array, bandwidth: float = 1.0,
                    table: tuple[jax.Array, jax.Array] | None = None) -> jax.Array:
    """∇ₓ Σ_n w_mn k(x_m, x_n) in closed form for each row m: x (M, D), x_train (N, D), weights (M, N) → (M, D).

    laplace: ∇k = −k (x − x_n)/(b‖x − x_n‖); gaussian: −k (x − x_n)/b²;
    dot: Θ′(c) (x̂_n − c x̂)/‖x‖ with c = cos(x, x_n). Each gradient lies in span{x, x_1 … x_N}.
    """
    if kind == "dot":
        norm = jnp.linalg.norm(x, axis=-1, keepdims=True)
        unit, unit_train = x / norm, unit_rows(x_train)
        cosine = unit @ unit_train.T
        slope = table_lookup(*table, cosine)[1]
        coeff = weights * slope / norm
        return coeff @ unit_train - (coeff * cosine).sum(-1, keepdims=True) * unit
    gram = kernel_matrix(kind, x, x_train, bandwidth)
    if kind == "laplace":
        distance = pairwise_distances(x, x_train)
        coeff = weights * gram / (bandwidth * jnp.maximum(distance, 1e-12))
    else:
        coeff = weights * gram / bandwidth**2
    return coeff @ x_train - coeff.sum(-1, keepdims=True) * x


def explain_ridge(kind: str, x_train: jax.Array, y_train: jax.Array, x_test: jax.Array, num_classes: int, *,
                  bandwidth: float = 1.0, table=None, ridge: float = 1e-3) -> tuple[jax.Array, jax.Array]:
    """Fit one-vs-rest kernel ridge regression on flattened images; explain each test image's predicted class.

    x_train (N, D), y_train (N,) int, x_test (M, D) → (gradients (M, D), accuracy scalar).
    """
    targets = jax.nn.one_hot(y_train, num_classes, dtype=x_train.dtype)
    coefficients = ridge_coefficients(kernel_matrix(kind, x_train, x_train, bandwidth, table), targets, ridge)
    scores = kernel_matrix(kind, x_test, x_train, bandwidth, table) @ coefficients
    predicted = scores.argmax(-1)
    weights = coefficients.T[predicted]                      # (M, N): the predicted class's coefficients
    return input_gradients(kind, x_test, x_train, weights, bandwidth, table), predicted


def map_ef(gradients: jax.Array, image_shape: tuple[int, int, int]) -> jax.Array:
    """Channel-summed gradient maps (M, H·W·C) → EF per map (M,) (rank-normalized, unit scale)."""
    maps = gradients.reshape(-1, *image_shape).sum(-1)
    return spectral.expected_frequency(maps)
