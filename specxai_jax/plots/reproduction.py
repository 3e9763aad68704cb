"""Combined figures of the reproduction targets: one panel (or one line) per sweep setting.

Each function takes plain numbers: ``spectra`` maps β (``inf`` for ReLU) to a normalized radial
spectrum (K,), ``rows`` are sweep result rows (``beta``, ``ef``, ``ef_std``, ``test_accuracy``, ...).
"""

from __future__ import annotations

import math
from typing import Mapping, Sequence

import matplotlib
import numpy as np
from matplotlib.lines import Line2D

from specxai_jax import plots
from specxai_jax.plots import mean_interval
from specxai_jax.stats import t_half_width


def _draw_spectra(ax, spectra: Mapping[float, np.ndarray], title: str) -> None:
    betas = sorted(spectra)
    for beta, colour in zip(betas, plots.beta_colours(betas)):
        p = np.asarray(spectra[beta], float)
        omega = np.arange(p.size) / max(p.size - 1, 1)
        relu = math.isinf(beta)  # black, dashed, on top: near-ReLU SoftPlus curves show through its gaps
        ax.plot(omega, np.clip(p, 1e-12, None), color=colour, lw=1.6 if relu else 1.0, ls=(0, (4, 2)) if relu else "-",
                zorder=3 if relu else 2, label=plots.beta_label(beta))
    ax.set_yscale("log")
    ax.set_title(title, fontsize=9)
    ax.grid(True, alpha=0.3, which="both")


def spectra_grid(path, panels: Mapping[str, Mapping[float, np.ndarray]], *, ncols: int | None = None,
                 suptitle: str = "") -> None:
    """Radial spectra p(ω) per β, one panel per setting label (Figs. 2, 6, 7, 8, 9a)."""
    labels = list(panels)
    ncols = ncols or min(len(labels), 4)
    nrows = math.ceil(len(labels) / ncols)
    fig, axes = plots.figure(nrows, ncols, figsize=(max(3.6 * ncols, 5.0), 3.0 * nrows + 0.4), squeeze=False, sharey=True)
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
    plots.save_with_vector(fig, path)


def ef_lines(path, series: Mapping[str, Sequence[Mapping]], *, ylabel: str = "Expected Frequency (unit scale)",
             value: str = "ef", error: str | None = "ef_std", title: str = "") -> None:
    """``value`` against β, one line per setting: the mean over seeds and its 95 % interval across seeds
    (Student t); with a single seed the bars are ``error`` (e.g. the std over images) instead. Each legend entry
    says which; ReLU sits past a break in the β axis."""
    fig, ax = plots.figure(figsize=(6, 4))
    all_betas = sorted({float(r["beta"]) for rows in series.values() for r in rows})
    for label, rows in series.items():
        betas = sorted({float(r["beta"]) for r in rows})
        per_beta = [[r for r in rows if float(r["beta"]) == b] for b in betas]
        mean = [mean_interval([r[value] for r in chosen])[0] for chosen in per_beta]
        err = [mean_interval([r[value] for r in chosen])[1] if len(chosen) > 1 else
               (chosen[0][error] if error else 0.0) for chosen in per_beta]
        seeds = min(len(chosen) for chosen in per_beta)
        bars = ("95 % interval of the mean" if seeds > 1 else "std over images, one seed" if error == "ef_std"
                else error or "none")
        x, mean_line, err_line = plots.break_before_relu(betas, mean, err)
        ax.errorbar(x, mean_line, yerr=err_line, fmt="o-", ms=4, lw=1.2, capsize=2,
                    label=f"{label} (n = {seeds} seeds; bars: {bars})")
    plots.beta_axis(ax, all_betas)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=9)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7)
    plots.save_with_vector(fig, path)


