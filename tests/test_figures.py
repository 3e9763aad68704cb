"""Figure details: the ReLU tick of β axes, integer epoch ticks, vector output beside every PNG."""

from __future__ import annotations

import math

import matplotlib.image
import numpy as np
import pytest

from specxai_jax.plots import reproduction as repro_plots
from specxai_jax import plots

BETAS = (2.0, 5.0, 20.0, math.inf)
ROWS = [{"beta": b, "seed": 0, "test_accuracy": 0.6 + 0.05 * i, "epochs": 3 + i, "ef": 0.01 * (i + 1), "reached_cap": True,
         "ef_std": 0.001} for i, b in enumerate(BETAS)]


@pytest.fixture
def kept_figures(monkeypatch):
    """Figures saved through plots.save_with_vector, kept open for inspection."""
    kept = []
    monkeypatch.setattr(plots, "save_with_vector", lambda fig, path: kept.append(fig))
    return kept


def ticks(ax) -> dict[str, float]:
    ax.figure.canvas.draw()
    return {label.get_text(): position for position, label in zip(ax.get_xticks(), ax.get_xticklabels())}


@pytest.mark.parametrize("draw", [lambda path: plots.accuracy_vs_beta(path, ROWS, 0.7),
                                  lambda path: repro_plots.accuracy_and_epochs(path, {"run": ROWS})])
def test_accuracy_figure_labels_relu_where_it_is_drawn_and_counts_epochs_in_integers(draw, kept_figures, tmp_path):
    draw(tmp_path / "fig.png")
    top, bottom = kept_figures[0].axes[:2]
    labelled = ticks(bottom)
    assert labelled["ReLU"] == pytest.approx(200.0)      # one decade beyond β = 20
    assert not any("10^{3}" in text or "10³" in text for text in labelled)
    assert top.get_xscale() == bottom.get_xscale() == "log"
    low, high = bottom.get_ylim()
    assert all(float(t).is_integer() for t in bottom.get_yticks() if low <= t <= high)


def test_epoch_ticks_are_integers_even_when_every_model_trained_one_epoch(kept_figures, tmp_path):
    plots.accuracy_vs_beta(tmp_path / "fig.png", [{**row, "epochs": 1} for row in ROWS], None)
    bottom = kept_figures[0].axes[1]
    low, high = bottom.get_ylim()
    shown = [t for t in bottom.get_yticks() if low <= t <= high]
    assert shown == [1.0]


def test_every_figure_has_a_pdf_beside_a_200_dpi_png(tmp_path):
    plots.ef_vs_beta(tmp_path / "fig_ef_vs_beta.png", ROWS)
    pdf = tmp_path / "fig_ef_vs_beta.pdf"
    assert pdf.read_bytes().startswith(b"%PDF")
    image = matplotlib.image.imread(tmp_path / "fig_ef_vs_beta.png")
    assert image.shape[1] >= 6 * 200                       # a 6-inch-wide figure at ≥ 200 dpi


def test_saliency_grid_has_a_colorbar_per_beta_row_and_class_labels(kept_figures, tmp_path):
    maps = {b: np.random.default_rng(0).normal(size=(3, 8, 8)) for b in BETAS[:2]}
    plots.saliency_grid(tmp_path / "s.png", maps, np.zeros((3, 8, 8, 1)), labels=["cat", "dog", "car"])
    fig = kept_figures[0]
    images = [ax for ax in fig.axes if ax.images]
    assert len(fig.axes) - len(images) == len(maps)         # the extra axes are the colorbars
    assert [ax.get_title() for ax in images[:3]] == ["cat", "dog", "car"]
