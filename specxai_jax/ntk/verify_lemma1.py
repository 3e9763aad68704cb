"""Numerical check of Lemma 1: smoothing ReLU makes the NTK spectrum decay faster.

``python -m ntk.verify_lemma1 [--out DIR] [--quick] [--betas 0.5,1,10]`` writes ``lemma1.json`` (per
family and β: Mercer eigenvalues on the sphere, Gram spectra, fitted decay, and each check with its
measured error and verdict) and ``fig_ntk_eigendecay.png``; the exit status is 1 when a check fails, 2 on bad input.

Families: SoftPlus(β) and the Gaussian-smoothed ReLU whose variance matches it (precision 3β²/π²).
"""

from __future__ import annotations

import dataclasses
import math
import time
import warnings
from pathlib import Path
from typing import Any

import jax
import numpy as np
from scipy import integrate, interpolate, special, stats
from tqdm import tqdm

from specxai_jax.data import synthetic
from specxai_jax.models import PlainCNN, init_variables
from specxai_jax.models.mlp import MLP
from specxai_jax.ntk import analytic, empirical, spectrum
from specxai_jax.ops.activations import logistic_matched_precision
from specxai_jax.stats import spearman
from specxai_jax.storage import atomic

PAPER_BETAS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 2.0, 3.0, 5.0, 7.0, 10.0, 50.0, 100.0)
QUICK_BETAS = (0.1, 1.0, 10.0)
FAMILIES = ("softplus", "gauss")
COSINES = np.linspace(-1.0, 1.0, 21)


@dataclasses.dataclass(frozen=True)
class Settings:
    """Sizes of every computation; :meth:`quick` shrinks them for tests."""

    betas: tuple = PAPER_BETAS
    depth: int = 2  # hidden layers of the analytic network
    sphere_dim: int = 3  # S^{d−1} ⊂ R^d
    max_degree: int = 60
    quadrature_nodes: int = 2000
    sphere_points: int = 400
    hermite_degree: int = 100  # the quadrature check uses this and twice this
    images: int = 128
    image_size: int = 16
    widths: tuple = (64, 256, 1024, 4096)
    width_seeds: int = 4
    width_input_dim: int = 6
    width_activations: tuple = (("softplus", 1.0), ("gauss", 1.0), ("relu", math.inf))
    tail_start: int = 2  # Mercer degree / Gram index from which the tail share is counted
    fit_floor: float = 1e-11

    @classmethod
    def quick(cls) -> "Settings":
        return cls(betas=QUICK_BETAS, max_degree=30, quadrature_nodes=600, sphere_points=150, hermite_degree=50,
                   images=32, image_size=16, widths=(64, 512, 4096), width_seeds=3,
                   width_activations=(("softplus", 1.0),))


def check(error: float, tolerance: float, **details) -> dict:
    """A check record: measured error, tolerance, and verdict (error ≤ tolerance)."""
    return {"error": float(error), "tolerance": float(tolerance), "passed": bool(error <= tolerance), **details}


def parameter(family: str, beta: float) -> float:
    """The activation's own parameter: β for SoftPlus, the matched precision 3β²/π² for ``gauss``."""
    return beta if family == "softplus" or math.isinf(beta) else logistic_matched_precision(beta)


def ntk_fn(family: str, beta: float, settings: Settings):
    """Θ(c) of the analytic network for this family and β."""
    return lambda c: analytic.dot_product_ntk(c, depth=settings.depth, activation=family, beta=parameter(family, beta))


def scalar_activation(family: str, param: float):
    """(φ, φ′) in plain floats, written from the definitions (independent of the JAX code under test)."""
    if family == "gauss":
        root = math.sqrt(param)
        return (lambda u: u * stats.norm.cdf(u * root) + stats.norm.pdf(u * root) / root,
                lambda u: stats.norm.cdf(u * root))
    return lambda u: np.logaddexp(0.0, param * u) / param, lambda u: special.expit(param * u)