def accuracy_and_epochs(path, series: Mapping[str, Sequence[Mapping]], *, title: str = "") -> None:
    """Fig. 5: test accuracy (top) and epochs trained (bottom) against β, one line per setting."""
    fig, (top, bottom) = plots.figure(2, 1, figsize=(6, 5), sharex=True)
    all_betas = sorted({float(r["beta"]) for rows in series.values() for r in rows})
    for label, rows in series.items():
        betas = sorted({float(r["beta"]) for r in rows})
        x, _ = plots.beta_positions(betas)
        top.plot(x, [np.mean([r["test_accuracy"] for r in rows if float(r["beta"]) == b]) for b in betas], "o-",
                 label=label)
        bottom.plot(x, [np.mean([r["epochs"] for r in rows if float(r["beta"]) == b]) for b in betas], "s-")
    top.set_ylabel("test accuracy")
    bottom.set_ylabel("epochs trained")
    plots.integer_axis(bottom, [r["epochs"] for rows in series.values() for r in rows])
    for ax in (top, bottom):
        ax.grid(True, alpha=0.3)
    plots.beta_axis(bottom, all_betas)  # sets the shared log scale, then the β and ReLU ticks
    top.legend(fontsize=7)
    top.set_title(title, fontsize=9)
    plots.save_with_vector(fig, path)


def ef_bars(path, values: Mapping[str, Mapping[float, float]], *, title: str = "") -> None:
    """Fig. 9b: EF per model variant (groups) and β (bars)."""
    variants = list(values)
    betas = sorted({b for per in values.values() for b in per})
    width = 0.8 / max(len(betas), 1)
    fig, ax = plots.figure(figsize=(6, 4))
    for i, (beta, colour) in enumerate(zip(betas, plots.beta_colours(betas))):
        heights = [values[v].get(beta, np.nan) for v in variants]
        ax.bar(np.arange(len(variants)) + (i - (len(betas) - 1) / 2) * width, heights, width,
               color=colour, label=plots.beta_label(beta), alpha=0.85)
    ax.set_xticks(np.arange(len(variants)), variants)
    ax.set_ylabel("Expected Frequency (unit scale)")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8)
    ax.grid(True, axis="y", alpha=0.3)
    plots.save_with_vector(fig, path)


# ---------------------------------------------------------------- Theorem 1 target

KERNEL_STYLE = {"laplace": ("C3", "Laplace"), "matern32": ("C1", "Matérn-3/2"), "gaussian": ("C0", "Gaussian")}


