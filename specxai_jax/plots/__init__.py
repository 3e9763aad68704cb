"""Figures of a β-sweep (the paper's Figs. 2, 3, 5 and 13), saved atomically as PNG with a PDF beside it.

Every function takes plain numbers (β as float, ``inf`` for ReLU) so any experiment can reuse it.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Collection, Literal, Mapping, Sequence

import matplotlib
import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from scipy import stats

from specxai_jax.stats import seed_mean
from specxai_jax.storage import atomic

RELU_COLOUR = "black"


def figure(nrows: int = 1, ncols: int = 1, *, figsize, layout: Literal["constrained", "compressed", "tight"] | None = "constrained", **subplots):
    """(Figure, axes) like ``pyplot.subplots`` but outside pyplot: no backend chosen, no global figure
    registry, nothing to close; saved with ``Figure.savefig``."""
    fig = Figure(figsize=figsize, layout=layout)
    return fig, fig.subplots(nrows, ncols, **subplots)


def beta_label(beta: float) -> str:
    """'ReLU' for inf, else 'β=3' style."""
    return "ReLU" if math.isinf(beta) else f"β={beta:g}"


RELU_GAP_DECADES = 0.6
"""How far (in decades of β) ReLU's slot sits right of the largest finite β, beyond a break in the axis."""


def beta_positions(betas: Sequence[float]) -> tuple[np.ndarray, float]:
    """x positions on a log axis for β values, ReLU (inf) in its own slot past a break in the axis
    (:data:`RELU_GAP_DECADES` beyond the largest finite β; :func:`beta_axis` draws the break).

    Returns (positions (n,), the ReLU position).
    """
    finite = [b for b in betas if math.isfinite(b)]
    relu_at = 10 ** RELU_GAP_DECADES * max(finite) if finite else 1.0
    return np.array([relu_at if math.isinf(b) else b for b in betas], float), relu_at


def break_before_relu(betas: Sequence[float], *columns: Sequence[float]) -> tuple[np.ndarray, ...]:
    """(x, *columns) with a NaN row inserted before ReLU, so a line through finite β stops at the axis break."""
    x, relu_at = beta_positions(betas)
    out = [np.asarray(x, float)] + [np.asarray(c, float) for c in columns]
    relu = [i for i, b in enumerate(betas) if math.isinf(b)]
    if relu and relu[0] > 0:
        out = [np.insert(column, relu[0], np.nan) for column in out]
    return tuple(out)


def beta_axis(ax, betas: Sequence[float]) -> None:
    """Log β axis with ticks at the decades of the finite β and, past a break (//), a 'ReLU' slot."""
    _, relu_at = beta_positions(betas)
    ax.set_xscale("log")
    finite = [b for b in betas if math.isfinite(b)]
    if any(math.isinf(b) for b in betas):
        cut = 10 ** (RELU_GAP_DECADES / 2) * max(finite) if finite else relu_at / 2
        ax.axvspan(cut / 10 ** 0.06, cut * 10 ** 0.06, color="white", zorder=2.5)
        for edge in (cut / 10 ** 0.06, cut * 10 ** 0.06):  # the break: two slanted strokes on the bottom spine
            ax.plot([edge / 10 ** 0.03, edge * 10 ** 0.03], [-0.025, 0.025], transform=ax.get_xaxis_transform(),
                    color="k", lw=0.9, clip_on=False, zorder=4)
        decades = [10.0**k for k in range(math.ceil(math.log10(min(finite))), math.floor(math.log10(max(finite))) + 1)] \
            if finite else []
        decades = decades or sorted(finite)  # no decade inside the range: label the β themselves
        ax.set_xticks(decades + [relu_at], [f"{d:g}" for d in decades] + ["ReLU"])
        ax.minorticks_off()
    ax.set_xlabel("β (SoftPlus sharpness); ReLU = β → ∞, past the break")


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