def diagonal_by_adaptive_quadrature(family: str, param: float) -> np.ndarray:
    """(E[φ(u)²], E[φ′(u)²]) for u ~ N(0, 1) by adaptive quadrature split at φ's bend (resolves any β)."""

    def expectation(f):
        value, _ = integrate.quad(lambda u: f(u) ** 2 * stats.norm.pdf(u), -12.0, 12.0, points=[0.0], limit=500,
                                  epsabs=1e-14, epsrel=1e-12)
        return value

    return np.array([expectation(f) for f in scalar_activation(family, param)])


def kernel_checks(family: str, beta: float, settings: Settings) -> dict:
    """Closed form vs neural-tangents (``stax`` with the same duals) vs quadratures of φ itself.

    The 2-D Gauss–Hermite check is kept only where it converges (its own error estimate ≤ 1e-6); sharp φ
    (large β) are covered by the adaptive 1-D check of the diagonal and by the ReLU-limit check.
    """
    param = parameter(family, beta)
    ours = ntk_fn(family, beta, settings)(COSINES)
    through_stax = analytic.stax_dot_product_kernels(COSINES, depth=settings.depth, activation=family, beta=param)[1]
    phi = analytic.activation_fn(family, param)
    quadratures = []
    for degree in (settings.hermite_degree, 2 * settings.hermite_degree):
        duals = analytic.gauss_hermite_duals(phi, analytic.elementwise_derivative(phi), degree)
        quadratures.append(analytic.dot_product_kernels(COSINES, depth=settings.depth, activation=family,
                                                        kernel_duals=duals)[1])
    estimate = float(np.abs(quadratures[1] - quadratures[0]).max())
    duals = analytic.duals(family, param)
    with jax.enable_x64(True):
        diagonal = np.array([float(duals.nngp(1.0, 1.0, 1.0)), float(duals.d_nngp(1.0, 1.0, 1.0))])
    reference = diagonal_by_adaptive_quadrature(family, param)
    checks = {
        "neural_tangents": check(np.abs(ours - through_stax).max(), 1e-10),
        "quadrature_diagonal": check(np.abs(diagonal / reference - 1).max(), 1e-8),
    }
    if estimate <= 1e-6:
        checks["quadrature_gauss_hermite"] = check(np.abs(ours - quadratures[1]).max(), 1e-7 + 2 * estimate,
                                                   quadrature_error_estimate=estimate)
    return checks


def relu_limit(settings: Settings) -> dict:
    """‖Θ_β − Θ_ReLU‖∞ must shrink like the smoothing's std (∝ 1/β in both families): ratio ≈ 10 per decade."""
    relu = ntk_fn("relu", math.inf, settings)(COSINES)
    out = {}
    for family in FAMILIES:
        errors = [float(np.abs(ntk_fn(family, b, settings)(COSINES) - relu).max()) for b in (10.0, 100.0, 1000.0)]
        ratios = [errors[0] / errors[1], errors[1] / errors[2]]
        out[family] = check(max(abs(r / 10 - 1) for r in ratios), 0.3, errors_at_beta_10_100_1000=errors)
    return out


def relu_against_neural_tangents(settings: Settings) -> dict:
    """Our ReLU recursion vs neural-tangents' own ``stax.Relu`` at depths 1–3."""
    errors = [np.abs(analytic.dot_product_kernels(COSINES, depth=d, activation="relu")[1]
                     - analytic.stax_dot_product_kernels(COSINES, depth=d, activation="relu")[1]).max()
              for d in (1, 2, 3)]
    return check(max(errors), 1e-12)