def theorem1_spectra(path, spectra: Mapping[tuple, tuple]) -> None:
    """Mean spectra of κ′(x_e − x_t) at b = 1: one panel per (dim, α), one line per kernel with its fitted slope.

    ``spectra``: (dim, α, kernel) → (frequencies (K,), mean power (K,), fitted exponent).
    """
    panels = sorted({(dim, alpha) for dim, alpha, _ in spectra})
    ncols = len({alpha for dim, alpha in panels if dim == 1})
    fig, axes = plots.figure(2, ncols, figsize=(3.0 * ncols, 5.6), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for dim in (1, 2):
        for ax, (d, alpha) in zip(axes[dim - 1], [p for p in panels if p[0] == dim]):
            ax.axis("on")
            for kernel, (colour, name) in KERNEL_STYLE.items():
                freqs, power, exponent = spectra[(d, alpha, kernel)]
                keep = freqs > 0
                ax.loglog(freqs[keep], power[keep] / power[keep][0], color=colour, lw=1, label=f"{name} ({exponent:.1f})")
            ax.set_title(f"{dim}-D, α = {alpha:g}" + (" (white)" if alpha == 0 else ""), fontsize=8)
            ax.legend(fontsize=6, title="kernel (fitted slope)", title_fontsize=6)
            ax.grid(True, alpha=0.3, which="both")
            ax.set_xlabel("frequency (cycles/sample)", fontsize=7)
        axes[dim - 1, 0].set_ylabel(f"{dim}-D mean power (relative)", fontsize=8)
    fig.suptitle("Lemma 3: spectra of gradient maps κ′_b(x_e − x_t), b = 1", fontsize=10)
    plots.save_with_vector(fig, path)


def theorem1_exponents(path, rows: Sequence[Mapping]) -> None:
    """Lemma 3: measured tail exponent against the exact finite-size one (bars: 2·se + model error), per kernel;
    crosses mark the asymptotic exponent of the same row."""
    rows = [r for r in rows if r["part"] == "lemma3" and math.isfinite(r["predicted_exponent"])]
    fig, ax = plots.figure(figsize=(3.4, 3.4))
    for r in rows:
        colour = KERNEL_STYLE[r["kernel"]][0]
        err = 2 * r["tail_exponent_se"] + r["model_error"]
        ax.errorbar(r["predicted_exponent"], r["tail_exponent"], yerr=err, fmt="o", ms=3,
                    mfc=colour if r["holds"] else "none", mec=colour, ecolor=colour, elinewidth=0.7)
        ax.plot(r["asymptotic_exponent"], r["tail_exponent"], "x", color=colour, ms=3, alpha=0.5)
    low = min(min(r["predicted_exponent"], r["tail_exponent"], r["asymptotic_exponent"]) for r in rows) - 0.5
    ax.plot([low, 0.5], [low, 0.5], color="0.5", lw=0.8, ls="--")
    handles = [Line2D([], [], color=c, marker="o", ls="", label=n) for c, n in KERNEL_STYLE.values()]
    handles += [Line2D([], [], color="0.3", marker="o", mfc="none", ls="", label="open: outside tolerance"),
                Line2D([], [], color="0.3", marker="x", ls="", label="x: asymptotic exponent")]
    ax.legend(handles=handles, fontsize=6, loc="upper left")
    ax.set_xlabel("exact finite-size exponent", fontsize=8)
    ax.set_ylabel("measured exponent (bars: 2·se + model error)", fontsize=8)
    ax.set_title("Lemma 3: measured vs exact spectral tails", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.grid(True, alpha=0.3)
    plots.save_with_vector(fig, path)


def theorem1_bandwidth(path, trend: Mapping) -> None:
    """Eqs. 27–29: Σω S(ω) and EF of 1-D Laplace maps against b, with the orders ±1 (printed) and ±2 (true |k̂|²)."""
    b = np.asarray(trend["bandwidth"])
    fig, (left, right) = plots.figure(1, 2, figsize=(9, 3.8))
    moment = np.asarray(trend["moment"])
    left.loglog(b, moment, "o", color="C3", label="measured Σω S(ω)")
    left.loglog(b, trend["exact_moment"], "-", color="k", lw=0.9, label="exact finite-size expectation")
    for order, ls in ((1, ":"), (2, "--")):
        reading = " (Eqs. 28–29 as printed)" if order == 1 else " (true |k̂|²)"
        left.loglog(b[-4:], moment[-1] * (b[-4:] / b[-1]) ** -order, color="0.4", ls=ls, lw=0.9,
                    label=f"$b^{{-{order}}}$, b → ∞" + reading)
        left.loglog(b[:4], moment[0] * (b[:4] / b[0]) ** order, color="C0", ls=ls, lw=0.9,
                    label=f"$b^{{{order}}}$, b → 0" + reading)
    left.set_xlabel("bandwidth b")
    left.set_title("spectral moment of the Laplace maps", fontsize=9)
    left.legend(fontsize=7)
    right.semilogx(b, trend["ef_raw"], "o-", color="C3", label="EF, no rank normalization")
    right.semilogx(b, trend["ef"], "s-", color="0.4", label="EF, rank-normalized (paper)")
    right.set_yscale("log")
    right.set_xlabel("bandwidth b")
    right.set_title("Expected Frequency of the Laplace maps", fontsize=9)
    right.legend(fontsize=7)
    for ax in (left, right):
        ax.grid(True, alpha=0.3, which="both")
    plots.save_with_vector(fig, path)


def theorem1_ef_vs_beta(path, rows: Sequence[Mapping]) -> None:
    """EF vs β: NTK ridge regressors (SoftPlus β, Gaussian-smoothed ReLU, ReLU) and trained CNNs, per inputs kind."""
    fig, axes = plots.figure(1, 2, figsize=(10, 4))
    styles = {"autocorrelated": "-", "white": "--", "permuted": ":"}
    for ax, families, title in ((axes[0], ("ntk-softplus", "ntk-gauss"), "kernel ridge regressors (infinite-width NTK)"),
                                (axes[1], ("cnn-softplus",), "trained CNNs (β-sweep)")):
        all_betas = sorted({float(r["beta"]) for r in rows if r["kernel"] in (*families, "ntk-relu", "cnn-relu")})
        for kind, ls in styles.items():
            for family, colour in zip(families, ("C2", "C5")):
                relu = "ntk-relu" if family.startswith("ntk") else "cnn-relu"
                chosen = sorted([r for r in rows if r["inputs"] == kind and r["kernel"] in (family, relu)],
                                key=lambda r: r["beta"])
                if family == "ntk-gauss":
                    chosen = [r for r in chosen if r["kernel"] == family]
                if not chosen:
                    continue
                x, mean, half = plots.break_before_relu(
                    [float(r["beta"]) for r in chosen], [r["ef"] for r in chosen],
                    [1.96 * (r["ef_std"] / math.sqrt(r["n"]) if r["n"] > 1 else 0.0) for r in chosen])
                ax.errorbar(x, mean, yerr=np.nan_to_num(half), fmt="o", ls=ls, color=colour, ms=3, capsize=2,
                            label=f"{family.split('-', 1)[1]}, {kind}")
        plots.beta_axis(ax, all_betas)
        ax.set_title(title, fontsize=9)
        ax.set_ylabel("Expected Frequency (unit scale)")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=6)
    fig.suptitle("EF vs β (bars: 95 % interval of the mean)", fontsize=10)
    plots.save_with_vector(fig, path)


def plane(path, table: Sequence[Mapping]) -> None:
    """Sec. 6's plane: EF (complexity) against ΔEF (left) and against G (right, where defined), one point per
    (model, method[, σ]); bars: 95 % Student-t intervals over seeds (wide with 2 seeds). Colour: model; marker:
    method."""
    fig, axes = plots.figure(1, 2, figsize=(11, 4.6))
    models = list(dict.fromkeys(r["model"] for r in table))
    methods = list(dict.fromkeys(r["method"] for r in table))
    markers = dict(zip(methods, "osD^v<>pPX*h"))
    colours = dict(zip(models, matplotlib.colormaps["viridis"](np.linspace(0, 0.9, len(models)))))

    def half(r, name):
        return float(t_half_width(r[f"{name}_std"], r["n"])) if r["n"] > 1 else 0.0

    for ax, name, label in ((axes[0], "delta_ef", "ΔEF = |EF − EF(VanillaGrad)|"), (axes[1], "gap", "G = E‖∇f − ∇f̂‖²")):
        for r in table:
            if math.isnan(r[name]):
                continue
            ax.errorbar(r["ef"], r[name], xerr=half(r, "ef"), yerr=half(r, name), fmt=markers[r["method"]],
                        color=colours[r["model"]], ms=5, capsize=2, elinewidth=0.5, alpha=0.8)
            if r["method"] == "smooth_grad" and math.isfinite(r["sigma"]):
                ax.annotate(f"σ={r['sigma']:g}", (r["ef"], r[name]), textcoords="offset points", xytext=(4, 3),
                            fontsize=6, color=colours[r["model"]])
        ax.set_xlabel("complexity: Expected Frequency (unit scale)")
        ax.set_ylabel(f"faithfulness loss: {label}")
        ax.grid(True, alpha=0.3)
    axes[0].set_ylim(bottom=0)  # ΔEF ≥ 0; a 2-seed t interval can reach below it
    axes[1].set_yscale("log")
    handles = [Line2D([], [], color=colours[m], marker="o", ls="", label=m) for m in models]
    handles += [Line2D([], [], color="0.3", marker=markers[m], ls="", label=m) for m in methods]
    axes[0].legend(handles=handles, fontsize=6, ncol=2)
    fig.suptitle("Complexity–faithfulness plane (Sec. 6): ante-hoc β moves along EF, post-hoc methods trade EF "
                 "for faithfulness", fontsize=9)
    plots.save_with_vector(fig, path)