def mean_interval(values: Sequence[float]) -> tuple[float, float]:
    """Mean and half-width of its 95 % Student-t interval (0 for a single value)."""
    summary = seed_mean(values)
    return summary.mean, 0.0 if summary.n < 2 else summary.high - summary.mean


def ef_vs_beta(path, rows: Sequence[Mapping], *, ylabel: str = "Expected Frequency (unit scale)") -> None:
    """Fig. 3: EF of each model against β. Several seeds: each seed's models as small markers (hollow: missed the
    cap) and the mean over seeds with its 95 % Student-t interval (black); one seed: its models with the std over
    images as bars. The legend says what every bar is.

    ``rows``: dicts with ``beta``, ``seed``, ``ef``, ``ef_std``, ``reached_cap`` (bool).
    """
    betas = sorted({float(r["beta"]) for r in rows})
    seeds = sorted({r["seed"] for r in rows})
    fig, ax = figure(figsize=(3.4, 2.8))
    for seed in seeds:
        mine = sorted((r for r in rows if r["seed"] == seed), key=lambda r: float(r["beta"]))
        x, ef, err = break_before_relu([float(r["beta"]) for r in mine], [r["ef"] for r in mine],
                                       [r["ef_std"] for r in mine])
        capped = np.array([bool(r["reached_cap"]) for r in mine])
        points_x, points_y = beta_positions([float(r["beta"]) for r in mine])[0], np.array([r["ef"] for r in mine])
        if len(seeds) == 1:
            line = ax.errorbar(x, ef, yerr=err, fmt="-", lw=1, capsize=2, label=f"seed {seed} (bars: std over images)")
        else:
            (line,) = ax.plot(x, ef, "-", lw=0.6, alpha=0.5, label=f"seed {seed} (one model each, no bars)")
        colour = line.get_color() if hasattr(line, "get_color") else line.lines[0].get_color()
        ax.scatter(points_x[capped], points_y[capped], color=colour, s=10, zorder=3)
        ax.scatter(points_x[~capped], points_y[~capped], facecolors="white", edgecolors=colour, s=10, zorder=3)
    if len(seeds) > 1:
        per_beta = [[r["ef"] for r in rows if float(r["beta"]) == b] for b in betas]
        stats_ = [mean_interval(values) for values in per_beta]
        x, mean, half = break_before_relu(betas, [m for m, _ in stats_], [h for _, h in stats_])
        ax.errorbar(x, mean, yerr=half, fmt="o-", color="k", ms=3, lw=1.3, capsize=2, zorder=4,
                    label=f"mean of {len(seeds)} seeds (bars: 95 % interval)")
    beta_axis(ax, betas)
    ax.set_ylabel(ylabel, fontsize=8)
    ax.xaxis.label.set_fontsize(7)
    ax.tick_params(labelsize=7)
    ax.set_title("EF vs activation smoothness\n(hollow markers: missed the accuracy cap)", fontsize=7)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=6)
    save_with_vector(fig, path)


