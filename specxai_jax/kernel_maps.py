"""Theorem 1 (App. E) and App. G in numbers: gradient maps of shift-invariant kernels and of kernel machines.

Lemma 3's setting: two signals x_e(τ), x_t(τ) on a grid (1-D (N,) or 2-D (N, N)), a kernel κ_b acting on
pixel values, and the map m(τ) = κ′_b(x_e(τ) − x_t(τ)). Its spatial power spectrum has a power-law tail
whose exponent is set either by the kernel (κ′'s first singularity at Δ = 0) or by the inputs' own 1/f^α
spectrum, whichever decays slower (see :func:`predicted_exponent`).

Whole kernel machines: kernel ridge regression f(x) = Σ_i a_i k(x, x_i) on flattened images, and its input
gradient ∇ₓf in closed form for the Laplace and Gaussian kernels and for dot-product kernels Θ(cos(x, x_i))
given as a table (e.g. infinite-width NTKs from ``specxai_jax.ntk.analytic``).

The map and fit functions are pure JAX and work in the caller's precision (call them under
``jax.enable_x64(True)`` to resolve steep tails: a power ratio of 1e-20 is below float32's resolution). The exact
finite-size predictions (:func:`exact_radial_spectrum`) are NumPy/SciPy in float64.
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
from scipy import special

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


def bin_frequencies(size: int, dim: int) -> np.ndarray:
    """Each radial bin's mean radius in cycles per sample, shape (K,): k/size in 1-D; in 2-D the mean of
    √(dx² + dy²)/size over the bin's pixels (labelling bin k as k/size flattens a fitted 2-D slope)."""
    height = 1 if dim == 1 else size
    dy = np.arange(height)[:, None] - height // 2
    dx = np.arange(size)[None, :] - size // 2
    radius = np.sqrt(dy**2 + dx**2).ravel()
    bins = spectral.radius_bins(height, size).ravel()
    return np.bincount(bins, radius) / np.bincount(bins) / size


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


# ---------------------------------------------------------------- exact finite-size expectation (Gaussian inputs)

EXACT_MAPS = KERNELS + ("sign",)
"""Maps with a closed-form Gaussian conditional mean: the three kernels' κ′ and sign (F(ρ) = (2/π) arcsin ρ)."""


def conditional_mean(kernel: str, mu: np.ndarray, tau: np.ndarray, bandwidth: float) -> np.ndarray:
    """E[κ′_b(μ + τZ)], Z standard normal, in closed form (float64; broadcasts μ, τ > 0).

    Laplace and Matérn-3/2 split at 0 and tilt the Gaussian by e^{∓cu}; the Gaussian kernel's product with the
    normal density is Gaussian again; ``sign`` gives 2Φ(μ/τ) − 1.
    """
    b = bandwidth
    mu, tau = np.asarray(mu, float), np.asarray(tau, float)
    if kernel == "sign":
        return special.erf(mu / (tau * math.sqrt(2.0)))
    if kernel == "gaussian":
        total = b**2 + tau**2
        return -(b / np.sqrt(total)) * np.exp(-(mu**2) / (2 * total)) * (mu * b**2 / total) / b**2
    if kernel not in ("laplace", "matern32"):
        raise ValueError(f"unknown map {kernel!r}; choose one of {EXACT_MAPS}")
    c = 1.0 / b if kernel == "laplace" else math.sqrt(3.0) / b
    # E[e^{-cu} 1(u>0)] = exp(-cμ + c²τ²/2) Φ(μ/τ - cτ) and its mirror, in logs (no overflow)
    upper = np.exp(-c * mu + 0.5 * (c * tau) ** 2 + special.log_ndtr(mu / tau - c * tau))
    lower = np.exp(c * mu + 0.5 * (c * tau) ** 2 + special.log_ndtr(-mu / tau - c * tau))
    if kernel == "laplace":  # κ′ = -sign(u) e^{-|u|/b} / b
        return -(upper - lower) / b
    # κ′ = -3u/b² e^{-c|u|}: under the tilted Gaussians u has mean μ ∓ cτ²; the τφ(μ/τ) terms cancel
    return -3.0 / b**2 * ((mu - c * tau**2) * upper + (mu + c * tau**2) * lower)


