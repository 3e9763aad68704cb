"""Figures of an explanation-gap run (:func:`specxai_jax.gap.run`): example maps per method (the paper's
Fig. 13) and ΔEF against the direct gap G over the SmoothGrad σ grid.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from specxai_jax import plots


def plot_examples(path, examples: Mapping[str, Mapping[str, np.ndarray]], images: np.ndarray) -> None:
    """The first image (``images`` (N, H, W, C)) and its channel-summed map per method; one row per model.

    ``examples``: {model: {method: maps (n, H, W)}}; an empty dict marks a diverged model, a missing
    method an undefined one. Each map is scaled by its own percentile of |value| (red positive, blue negative;
    :data:`specxai_jax.plots.SALIENCY_PERCENTILE`).
    """
    models = list(examples)
    methods = list(dict.fromkeys(m for per in examples.values() for m in per))
    fig, axes = plots.figure(len(models), len(methods) + 1, figsize=(2 * (len(methods) + 1), 2 * len(models)),
                             squeeze=False)
    image = np.clip(images[0], 0, 1).squeeze()
    for r, model in enumerate(models):
        axes[r, 0].imshow(image, cmap="gray" if image.ndim == 2 else None, vmin=0, vmax=1)
        axes[r, 0].set_ylabel(model, fontsize=8)
        axes[r, 0].set_xticks([])
        axes[r, 0].set_yticks([])
        for c, method in enumerate(methods, start=1):
            ax = axes[r, c]
            ax.axis("off")
            if method in examples[model]:
                ax.imshow(plots.saliency_rgba(examples[model][method][:1])[0])
            else:
                ax.text(0.5, 0.5, "undefined" if examples[model] else "diverged", ha="center", va="center",
                        fontsize=7, transform=ax.transAxes)
            if r == 0:
                ax.set_title(method, fontsize=7)
    axes[0, 0].set_title("input", fontsize=7)
    plots.save_with_vector(fig, path)


def model_family(model: str) -> str:
    """'cnn' for 'cnn-softplus:2', 'vit' for 'vit-gelu'; a checkpoint name as it is."""
    return model.split("-", 1)[0] if "-" in model and "/" not in model else model


def plot_sweep(path, sweep: Sequence[Mapping]) -> None:
    """ΔEF against G over the σ grid (``sweep``: gap_vs_sigma rows), one panel per model family (own x range),
    one line per model; each σ is labelled once per panel, beside its point on the panel's first line, with
    the labels of neighbouring σ on alternate sides. Diverged models, whose numbers are NaN, are left out."""
    lines: dict[str, dict[str, list[tuple[float, float, float]]]] = {}
    for model in dict.fromkeys(row["model"] for row in sweep):
        points = sorted([(row["sigma"], row["gap"], row["delta_ef"]) for row in sweep
                         if row["model"] == model and row["method"] == "smooth_grad" and np.isfinite(row["gap"])])
        if points:
            lines.setdefault(model_family(model), {})[model] = points
    families = list(lines) or ["(no finite gap)"]
    fig, axes = plots.figure(1, len(families), figsize=(3.4 * len(families), 3.0), squeeze=False)
    for ax, family in zip(axes[0], families):
        for index, (model, points) in enumerate(lines.get(family, {}).items()):
            (line,) = ax.plot([p[1] for p in points], [p[2] for p in points], "o-", ms=3, lw=1, label=model)
            if index == 0:
                for k, (sigma, gap, delta) in enumerate(points):
                    ax.annotate(f"σ={sigma:g}", (gap, delta), xytext=(5, -9) if k % 2 else (-5, 5),
                                textcoords="offset points", fontsize=6, ha="left" if k % 2 else "right",
                                color=line.get_color())
        ax.set_xscale("log")
        ax.margins(0.15)  # room for the σ labels of the outermost points
        ax.set_title(f"{family} models", fontsize=8)
        ax.set_xlabel("G = E‖∇f − ∇f̂_σ‖² (SmoothGrad)", fontsize=7)
        ax.tick_params(labelsize=6)
        ax.grid(True, alpha=0.3, which="both")
        if ax.lines:
            ax.legend(fontsize=6)
    axes[0, 0].set_ylabel("ΔEF (unit convention)", fontsize=7)
    plots.save_with_vector(fig, path)
