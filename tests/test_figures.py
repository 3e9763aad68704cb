"""Figure details: the ReLU tick of β axes, integer epoch ticks, vector output beside every PNG."""

from __future__ import annotations

import math

import matplotlib
import matplotlib.image
import numpy as np
import pytest

from specxai_jax import plots
from specxai_jax.plots import reproduction as repro_plots

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


def cell_pixel(image: np.ndarray, row: int, column: int, rows: int, columns: int) -> np.ndarray:
    """The pixel at the centre of cell (row, column) of a grid of rows × columns cells tiled into ``image``
    with gaps much thinner than a cell (the centre of the share 1/rows of the height lies inside the cell)."""
    height, width = image.shape[:2]
    return image[int((row + 0.5) * height / rows), int((column + 0.5) * width / columns)]


def test_saliency_grid_colours_each_row_on_its_own_symmetric_scale_with_a_colorbar_per_beta_row(kept_figures, tmp_path):
    values = {2.0: [0.5, -2.0, 1.0], 5.0: [0.003, 0.0, -0.0015]}    # one constant value per map
    maps = {b: np.array(v)[:, None, None] * np.ones((3, 8, 8)) for b, v in values.items()}
    images = np.array([0.0, 0.25, 1.0])[:, None, None, None] * np.ones((3, 8, 8, 1))
    plots.saliency_grid(tmp_path / "s.png", maps, images, labels=["cat", "dog", "car"])
    fig = kept_figures[0]
    fig.draw_without_rendering()
    grid_ax, *colorbars = fig.axes
    texts = {t.get_text() for t in grid_ax.texts}
    assert {"cat", "dog", "car", "input", "β=2", "β=5", "VanillaGrad saliency (channel-summed) per β"} <= texts
    assert len(colorbars) == len(maps)                       # one colorbar per β row, top to bottom
    assert [cax.get_ylim() for cax in colorbars] == [(-2.0, 2.0), (-0.003, 0.003)]
    assert colorbars[0].get_position().y0 > colorbars[1].get_position().y0
    assert {"−2", "0", "2"} <= {label.get_text() for label in colorbars[1].get_yticklabels()}
    assert colorbars[1].yaxis.get_offset_text().get_text() == "1e−3"     # ±0.003: ticks with the power above
    (grid,) = [np.asarray(image.get_array()) for image in grid_ax.images]
    coolwarm = matplotlib.colormaps["coolwarm"]
    for column, gray in enumerate([0.0, 0.25, 1.0]):
        np.testing.assert_allclose(cell_pixel(grid, 0, column, 3, 3) / 255, [gray, gray, gray, 1.0], atol=1 / 255)
    for row, row_values in enumerate(values.values(), start=1):
        bound = max(abs(v) for v in row_values)
        for column, value in enumerate(row_values):
            expected = coolwarm((value + bound) / (2 * bound))
            np.testing.assert_allclose(cell_pixel(grid, row, column, 3, 3) / 255, expected, atol=1 / 255)
    left, right, bottom, top = grid_ax.images[0].get_extent()
    assert abs(right - left) / abs(bottom - top) == pytest.approx(1.0, rel=0.05)   # 3 × 3 square cells


def test_saliency_grid_shows_rgb_inputs_as_they_are_and_all_zero_maps_on_a_unit_scale(kept_figures, tmp_path):
    colour = np.array([0.2, 0.6, 0.9])
    plots.saliency_grid(tmp_path / "s.png", {math.inf: np.zeros((2, 40, 40))}, colour * np.ones((2, 40, 40, 3)))
    grid_ax, colorbar = kept_figures[0].axes
    grid = np.asarray(grid_ax.images[0].get_array())
    np.testing.assert_allclose(cell_pixel(grid, 0, 1, 2, 2)[:3] / 255, colour, atol=1 / 255)
    np.testing.assert_allclose(cell_pixel(grid, 1, 0, 2, 2) / 255, matplotlib.colormaps["coolwarm"](0.5), atol=1 / 255)
    assert "ReLU" in {t.get_text() for t in grid_ax.texts}
    assert colorbar.get_ylim() == (-1.0, 1.0)                 # bound 1 when every value is 0


def test_saliency_grid_writes_a_png_and_a_pdf(tmp_path):
    maps = {b: np.random.default_rng(0).normal(size=(3, 8, 8)) for b in BETAS}
    plots.saliency_grid(tmp_path / "s.png", maps, np.random.default_rng(1).random((3, 8, 8, 1)), labels=["a", "b", "c"])
    assert (tmp_path / "s.pdf").read_bytes().startswith(b"%PDF")
    assert matplotlib.image.imread(tmp_path / "s.png").shape[0] > (len(BETAS) + 1) * 200   # ≥ 1 inch a row, 200 dpi