def _outer_nodes(count: int = 16, panels: int = 24, reach: float = 9.0) -> tuple[np.ndarray, np.ndarray]:
    """Composite Gauss–Legendre nodes and standard-normal-weighted weights on [−reach, reach], with 0 a panel
    edge (κ′ of Laplace jumps there) and panels packed near 0 where κ′ of a narrow kernel varies fastest."""
    edges = reach * np.linspace(0.0, 1.0, panels + 1) ** 2
    edges = np.concatenate([-edges[:0:-1], edges])
    x, w = np.polynomial.legendre.leggauss(count)
    half = np.diff(edges)[:, None] / 2
    nodes = (edges[:-1, None] + half * (x + 1)).ravel()
    weights = (half * w).ravel() * np.exp(-0.5 * nodes**2) / math.sqrt(2 * math.pi)
    return nodes, weights


def map_covariance(kernel: str, rho: np.ndarray, bandwidth: float, scale: float = 1.0) -> np.ndarray:
    """F(ρ) = E[κ′_b(sX) κ′_b(sY)] for (X, Y) standard bivariate normal with correlation ρ, any shape.

    Y = ρX + √(1 − ρ²)Z: the inner expectation over Z is :func:`conditional_mean`, the outer one over X a
    composite Gauss–Legendre rule (exact to ~1e-12 for the maps here). ``scale`` s is the inputs' std.
    """
    rho = np.clip(np.asarray(rho, float), -1.0, 1.0)
    nodes, weights = _outer_nodes()
    outer = conditional_mean(kernel, scale * nodes, np.full_like(nodes, 1e-12), bandwidth)  # κ′(s·x)
    flat = rho.ravel()
    result = np.empty_like(flat)
    for start in range(0, flat.size, 2048):
        r = flat[start:start + 2048, None]
        tau = scale * np.maximum(np.sqrt(1.0 - r**2), 1e-12)
        result[start:start + 2048] = (conditional_mean(kernel, scale * r * nodes, tau, bandwidth) * outer) @ weights
    return result.reshape(rho.shape)


def field_correlation(size: int, dim: int, alpha: float) -> np.ndarray:
    """Lag correlation ρ(h) of :func:`power_law_fields` on the periodic grid, shape (size,)*dim, ρ(0) = 1."""
    freqs = np.meshgrid(*([np.fft.fftfreq(size)] * dim), indexing="ij")
    radius = np.sqrt(sum(f**2 for f in freqs))
    power = np.where(radius > 0, np.where(radius > 0, radius, 1.0) ** -float(alpha), 0.0)
    covariance = np.fft.ifftn(power).real
    return covariance / covariance.flat[0]


def exact_radial_spectrum(kernel: str, alpha: float, size: int, dim: int, bandwidth: float,
                          scale: float = math.sqrt(2.0)) -> np.ndarray:
    """Expected radial power spectrum (K,) of κ′_b(Δ), Δ Gaussian with std ``scale`` and the lag correlation of
    two independent unit :func:`power_law_fields` (Δ = x_e − x_t: s = √2), binned as
    :func:`specxai_jax.spectral.radial_power_spectrum` bins a map (1-D as a one-row map).

    E|FFT(m)|² = N^d · DFT(C), C(h) = F(ρ(h)) (:func:`map_covariance`); the map's mean (F at ρ's constant part)
    only moves bin 0.
    """
    rho = field_correlation(size, dim, alpha)
    # ρ is even in each lag and (2-D) symmetric under swapping them: evaluate F once per folded, sorted lag
    lags = np.stack(np.meshgrid(*([np.arange(size)] * dim), indexing="ij"), axis=-1).reshape(-1, dim)
    folded = np.sort(np.minimum(lags, size - lags), axis=-1)
    unique, inverse = np.unique(folded, axis=0, return_inverse=True)
    values = map_covariance(kernel, rho[tuple(unique.T)], bandwidth, scale)
    covariance = values[inverse.ravel()].reshape(rho.shape)
    power = np.abs(np.fft.fftn(covariance)) * size**dim
    power = np.fft.fftshift(power).reshape(1, size) if dim == 1 else np.fft.fftshift(power)
    bins = spectral.radius_bins(*power.shape).ravel()
    return np.bincount(bins, power.ravel()) / np.bincount(bins)


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
    # jnp.gradient is typed Array | list[Array]; a 1-D ``values`` gives one Array
    return jnp.interp(c, grid, values), jnp.interp(c, grid, slope)  # type: ignore[arg-type]