def sphere_spectra(family: str, beta: float, settings: Settings, points: np.ndarray) -> dict:
    """Mercer eigenvalues on S^{d−1} (with fit and tail share) and the Gram spectrum on ``points``."""
    kernel = ntk_fn(family, beta, settings)
    mu = spectrum.mercer_eigenvalues(kernel, settings.sphere_dim, settings.max_degree, settings.quadrature_nodes)
    multiplicity = spectrum.harmonic_multiplicity(settings.sphere_dim, np.arange(len(mu)))
    gram_kernel = angular_interpolant(kernel)(np.clip(points @ points.T, -1, 1))
    gram = spectrum.gram_eigenvalues(gram_kernel) / len(points)
    return {
        "mercer_eigenvalues": mu.tolist(),
        "mercer_fit": spectrum.fit_decay(mu, floor=settings.fit_floor).as_dict(),
        "mercer_tail_share": spectrum.tail_fraction(mu, multiplicity, start=settings.tail_start),
        "mercer_trace_error": abs(float(np.sum(mu * multiplicity)) - float(kernel(np.ones(1))[0])),
        "sphere_gram_eigenvalues": gram.tolist(),
    }


def angular_interpolant(kernel, nodes: int = 4001):
    """κ(c) through a cubic spline in the angle arccos c (κ is smooth in the angle, even for ReLU).

    Cheap evaluation for Gram matrices; interpolation error below 1e-9 for these kernels.
    """
    angles = np.linspace(0.0, np.pi, nodes)
    spline = interpolate.CubicSpline(angles, kernel(np.cos(angles)))
    return lambda c: spline(np.arccos(np.clip(c, -1.0, 1.0)))


def empirical_gram(family: str, beta: float, images: np.ndarray, seed: int = 0) -> np.ndarray:
    """Normalized eigenvalues of the empirical NTK of a small PlainCNN (same weights for every β)."""
    model = PlainCNN(depth=2, width=16, dense=64, num_classes=1, activation=family)
    variables = init_variables(model, jax.random.PRNGKey(seed), parameter(family, beta), images.shape)
    eigenvalues = spectrum.gram_eigenvalues(empirical.empirical_ntk(model, variables, images))
    return eigenvalues / eigenvalues[0]


def width_convergence(settings: Settings) -> dict:
    """Relative error of wide MLPs' empirical NTK vs the analytic one; slope of log error vs log width."""
    x = empirical.sphere_points(jax.random.PRNGKey(0), 12, settings.width_input_dim)
    cosines = np.clip(np.asarray(x @ x.T, np.float64) / settings.width_input_dim, -1, 1)
    out = {}
    for family, beta in settings.width_activations:
        reference = ntk_fn(family, beta, settings)(cosines)
        errors = []
        for width in settings.widths:
            model = MLP(depth=settings.depth, width=width, activation=family)
            kernels = [empirical.empirical_ntk(model, init_variables(model, jax.random.PRNGKey(s),
                                                                    parameter(family, beta), x.shape), x)
                       for s in range(settings.width_seeds)]
            errors.append(float(np.mean([empirical.relative_error(k, reference) for k in kernels])))
        fit = stats.linregress(np.log(settings.widths), np.log(errors))
        name = family if math.isinf(beta) else f"{family}(beta={beta:g})"
        # Pass: error falls at every step, and the slope is −1/2 within ±0.25 (a few seeds are noisy).
        decreasing = all(a > b for a, b in zip(errors, errors[1:]))
        out[name] = check(abs(fit.slope + 0.5) if decreasing else math.inf, 0.25, widths=list(settings.widths),
                          relative_errors=errors, slope=fit.slope, slope_stderr=fit.stderr)
    return out


def ordering_check(betas, values, relu_value, *, strict: bool) -> dict:
    """Tail shares must grow with β (strictly, or Spearman ρ ≥ 0.9), and ReLU's must be the largest."""
    values = np.asarray(values)
    rho = spearman(betas, values)
    monotone = bool(np.all(np.diff(values) > 0)) if strict else rho >= 0.9
    relu_heaviest = bool(relu_value >= values.max())
    return {"error": 1.0 - rho, "tolerance": 0.0 if strict else 0.1, "passed": monotone and relu_heaviest,
            "spearman": rho, "strictly_increasing": bool(np.all(np.diff(values) > 0)), "relu_heaviest": relu_heaviest}


