"""Combined figures of the reproduction targets: one panel (or one line) per sweep setting.

Each function takes plain numbers: ``spectra`` maps β (``inf`` for ReLU) to a normalized radial
spectrum (K,), ``rows`` are sweep result rows (``beta``, ``ef``, ``ef_std``, ``test_accuracy``, ...).
"""

from __future__ import annotations

import math
from typing import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from specxai_jax import atomic, plots  # noqa: E402


def _draw_spectra(ax, spectra: Mapping[float, np.ndarray], title: str) -> None:
    betas = sorted(spectra)
    for beta, colour in zip(betas, plots.beta_colours(betas)):
        p = np.asarray(spectra[beta], float)
        omega = np.arange(p.size) / max(p.size - 1, 1)
        relu = math.isinf(beta)
        ax.plot(omega, np.clip(p, 1e-12, None), color=colour, lw=2 if relu else 1.1, ls="--" if relu else "-",
                label=plots.beta_label(beta))
    ax.set_yscale("log")
    ax.set_title(title, fontsize=9)
    ax.grid(True, alpha=0.3, which="both")


def spectra_grid(path, panels: Mapping[str, Mapping[float, np.ndarray]], *, ncols: int | None = None,
                 suptitle: str = "") -> None:
    """Radial spectra p(ω) per β, one panel per setting label (Figs. 2, 6, 7, 8, 9a)."""
    labels = list(panels)
    ncols = ncols or min(len(labels), 4)
    nrows = math.ceil(len(labels) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(max(3.6 * ncols, 5.0), 3.0 * nrows + 0.4), squeeze=False, sharey=True,
                             constrained_layout=True)
    for ax, label in zip(axes.ravel(), labels):
        _draw_spectra(ax, panels[label], label)
    for ax in axes.ravel()[len(labels):]:
        ax.axis("off")
    for ax in axes[-1]:
        ax.set_xlabel("frequency ω (unit scale)")
    for ax in axes[:, 0]:
        ax.set_ylabel("normalized power")
    axes[0, 0].legend(fontsize=6, ncol=2)
    fig.suptitle(suptitle, fontsize=10)
    _save(fig, path)


def ef_lines(path, series: Mapping[str, Sequence[Mapping]], *, ylabel: str = "Expected Frequency (unit scale)",
             value: str = "ef", error: str | None = "ef_std", title: str = "") -> None:
    """``value`` (mean over seeds; bars: ``error`` averaged over seeds) against β, one line per setting."""
    fig, ax = plt.subplots(figsize=(6, 4), constrained_layout=True)
    all_betas = sorted({float(r["beta"]) for rows in series.values() for r in rows})
    for label, rows in series.items():
        betas = sorted({float(r["beta"]) for r in rows})
        x, _ = plots.beta_positions(betas)
        mean = [np.mean([r[value] for r in rows if float(r["beta"]) == b]) for b in betas]
        err = [np.mean([r[error] for r in rows if float(r["beta"]) == b]) for b in betas] if error else None
        ax.errorbar(x, mean, yerr=err, fmt="o-", ms=4, lw=1.2, capsize=2, label=label)
    plots.beta_axis(ax, all_betas)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=9)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7)
    _save(fig, path)


def accuracy_and_epochs(path, series: Mapping[str, Sequence[Mapping]], *, title: str = "") -> None:
    """Fig. 5: test accuracy (top) and epochs trained (bottom) against β, one line per setting."""
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(6, 5), sharex=True, constrained_layout=True)
    all_betas = sorted({float(r["beta"]) for rows in series.values() for r in rows})
    for label, rows in series.items():
        betas = sorted({float(r["beta"]) for r in rows})
        x, _ = plots.beta_positions(betas)
        top.plot(x, [np.mean([r["test_accuracy"] for r in rows if float(r["beta"]) == b]) for b in betas], "o-",
                 label=label)
        bottom.plot(x, [np.mean([r["epochs"] for r in rows if float(r["beta"]) == b]) for b in betas], "s-")
    top.set_ylabel("test accuracy")
    bottom.set_ylabel("epochs trained")
    _, relu_at = plots.beta_positions(all_betas)
    for ax in (top, bottom):
        ax.set_xscale("log")
        ax.grid(True, alpha=0.3)
        if any(math.isinf(b) for b in all_betas):
            ax.axvline(relu_at, color="0.85", lw=0.8, zorder=0)
    bottom.set_xlabel(f"β (ReLU drawn at β = {relu_at:g})")
    top.legend(fontsize=7)
    top.set_title(title, fontsize=9)
    _save(fig, path)


def ef_bars(path, values: Mapping[str, Mapping[float, float]], *, title: str = "") -> None:
    """Fig. 9b: EF per model variant (groups) and β (bars)."""
    variants = list(values)
    betas = sorted({b for per in values.values() for b in per})
    width = 0.8 / max(len(betas), 1)
    fig, ax = plt.subplots(figsize=(6, 4), constrained_layout=True)
    for i, (beta, colour) in enumerate(zip(betas, plots.beta_colours(betas))):
        heights = [values[v].get(beta, np.nan) for v in variants]
        ax.bar(np.arange(len(variants)) + (i - (len(betas) - 1) / 2) * width, heights, width,
               color=colour, label=plots.beta_label(beta), alpha=0.85)
    ax.set_xticks(np.arange(len(variants)), variants)
    ax.set_ylabel("Expected Frequency (unit scale)")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8)
    ax.grid(True, axis="y", alpha=0.3)
    _save(fig, path)


def _save(fig, path) -> None:
    atomic.save_figure(fig, path, dpi=110)
    plt.close(fig)
