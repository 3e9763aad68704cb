"""Figures of a β-sweep (the paper's Figs. 2, 3, 5 and 13), saved atomically as PNG with a PDF beside it.

Every function takes plain numbers (β as float, ``inf`` for ReLU) so any experiment can reuse it.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Collection, Mapping, Sequence

import matplotlib
import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from specxai_jax import atomic

RELU_COLOUR = "black"


def figure(nrows: int = 1, ncols: int = 1, *, figsize, layout: str | None = "constrained", **subplots):
    """(Figure, axes) like ``pyplot.subplots`` but outside pyplot: no backend chosen, no global figure
    registry, nothing to close; saved with ``Figure.savefig``."""
    fig = Figure(figsize=figsize, layout=layout)
    return fig, fig.subplots(nrows, ncols, **subplots)


def beta_label(beta: float) -> str:
    """'ReLU' for inf, else 'β=3' style."""
    return "ReLU" if math.isinf(beta) else f"β={beta:g}"


def beta_positions(betas: Sequence[float]) -> tuple[np.ndarray, float]:
    """x positions on a log axis for β values, ReLU (inf) placed one decade beyond the largest finite β.

    Returns (positions (n,), the ReLU position).
    """
    finite = [b for b in betas if math.isfinite(b)]
    relu_at = 10 * max(finite) if finite else 1.0
    return np.array([relu_at if math.isinf(b) else b for b in betas], float), relu_at


def beta_axis(ax, betas: Sequence[float]) -> None:
    """Log β axis with ticks at the decades of the finite β and a 'ReLU' tick where inf sits."""
    _, relu_at = beta_positions(betas)
    ax.set_xscale("log")
    finite = [b for b in betas if math.isfinite(b)]
    if any(math.isinf(b) for b in betas):
        ax.axvline(relu_at, color="0.85", lw=0.8, zorder=0)
        decades = [10.0**k for k in range(math.ceil(math.log10(min(finite))), math.floor(math.log10(max(finite))) + 1)] \
            if finite else []
        decades = decades or sorted(finite)  # no decade inside the range: label the β themselves
        ax.set_xticks(decades + [relu_at], [f"{d:g}" for d in decades] + ["ReLU"])
        ax.minorticks_off()
    ax.set_xlabel("β (SoftPlus sharpness; ReLU = β → ∞)")


def integer_axis(ax, values: Sequence[float]) -> None:
    """Integer ticks on the y axis of counts ``values``, at least one unit of range (so one value still gets one)."""
    ax.set_ylim(min(values) - 0.5, max(values) + 0.5)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))


def beta_colours(betas: Sequence[float]) -> list:
    """A viridis colour per finite β by log β; black for ReLU."""
    finite = np.log10([b for b in betas if math.isfinite(b)] or [1.0])
    low, high = finite.min(), max(finite.max(), finite.min() + 1e-9)
    cmap = matplotlib.colormaps["viridis"]
    return [RELU_COLOUR if math.isinf(b) else cmap((math.log10(b) - low) / (high - low)) for b in betas]


def ef_vs_beta(path, rows: Sequence[Mapping], *, ylabel: str = "Expected Frequency (unit scale)") -> None:
    """Fig. 3: EF of each model against β (one marker per seed, hollow if it missed the cap), mean line.

    ``rows``: dicts with ``beta``, ``seed``, ``ef``, ``ef_std``, ``reached_cap`` (bool).
    """
    betas = sorted({float(r["beta"]) for r in rows})
    fig, ax = figure(figsize=(6, 4))
    for seed in sorted({r["seed"] for r in rows}):
        mine = sorted((r for r in rows if r["seed"] == seed), key=lambda r: float(r["beta"]))
        x, _ = beta_positions([float(r["beta"]) for r in mine])
        ef = np.array([r["ef"] for r in mine], float)
        err = np.array([r["ef_std"] for r in mine], float)
        line = ax.errorbar(x, ef, yerr=err, fmt="-", lw=1, alpha=0.6, capsize=2, label=f"seed {seed}")
        colour = line.lines[0].get_color()
        capped = np.array([bool(r["reached_cap"]) for r in mine])
        ax.scatter(x[capped], ef[capped], color=colour, zorder=3)
        ax.scatter(x[~capped], ef[~capped], facecolors="white", edgecolors=colour, zorder=3)
    beta_axis(ax, betas)
    ax.set_ylabel(ylabel)
    ax.set_title("Explanation complexity vs activation smoothness\n(filled: reached the accuracy cap; bars: std over images)",
                 fontsize=9)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    save_with_vector(fig, path)


def radial_spectra(path, spectra: Mapping[float, np.ndarray], below_cap: Collection[float] = ()) -> None:
    """Fig. 2: mean normalized radial spectrum p_k per β against frequency ω_k = k/(K−1), log power.

    ``spectra``: β → (K,) probabilities (ReLU: β = inf, drawn black and thick); β in ``below_cap``
    (models that missed the accuracy cap) are drawn dotted and labelled so.
    """
    betas = sorted(spectra)
    fig, ax = figure(figsize=(6, 4))
    for beta, colour in zip(betas, beta_colours(betas)):
        p = np.asarray(spectra[beta], float)
        omega = np.arange(p.size) / max(p.size - 1, 1)
        relu = math.isinf(beta)
        missed = beta in below_cap
        # ReLU underneath, thin: the sharpest SoftPlus curves (β = 50, 100) lie almost on it and stay visible
        ax.plot(omega, p, color=colour, lw=2.4 if relu else 1.2, ls=":" if missed else "-",
                alpha=0.35 if relu else 0.95, label=beta_label(beta) + (" (below cap)" if missed else ""),
                zorder=1 if relu else 2)
    ax.set_yscale("log")
    ax.set_xlabel("spatial frequency ω (unit scale)")
    ax.set_ylabel("normalized power p(ω) (mean over images)")
    ax.set_title("Radial power spectrum of VanillaGrad maps", fontsize=9)
    ax.grid(True, alpha=0.3, which="both")
    ax.legend(fontsize=7, ncol=2)
    save_with_vector(fig, path)


def accuracy_vs_beta(path, rows: Sequence[Mapping], acc_cap: float | None) -> None:
    """Fig. 5: test accuracy and epochs trained against β, one marker per (β, seed)."""
    betas = sorted({float(r["beta"]) for r in rows})
    fig, (top, bottom) = figure(2, 1, figsize=(6, 5), sharex=True)
    x, _ = beta_positions([float(r["beta"]) for r in rows])
    top.scatter(x, [r["test_accuracy"] for r in rows], c="C0")
    if acc_cap is not None:
        top.axhline(acc_cap, color="C3", ls=":", label=f"cap {acc_cap:g}")
        top.legend(fontsize=8)
    top.set_ylabel("test accuracy")
    top.grid(True, alpha=0.3)
    bottom.scatter(x, [r["epochs"] for r in rows], c="C1")
    bottom.set_ylabel("epochs trained")
    integer_axis(bottom, [r["epochs"] for r in rows])
    bottom.grid(True, alpha=0.3)
    beta_axis(bottom, betas)  # last: it sets the shared log scale, then the β and ReLU ticks
    save_with_vector(fig, path)


def saliency_grid(path, maps: Mapping[float, np.ndarray], images: np.ndarray,
                  labels: Sequence[str] | None = None) -> None:
    """Fig. 13-style grid: the input images (top row, titled with ``labels``), then each β's channel-summed
    saliency maps on one symmetric colour scale per row, with a colorbar per row.

    ``maps``: β → (E, H, W); ``images``: (E, H, W, C) in [0, 1]; ``labels``: E class names or None.
    """
    betas = sorted(maps)
    count = images.shape[0]
    fig, axes = figure(len(betas) + 1, count, figsize=(1.1 * count + 0.9, 1.1 * (len(betas) + 1) + 0.4),
                             squeeze=False)
    fig.get_layout_engine().set(w_pad=0.01, h_pad=0.01, wspace=0.02, hspace=0.02)
    for column in range(count):
        image = images[column]
        axes[0, column].imshow(image[..., 0] if image.shape[-1] == 1 else image, cmap="gray", vmin=0, vmax=1)
        if labels is not None:
            axes[0, column].set_title(str(labels[column]), fontsize=7)
    for row, beta in enumerate(betas, start=1):
        saliency = np.asarray(maps[beta][:count])
        bound = float(np.abs(saliency).max()) or 1.0
        for column in range(count):
            shown = axes[row, column].imshow(saliency[column], cmap="coolwarm", vmin=-bound, vmax=bound)
        colorbar = fig.colorbar(shown, ax=axes[row, :], shrink=0.9, pad=0.01, aspect=8)
        colorbar.ax.tick_params(labelsize=5)
        colorbar.formatter.set_powerlimits((-2, 2))
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0, 0].set_ylabel("input", fontsize=8)
    for row, beta in enumerate(betas, start=1):
        axes[row, 0].set_ylabel(beta_label(beta), fontsize=8)
    fig.suptitle("VanillaGrad saliency (channel-summed) per β", fontsize=9)
    save_with_vector(fig, path)


DPI = 200
VECTOR_FORMAT = "pdf"


def save_with_vector(fig, path) -> None:
    """Save ``fig`` as ``path`` (PNG at DPI dots per inch) and as a PDF beside it."""
    path = Path(path)
    atomic.save_figure(fig, path, dpi=DPI)
    fig.set_layout_engine("none")   # keep the layout the PNG computed: the PDF needs no second solve
    atomic.save_figure(fig, path.with_suffix(f".{VECTOR_FORMAT}"))