def matched_gaussian_check(beta: float, settings: Settings) -> dict:
    """Sup relative distance of Θ: SoftPlus(β) vs gauss at 3β²/π² (matched) and at β (the paper's Eq. 46)."""
    cosines = np.linspace(-1, 1, 201)
    softplus = analytic.dot_product_ntk(cosines, depth=settings.depth, activation="softplus", beta=beta)
    scale = np.abs(softplus).max()

    def distance(precision):
        gauss = analytic.dot_product_ntk(cosines, depth=settings.depth, activation="gauss", beta=precision)
        return float(np.abs(gauss - softplus).max() / scale)

    matched, naive = distance(logistic_matched_precision(beta)), distance(beta)
    return {"error": matched, "tolerance": 0.1, "passed": bool(matched <= 0.1 and matched < naive),
            "precision_beta_error": naive}


def run(settings: Settings) -> dict:
    """Every spectrum and check; returns the JSON-ready report."""
    rng = np.random.default_rng(0)
    points = rng.standard_normal((settings.sphere_points, settings.sphere_dim))
    points /= np.linalg.norm(points, axis=1, keepdims=True)
    images = synthetic.generate(size=settings.image_size, n_train=settings.images, n_test=10, seed=0)[0]
    cases = [(f, b) for f in FAMILIES for b in settings.betas] + [("relu", math.inf)]
    report: dict[str, Any] = {"settings": {k: (list(v) if isinstance(v, tuple) else v) for k, v in
                           dataclasses.asdict(settings).items() if k != "width_activations"},
              "families": {}, "checks": {}}
    for family, beta in tqdm(cases, desc="kernels per β", unit="β"):
        entry: dict[str, Any] = {"beta": "inf" if math.isinf(beta) else beta, "parameter": parameter(family, beta)}
        entry.update(sphere_spectra(family, beta, settings, points))
        eigen = empirical_gram(family, beta, images)
        entry["empirical_gram_eigenvalues"] = eigen.tolist()
        entry["empirical_tail_share"] = spectrum.tail_fraction(eigen, start=settings.tail_start)
        entry["checks"] = kernel_checks(family, beta, settings) if family != "relu" else {}
        if family == "softplus" and not math.isinf(beta):
            entry["checks"]["matched_gaussian_tracks_softplus"] = matched_gaussian_check(beta, settings)
        report["families"].setdefault(family, []).append(entry)
    relu = report["families"]["relu"][0]
    for family in FAMILIES:
        entries = report["families"][family]
        report["checks"][f"mercer_decay_ordered_{family}"] = ordering_check(
            settings.betas, [e["mercer_tail_share"] for e in entries], relu["mercer_tail_share"], strict=True)
        report["checks"][f"empirical_decay_ordered_{family}"] = ordering_check(
            settings.betas, [e["empirical_tail_share"] for e in entries], relu["empirical_tail_share"], strict=False)
    report["checks"]["relu_vs_neural_tangents"] = relu_against_neural_tangents(settings)
    for family, record in relu_limit(settings).items():
        report["checks"][f"relu_limit_{family}"] = record
    report["checks"]["mercer_trace_relu"] = check(relu["mercer_trace_error"], 0.02 if settings.max_degree < 60 else 0.01)
    for name, record in width_convergence(settings).items():
        report["checks"][f"width_convergence_{name}"] = record
    verdicts = [c["passed"] for c in report["checks"].values()]
    verdicts += [c["passed"] for entries in report["families"].values() for e in entries for c in e["checks"].values()]
    report["passed"] = all(verdicts)
    return report


def failures(report: dict) -> list[str]:
    """Names of the failed checks."""
    names = [name for name, c in report["checks"].items() if not c["passed"]]
    for family, entries in report["families"].items():
        names += [f"{family}(beta={e['beta']}).{name}" for e in entries for name, c in e["checks"].items()
                  if not c["passed"]]
    return names