def radial_spectra(path, spectra: Mapping[float, np.ndarray], below_cap: Collection[float] = ()) -> None:
    """Fig. 2: mean normalized radial spectrum p_k per β against frequency ω_k = k/(K−1), log power.

    ``spectra``: β → (K,) probabilities (ReLU: β = inf, drawn black and thick); β in ``below_cap``
    (models that missed the accuracy cap) are drawn dotted and labelled so.
    """
    betas = sorted(spectra)
    fig, ax = figure(figsize=(3.4, 2.8))
    for beta, colour in zip(betas, beta_colours(betas)):
        p = np.asarray(spectra[beta], float)
        omega = np.arange(p.size) / max(p.size - 1, 1)
        relu = math.isinf(beta)
        missed = beta in below_cap
        # ReLU black, dashed and on top: the sharpest SoftPlus curves (β = 50, 100) lie almost on it and show
        # through its gaps
        ax.plot(omega, p, color=colour, lw=1.6 if relu else 1.0, ls=(":" if missed else (0, (4, 2)) if relu else "-"),
                label=beta_label(beta) + (" (below cap)" if missed else ""), zorder=3 if relu else 2)
    ax.set_yscale("log")
    ax.set_xlabel("spatial frequency ω (unit scale)", fontsize=8)
    ax.set_ylabel("normalized power p(ω)\n(mean over images)", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.set_title("Radial spectra of VanillaGrad maps\n(ReLU: black, dashed, on top)", fontsize=7)
    ax.grid(True, alpha=0.3, which="both")
    ax.legend(fontsize=5.5, ncol=2)
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


SALIENCY_CELL = 1.0                 # inches per image cell of the saliency grid
SALIENCY_MARGINS = {"left": 0.3, "right": 0.15, "top": 0.45, "bottom": 0.1}   # inches around the mosaic
MIN_CELL_PIXELS = 32                # smaller images are repeated up to this so a one-pixel gap stays thin
SALIENCY_MIN_WIDTH = 3.4            # inches: room for the title above a grid of one or two columns


SALIENCY_PERCENTILE = 99.0
"""Each saliency map is scaled by this percentile of its own |values| (as Captum's visualize_image_attr and
PAIR's saliency do), so one large map does not wash out the others."""


def saliency_rgba(maps: np.ndarray, cmap: str = "coolwarm") -> np.ndarray:
    """Maps (E, H, W) as colours (E, H, W, 4) uint8, each on its own symmetric scale [−s, s], s its
    :data:`SALIENCY_PERCENTILE` percentile of |value| (1 when all zero); values beyond ±s saturate."""
    maps = np.asarray(maps, float)
    scale = np.percentile(np.abs(maps).reshape(len(maps), -1), SALIENCY_PERCENTILE, axis=1)
    scale = np.where(scale > 0, scale, 1.0)[:, None, None]
    return matplotlib.colormaps[cmap](np.clip(0.5 + 0.5 * maps / scale, 0.0, 1.0), bytes=True)


def rank_rgba(maps: np.ndarray, cmap: str = "viridis") -> np.ndarray:
    """Maps (E, H, W) rank-normalized per map (average ranks / H·W, the maps EF is computed on) as colours."""
    maps = np.asarray(maps, float)
    flat = maps.reshape(len(maps), -1)
    ranks = stats.rankdata(flat, axis=1) / flat.shape[1]
    return matplotlib.colormaps[cmap](ranks.reshape(maps.shape), bytes=True)


def image_rgba(images: np.ndarray) -> np.ndarray:
    """Images (E, H, W, C) in [0, 1] as colours (E, H, W, 4) uint8: one channel through gray, RGB(A) as they are."""
    images = np.clip(np.asarray(images, float), 0.0, 1.0)
    if images.shape[-1] == 1:
        return matplotlib.colormaps["gray"](images[..., 0], bytes=True)
    if images.shape[-1] == 3:
        images = np.concatenate([images, np.ones(images.shape[:-1] + (1,))], axis=-1)
    return (images * 255).astype(np.uint8)


def mosaic(cells: np.ndarray, gap: int) -> np.ndarray:
    """Cells (R, C, h, w, 4) uint8 tiled into one image (R·h + (R−1)·gap, C·w + (C−1)·gap, 4), gaps white."""
    rows, columns, height, width, _ = cells.shape
    padded = np.pad(cells, ((0, 0), (0, 0), (0, gap), (0, gap), (0, 0)), constant_values=255)
    tiled = padded.transpose(0, 2, 1, 3, 4).reshape(rows * (height + gap), columns * (width + gap), 4)
    return tiled[:-gap, :-gap]


def saliency_grid(path, maps: Mapping[float, np.ndarray], images: np.ndarray,
                  labels: Sequence[str] | None = None) -> None:
    """Fig. 13-style grid: the input images (top row, titled with ``labels``), then per β two rows: the
    channel-summed saliency maps, each scaled by its own :data:`SALIENCY_PERCENTILE` percentile of |value|
    (red positive, blue negative), and the same maps rank-normalized (what EF is computed on; viridis, low → high).

    ``maps``: β → (E, H, W); ``images``: (E, H, W, C) in [0, 1]; ``labels``: E class names or None. Drawn as
    one mosaic image and texts on a single axes whose data units are inches, at positions computed here: no
    layout solver, no axes per cell (a 12 × 6 grid draws ~4× faster).
    """
    betas = sorted(maps)
    count = images.shape[0]
    rows, row_names = [image_rgba(images)], ["input"]
    for beta in betas:
        chosen = np.asarray(maps[beta][:count], float)
        rows += [saliency_rgba(chosen), rank_rgba(chosen)]
        row_names += [beta_label(beta), f"{beta_label(beta)} rank"]
    cells = np.stack(rows)                                  # (R, E, H, W, 4)
    repeat = max(1, math.ceil(MIN_CELL_PIXELS / max(cells.shape[2:4])))
    cells = cells.repeat(repeat, axis=2).repeat(repeat, axis=3)
    height, width = cells.shape[2:4]
    gap = max(1, round(max(height, width) / MIN_CELL_PIXELS))
    tiled = mosaic(cells, gap)

    pixel = SALIENCY_CELL / width                           # inches per mosaic pixel: square pixels, square cells
    margin = SALIENCY_MARGINS
    widen = max(0.0, SALIENCY_MIN_WIDTH - margin["left"] - tiled.shape[1] * pixel - margin["right"])
    left, top = margin["left"] + widen / 2, margin["top"]
    right, bottom = left + tiled.shape[1] * pixel, top + tiled.shape[0] * pixel
    size = (right + margin["right"] + widen / 2, bottom + margin["bottom"] + 0.25)
    fig = Figure(figsize=size)
    fig.suppressComposite = True                            # the PDF keeps the mosaic's own pixels
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_axis_off()
    ax.imshow(tiled, extent=(left, right, bottom, top), interpolation="none", aspect="auto")  # PDF: pixels as they are

    row_top = lambda row: top + row * (height + gap) * pixel
    for row, name in enumerate(row_names):
        ax.text(left - 0.05, row_top(row) + height * pixel / 2, name, fontsize=7, rotation=90, ha="right", va="center")
    for column, label in enumerate(labels[:count] if labels is not None else []):
        ax.text(left + (column * (width + gap) + width / 2) * pixel, top - 0.04, str(label), fontsize=7,
                ha="center", va="bottom")
    ax.text(size[0] / 2, 0.06, "VanillaGrad saliency (channel-summed) per β", fontsize=9, ha="center", va="top")
    ax.text(size[0] / 2, bottom + 0.06, f"raw rows: each map scaled to its own {SALIENCY_PERCENTILE:g}th percentile "
            "of |value| (red +, blue −); rank rows: ranks / H·W, viridis", fontsize=5.5, ha="center", va="top")
    ax.set(xlim=(0, size[0]), ylim=(size[1], 0))           # data units: inches from the top left corner
    save_with_vector(fig, path)


DPI = 200
VECTOR_FORMAT = "pdf"
PNG_COMPRESSION = 3     # zlib level: about a third less encoding time than the default 6, files ~15% larger


def save_with_vector(fig, path) -> None:
    """Save ``fig`` as ``path`` (PNG at DPI dots per inch) and as a PDF beside it."""
    path = Path(path)
    atomic.save_figure(fig, path, dpi=DPI, pil_kwargs={"compress_level": PNG_COMPRESSION})
    fig.set_layout_engine("none")   # keep the layout the PNG computed: the PDF needs no second solve
    atomic.save_figure(fig, path.with_suffix(f".{VECTOR_FORMAT}"))
