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
    method an undefined one. Maps use a colour range symmetric about 0 (red positive, blue negative).
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
                heat = examples[model][method][0]
                limit = float(np.abs(heat).max()) or 1.0
                ax.imshow(heat, cmap="coolwarm", vmin=-limit, vmax=limit)
            else:
                ax.text(0.5, 0.5, "undefined" if examples[model] else "diverged", ha="center", va="center",
                        fontsize=7, transform=ax.transAxes)
            if r == 0:
                ax.set_title(method, fontsize=7)
    axes[0, 0].set_title("input", fontsize=7)
    plots.save_with_vector(fig, path)


def plot_sweep(path, sweep: Sequence[Mapping]) -> None:
    """ΔEF against G over the σ grid (``sweep``: gap_vs_sigma rows), one line per model, each point
    labelled with its σ; diverged models, whose numbers are NaN, are left out."""
    fig, ax = plots.figure(figsize=(5, 4))
    for model in dict.fromkeys(row["model"] for row in sweep):
        points = [(row["gap"], row["delta_ef"], row["sigma"]) for row in sweep
                  if row["model"] == model and row["method"] == "smooth_grad" and np.isfinite(row["gap"])]
        if not points:
            continue
        (line,) = ax.plot([p[0] for p in points], [p[1] for p in points], "o-", label=model)
        for gap, delta, sigma in points:
            ax.annotate(f"σ={sigma:g}", (gap, delta), xytext=(4, 4), textcoords="offset points", fontsize=7,
                        color=line.get_color())
    ax.set_xscale("log")
    ax.margins(0.12)  # room for the σ labels of the outermost points
    ax.set_xlabel("G = E‖∇f − ∇f̂_σ‖² (SmoothGrad)")
    ax.set_ylabel("ΔEF (unit convention)")
    if ax.lines:
        ax.legend(fontsize=7)
    plots.save_with_vector(fig, path)