def eigendecay_figure(report: dict, path: Path) -> None:
    """Four log–log panels: empirical CNN NTK (Fig. 11 analogue), sphere Gram, Mercer, matched Gaussian."""
    import matplotlib
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import LogNorm

    from specxai_jax import plots

    softplus, gauss, relu = (report["families"][name] for name in ("softplus", "gauss", "relu"))
    betas = [e["beta"] for e in softplus]
    norm = LogNorm(min(betas), max(betas))
    cmap = matplotlib.colormaps["viridis"]
    fig, axes = plots.figure(2, 2, figsize=(12, 9.5))

    def normalized(values, skip_first=False):
        values = np.clip(np.asarray(values), 1e-300, None) / max(values)
        index = np.arange(len(values))
        return (index[1:], values[1:]) if skip_first else (index + 1, values)

    panels = [
        (axes[0, 0], "empirical_gram_eigenvalues", False, "(a) Empirical NTK, PlainCNN on synthetic images",
         "eigenvalue index"),
        (axes[0, 1], "sphere_gram_eigenvalues", False, "(b) Analytic NTK Gram, points on $S^2$", "eigenvalue index"),
        (axes[1, 0], "mercer_eigenvalues", True, "(c) Mercer eigenvalues on $S^2$ (Funk–Hecke)", "degree $k$"),
    ]
    for ax, key, skip_first, title, xlabel in panels:
        for entry in softplus:
            ax.loglog(*normalized(entry[key], skip_first), color=cmap(norm(entry["beta"])), lw=1.2)
        ax.loglog(*normalized(relu[0][key], skip_first), color="black", lw=2.2, ls="--", label="ReLU")
        ax.set(title=title, xlabel=xlabel, ylabel="normalized eigenvalue")
        ax.legend(loc="lower left")
        ax.grid(True, which="major", alpha=0.3)
    floor = report["settings"]["fit_floor"]
    axes[0, 0].set_ylim(1e-8, 2.0)  # float32 Jacobians: smaller eigenvalues are rounding noise
    for ax in axes[0, 1], axes[1, 0]:
        ax.set_ylim(floor / 10, 2.0)
    ax = axes[1, 1]
    shown = [e for e in softplus if e["beta"] in (0.5, 1.0, 3.0, 10.0, 100.0)] or softplus
    for entry in shown:
        match = next(g for g in gauss if g["beta"] == entry["beta"])
        color = cmap(norm(entry["beta"]))
        ax.loglog(*normalized(entry["mercer_eigenvalues"], True), color=color, lw=1.6, label=f"SoftPlus β={entry['beta']:g}")
        ax.loglog(*normalized(match["mercer_eigenvalues"], True), color=color, lw=1.6, ls=":",
                  label=f"Gauss p=3β²/π², β={entry['beta']:g}")
    ax.loglog(*normalized(relu[0]["mercer_eigenvalues"], True), color="black", lw=2.2, ls="--", label="ReLU")
    ax.set(title="(d) SoftPlus(β) vs variance-matched Gaussian smoothing", xlabel="degree $k$",
           ylabel="normalized eigenvalue", ylim=(floor / 10, 1.5))
    ax.legend(fontsize=7, ncol=3, loc="upper center", bbox_to_anchor=(0.5, -0.13))  # below the panel, off the curves
    ax.grid(True, which="major", alpha=0.3)
    bar = fig.colorbar(ScalarMappable(norm=norm, cmap=cmap), ax=axes[:, 1], shrink=0.6)
    bar.set_label("SoftPlus β (solid lines)")
    fig.suptitle("NTK eigen-decay: smaller β → faster decay; ReLU has the heaviest tail (Lemma 1)", fontsize=13)
    plots.save_with_vector(fig, path)

def verify(settings: Settings, out: Path) -> dict:
    """:func:`run` timed, written to ``out`` as lemma1.json and fig_ntk_eigendecay.png; returns the report."""
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # neural-tangents' notices about future JAX
        report = run(settings)
    report["seconds"] = time.perf_counter() - start
    atomic.write_json(out / "lemma1.json", report)
    eigendecay_figure(report, out / "fig_ntk_eigendecay.png")
    return report
