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
    assert labelled["ReLU"] == pytest.approx(20.0 * 10**0.6)      # its own slot past the break after β = 20
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
    assert image.shape[1] >= 3.4 * 200                     # a one-column (3.4-inch) figure at ≥ 200 dpi


def cell_pixel(image: np.ndarray, row: int, column: int, rows: int, columns: int) -> np.ndarray:
    """The pixel at the centre of cell (row, column) of a grid of rows × columns cells tiled into ``image``
    with gaps much thinner than a cell (the centre of the share 1/rows of the height lies inside the cell)."""
    height, width = image.shape[:2]
    return image[int((row + 0.5) * height / rows), int((column + 0.5) * width / columns)]


def test_saliency_grid_scales_each_map_by_its_own_percentile_and_adds_a_rank_row(kept_figures, tmp_path):
    # two maps a thousand times apart in size: each saturates on its own scale (neither is washed out)
    ramp = np.linspace(-1.0, 1.0, 64).reshape(8, 8)
    maps = {2.0: np.stack([ramp, 1e-3 * ramp, np.zeros((8, 8))])}
    images = np.array([0.0, 0.25, 1.0])[:, None, None, None] * np.ones((3, 8, 8, 1))
    plots.saliency_grid(tmp_path / "s.png", maps, images, labels=["cat", "dog", "car"])
    fig = kept_figures[0]
    fig.draw_without_rendering()
    (grid_ax,) = fig.axes
    texts = {t.get_text() for t in grid_ax.texts}
    assert {"cat", "dog", "car", "input", "β=2", "β=2 rank", "VanillaGrad saliency (channel-summed) per β"} <= texts
    (grid,) = [np.asarray(image.get_array()) for image in grid_ax.images]
    rows, columns = 3, 3
    height, width = (grid.shape[0] + 1) // rows, (grid.shape[1] + 1) // columns   # cell + its one-pixel gap
    coolwarm, viridis = matplotlib.colormaps["coolwarm"], matplotlib.colormaps["viridis"]
    for column, gray in enumerate([0.0, 0.25, 1.0]):
        np.testing.assert_allclose(cell_pixel(grid, 0, column, rows, columns) / 255, [gray, gray, gray, 1.0], atol=1 / 255)
    for column in (0, 1):  # the top-left pixel of each raw map is its most negative value: beyond −p99, saturated
        corner = grid[height + 1, column * width + 1] / 255
        np.testing.assert_allclose(corner, coolwarm(0.0), atol=1 / 255)
    np.testing.assert_allclose(cell_pixel(grid, 1, 2, rows, columns) / 255, coolwarm(0.5), atol=1 / 255)  # all zero
    # rank row: the ramp's ranks run 1/64 … 1 (viridis), the all-zero map's tied ranks are (64 + 1)/2/64
    np.testing.assert_allclose(grid[2 * height + 1, 1] / 255, viridis(1 / 64), atol=1 / 255)
    np.testing.assert_allclose(cell_pixel(grid, 2, 2, rows, columns) / 255, viridis(65 / 128), atol=1 / 255)


def test_saliency_rgba_matches_a_percentile_scale_computed_with_numpy():
    rng = np.random.default_rng(0)
    maps = rng.standard_cauchy((2, 16, 16))
    scale = np.percentile(np.abs(maps[1]), plots.SALIENCY_PERCENTILE)
    expected = matplotlib.colormaps["coolwarm"](np.clip(0.5 + 0.5 * maps[1] / scale, 0, 1), bytes=True)
    np.testing.assert_array_equal(plots.saliency_rgba(maps)[1], expected)


def test_saliency_grid_shows_rgb_inputs_as_they_are(kept_figures, tmp_path):
    colour = np.array([0.2, 0.6, 0.9])
    plots.saliency_grid(tmp_path / "s.png", {math.inf: np.zeros((2, 40, 40))}, colour * np.ones((2, 40, 40, 3)))
    (grid_ax,) = kept_figures[0].axes
    grid = np.asarray(grid_ax.images[0].get_array())
    np.testing.assert_allclose(cell_pixel(grid, 0, 1, 3, 2)[:3] / 255, colour, atol=1 / 255)
    assert {"ReLU", "ReLU rank"} <= {t.get_text() for t in grid_ax.texts}


def test_saliency_grid_writes_a_png_and_a_pdf(tmp_path):
    maps = {b: np.random.default_rng(0).normal(size=(3, 8, 8)) for b in BETAS}
    plots.saliency_grid(tmp_path / "s.png", maps, np.random.default_rng(1).random((3, 8, 8, 1)), labels=["a", "b", "c"])
    assert (tmp_path / "s.pdf").read_bytes().startswith(b"%PDF")
    assert matplotlib.image.imread(tmp_path / "s.png").shape[0] > (2 * len(BETAS) + 1) * 200   # ≥ 1 inch a row


def test_relu_spectrum_is_drawn_black_and_on_top(kept_figures, tmp_path):
    spectra = {b: np.linspace(1.0, 0.1, 20) for b in BETAS}
    plots.radial_spectra(tmp_path / "s.png", spectra)
    repro_plots.spectra_grid(tmp_path / "g.png", {"run": spectra})
    for fig in kept_figures:
        lines = {line.get_label(): line for line in fig.axes[0].lines}
        relu = lines["ReLU"]
        assert matplotlib.colors.to_rgba(relu.get_color()) == (0, 0, 0, 1) and relu.get_alpha() in (None, 1.0)
        assert relu.get_zorder() > max(line.get_zorder() for name, line in lines.items() if name != "ReLU")


def test_ef_vs_beta_with_several_seeds_draws_the_means_t_interval_and_breaks_before_relu(kept_figures, tmp_path):
    rows = [{**row, "seed": seed, "ef": row["ef"] + 0.001 * seed} for seed in (0, 1, 2) for row in ROWS]
    plots.ef_vs_beta(tmp_path / "f.png", rows)
    ax = kept_figures[0].axes[0]
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "mean of 3 seeds (bars: 95 % interval)" in legend
    (mean_line,) = [c for c in ax.containers if c.get_label().startswith("mean")]
    y = mean_line.lines[0].get_ydata()
    assert np.isnan(y[len(BETAS) - 1])                           # the line stops at the axis break before ReLU
    finite = y[~np.isnan(y)]
    np.testing.assert_allclose(finite, [np.mean([r["ef"] for r in rows if r["beta"] == b]) for b in BETAS])
    segments = mean_line.lines[2][0].get_segments()               # the bars: mean ± t(0.975, 2)·std/√3
    half = 4.302653 * np.std([0.0, 0.001, 0.002], ddof=1) / math.sqrt(3)
    assert segments[0][1][1] - segments[0][0][1] == pytest.approx(2 * half, rel=1e-5)


def test_gap_sweep_has_one_panel_per_model_family(kept_figures, tmp_path):
    from specxai_jax.plots import gap as gap_plots

    sweep = [{"model": model, "method": "smooth_grad", "sigma": sigma, "gap": gap * sigma, "delta_ef": 0.01 * sigma}
             for model, gap in (("cnn-relu", 1.0), ("cnn-softplus:2", 2.0), ("vit-relu", 100.0))
             for sigma in (0.05, 0.2, 0.4)]
    gap_plots.plot_sweep(tmp_path / "g.png", sweep)
    axes = kept_figures[0].axes
    assert [ax.get_title() for ax in axes] == ["cnn models", "vit models"]
    assert [len(ax.lines) for ax in axes] == [2, 1]
    assert [sorted(t.get_text() for t in ax.texts) for ax in axes] == [["σ=0.05", "σ=0.2", "σ=0.4"]] * 2