def dot_table(table: tuple[jax.Array, jax.Array] | None) -> tuple[jax.Array, jax.Array]:
    """The (grid, values) table a ``dot`` kernel machine needs; ValueError when it is missing."""
    if table is None:
        raise ValueError("the dot kernel machine needs table=(grid, values) of its kernel Θ on [-1, 1]")
    return table


def l1_distances(x: jax.Array, y: jax.Array) -> jax.Array:
    """City-block distances (M, N) between rows of x (M, D) and y (N, D), one row of x at a time."""
    return jax.lax.map(lambda row: jnp.abs(row - y).sum(-1), x)


def kernel_matrix(kind: str, x: jax.Array, y: jax.Array, bandwidth: float = 1.0,
                  table: tuple[jax.Array, jax.Array] | None = None) -> jax.Array:
    """k(x_m, y_n), (M, D), (N, D) → (M, N): ``laplace`` exp(−‖x − y‖/b), ``laplace_l1`` the product (per-pixel)
    Laplace kernel exp(−‖x − y‖₁/b) = Π_j exp(−|x_j − y_j|/b), ``gaussian`` exp(−‖x − y‖²/2b²),
    ``dot`` Θ(cos(x, y)) from ``table`` = (grid, values)."""
    if kind == "dot":
        return table_lookup(*dot_table(table), unit_rows(x) @ unit_rows(y).T)[0]
    if kind == "laplace_l1":
        return jnp.exp(-l1_distances(x, y) / bandwidth)
    distance = pairwise_distances(x, y)
    if kind == "laplace":
        return jnp.exp(-distance / bandwidth)
    if kind == "gaussian":
        return jnp.exp(-0.5 * (distance / bandwidth) ** 2)
    raise ValueError(f"unknown kernel machine {kind!r}; choose laplace, laplace_l1, gaussian or dot")


def ridge_coefficients(gram: jax.Array, targets: jax.Array, ridge: float) -> jax.Array:
    """a = (K + λ·mean(diag K)·I)⁻¹ Y: (N, N), (N, C) → (N, C)."""
    scale = ridge * jnp.mean(jnp.diag(gram))
    return jax.scipy.linalg.solve(gram + scale * jnp.eye(gram.shape[0], dtype=gram.dtype), targets, assume_a="pos")


def input_gradients(kind: str, x: jax.Array, x_train: jax.Array, weights: jax.Array, bandwidth: float = 1.0,
                    table: tuple[jax.Array, jax.Array] | None = None) -> jax.Array:
    """∇ₓ Σ_n w_mn k(x_m, x_n) in closed form for each row m: x (M, D), x_train (N, D), weights (M, N) → (M, D).

    laplace: ∇k = −k (x − x_n)/(b‖x − x_n‖); gaussian: −k (x − x_n)/b²;
    dot: Θ′(c) (x̂_n − c x̂)/‖x‖ with c = cos(x, x_n): each of these lies in span{x, x_1 … x_N}.
    laplace_l1: −k sign(x − x_n)/b, a per-pixel crossing (Lemma 3's setting) at every x_j = x_nj.
    """
    if kind == "laplace_l1":
        coeff = weights * kernel_matrix(kind, x, x_train, bandwidth) / bandwidth           # (M, N)
        return -jax.lax.map(lambda args: args[1] @ jnp.sign(args[0] - x_train), (x, coeff))
    if kind == "dot":
        norm = jnp.linalg.norm(x, axis=-1, keepdims=True)
        unit, unit_train = x / norm, unit_rows(x_train)
        cosine = unit @ unit_train.T
        slope = table_lookup(*dot_table(table), cosine)[1]
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
