"""The ``faithfulness`` target: the complexity–faithfulness plane with the field's own faithfulness metrics.

For every β-model and explanation method (SmoothGrad also over the explanation-gap run's σ grid), per image:
complexity EF (rank-normalized, unit scale) against deletion and insertion AUC (MoRF, zero baseline), ROAD
(MoRF, noisy linear imputation), faithfulness correlation and infidelity (Captum's normalized form), from
:mod:`specxai_jax.metrics`. Each seed runs the explanation-gap experiment once (its own models, data and noise;
:func:`specxai_jax.reproduction.runs.gap_run`), whose ΔEF and direct gap G sit beside the metrics.

Intervals are 95 % hierarchical bootstrap intervals: seeds resampled, then images within each seed. A check
holds when its interval lies on the claim's side of 0, fails when it lies on the other side, and is inconclusive
(None) when it straddles 0.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from matplotlib.lines import Line2D
from scipy import stats as scipy_stats

from specxai_jax import gap, plots, spectral
from specxai_jax.attribution import METHODS
from specxai_jax.data import load_dataset
from specxai_jax.metrics import faithfulness as metrics
from specxai_jax.models.registry import build_model
from specxai_jax.reproduction import runs
from specxai_jax.storage import atomic
from specxai_jax.storage.store import ResultStore

CLAIM = ("The complexity–faithfulness trade-off (the paper's title) should hold under the field's faithfulness "
         "metrics too: smoother explanations (lower β, larger SmoothGrad σ) are less faithful by deletion, insertion, "
         "ROAD, faithfulness correlation and infidelity, and these metrics rank methods as the gap G and ΔEF do.")
MODELS = {True: ("cnn-softplus:2", "cnn-softplus:20", "cnn-relu"),
          False: ("cnn-softplus:1", "cnn-softplus:5", "cnn-softplus:20", "cnn-softplus:100", "cnn-relu")}
N_EXPLAIN = {True: 32, False: 256}
BOOTSTRAP = 2000
ROAD_PERCENTAGES = (10, 20, 30, 40, 50, 60, 70, 80, 90)
TABLE_COLUMNS = ["model", "method", "sigma", "n_seeds", "n_images", "ef", "ef_low", "ef_high", "delta_ef", "gap"]
SPEARMAN_COLUMNS = ["metric", "against", "rho", "low", "high", "n_units", "n_points"]


@dataclasses.dataclass(frozen=True)
class Metric:
    """A faithfulness metric: its name, label, which direction is more faithful, and its per-image scores
    ``score(model_pair, x (B,H,W,C), maps (B,H,W), key) → (B,)``."""

    name: str
    label: str
    better: str  # "higher" or "lower"
    score: Callable

    def unfaithfulness(self, values: np.ndarray) -> np.ndarray:
        """Values oriented so that larger means less faithful."""
        return values if self.better == "lower" else -values


def metric_suite(num_pixels: int) -> tuple[Metric, ...]:
    """The five metrics at settings scaled to images of ``num_pixels`` pixels (32 steps per curve)."""
    step = max(1, num_pixels // 32)
    subset = max(1, num_pixels // 8)
    return (
        Metric("deletion", "deletion AUC (MoRF)", "lower",
               lambda m, x, a, k: metrics.pixel_flipping_auc(m, x, a, mode="deletion", order="morf",
                                                             pixels_per_step=step)),
        Metric("insertion", "insertion AUC (MoRF)", "higher",
               lambda m, x, a, k: metrics.pixel_flipping_auc(m, x, a, mode="insertion", order="morf",
                                                             pixels_per_step=step)),
        Metric("road", "ROAD accuracy (MoRF)", "lower",
               lambda m, x, a, k: metrics.road_curves(m, x, a, percentages=ROAD_PERCENTAGES, key=k).mean(axis=-1)),
        Metric("faithfulness_correlation", "faithfulness correlation", "higher",
               lambda m, x, a, k: metrics.faithfulness_correlation(m, x, a, key=k, runs=32, subset_size=subset)),
        Metric("infidelity", "infidelity (normalized)", "lower",
               lambda m, x, a, k: metrics.infidelity(m, x, a, key=k, samples=16, normalize=True)),
    )


@dataclasses.dataclass(frozen=True)
class Entry:
    """One (seed, model, method[, σ]) cell: per-image EF and metric scores, the run's ΔEF and G (NaN if none)."""

    seed: int
    model: str
    method: str
    sigma: float
    ef: np.ndarray                 # (B,)
    scores: dict                   # metric name → (B,)
    delta_ef: float
    gap: float


def score_maps(model_pair, images: np.ndarray, maps, suite: Sequence[Metric], key: jax.Array) -> tuple[np.ndarray, dict]:
    """(rank EF per image (B,), {metric: scores (B,)}) of channel-summed maps (B, H, W) of one model."""
    x, maps = jnp.asarray(images), jnp.asarray(maps)
    scores = {metric.name: np.asarray(metric.score(model_pair, x, maps, jax.random.fold_in(key, index)), np.float64)
              for index, metric in enumerate(suite)}
    return np.asarray(spectral.expected_frequency(maps), np.float64), scores


def hierarchical_bootstrap(per_seed: Sequence[np.ndarray], n_boot: int = BOOTSTRAP, seed: int = 0) -> tuple[float, float, float]:
    """(mean, low, high): the mean over seeds of per-image means, with the 95 % interval from resampling seeds,
    then images within each drawn seed. ``per_seed``: one (B,) array per seed (NaN images left out)."""
    groups = [np.asarray(values, float)[np.isfinite(values)] for values in per_seed]
    groups = [g for g in groups if g.size]
    if not groups:
        return math.nan, math.nan, math.nan
    rng = np.random.default_rng(seed)
    draws = np.empty(n_boot)
    for b in range(n_boot):
        chosen = rng.integers(0, len(groups), len(groups))
        draws[b] = np.mean([rng.choice(groups[i], groups[i].size).mean() for i in chosen])
    low, high = np.percentile(draws, [2.5, 97.5])
    return float(np.mean([g.mean() for g in groups])), float(low), float(high)


def verdict(low: float, high: float) -> bool | None:
    """True when the interval is above 0, False when below, None (inconclusive) when it straddles 0."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return None
    return True if low > 0 else False if high < 0 else None


def _model_entries(spec, model, variables, images, config, run_rows, run_sweep, suite, seed) -> list[Entry]:
    """Every applicable method of one model (SmoothGrad at gap.csv's σ and over the σ grid)."""
    key = jax.random.key(config.seed)
    options = gap.method_options(config, key)
    index = jnp.arange(len(images))
    pair = (model, variables)
    reference = next(r["ef"] for r in run_rows if r["method"] == "vanilla_grad")
    gaps = {(r["method"], r["sigma"] if r["method"] == "smooth_grad" else None): r["gap"] for r in run_sweep}
    cells = [(method, config.smooth_sigma if method == "smooth_grad" else math.nan, options.get(method, {}))
             for method in METHODS if gap.method_applies(method, spec)]
    cells += [("smooth_grad", sigma, {**options["smooth_grad"], "sigma": sigma})
              for sigma in config.sigmas if sigma != config.smooth_sigma]
    entries: list[Entry] = []
    for method, sigma, method_options in cells:
        extra = {"index": index} if method == "smooth_grad" else {}
        maps = METHODS[method](model.apply, variables, jnp.asarray(images), None, **method_options, **extra).sum(-1)
        ef, scores = score_maps(pair, images, maps, suite, jax.random.fold_in(key, len(entries)))
        g = gaps.get((method, sigma if method == "smooth_grad" else None), math.nan)
        entries.append(Entry(seed, spec.name, method, sigma, ef, scores, abs(float(ef.mean()) - reference), float(g)))
    return entries


def seed_entries(ctx, seed: int) -> tuple[list[Entry], tuple[Metric, ...]]:
    """The explanation-gap run of one seed, then every model's maps scored by :func:`metric_suite`."""
    checkpoint_dir = str(ctx.out / "models")
    config = runs.gap_config(ctx, models=MODELS[ctx.quick], checkpoint_dir=checkpoint_dir, seed=seed,
                             n_explain=N_EXPLAIN[ctx.quick])
    result = runs.gap_run(ctx, f"seed {seed}", f"seed{seed}", config)
    dataset = load_dataset(config.dataset, img_size=config.img_size, seed=config.seed, max_train=config.max_train,
                           max_test=config.max_test, data_dir=config.data_dir, split=config.split)
    images = np.asarray(dataset.x_test[: config.n_explain])
    suite = metric_suite(images.shape[1] * images.shape[2])
    store = ResultStore(checkpoint_dir)
    entries = []
    for spec in gap.model_specs(config):
        if any(r["diverged"] for r in result.rows if r["model"] == spec.name):
            ctx.notes.append(f"seed {seed}: {spec.name} diverged; left out")
            continue
        model = build_model(spec.family, num_classes=dataset.num_classes, activation=spec.activation,
                            depth=config.depth)
        with store.lock():
            variables, _, _ = gap.trained_variables(spec, model, dataset, config, store)
        entries += _model_entries(spec, model, variables, images, config,
                                  [r for r in result.rows if r["model"] == spec.name],
                                  [r for r in result.sweep if r["model"] == spec.name], suite, seed)
    return entries, suite


def summary_table(entries: Sequence[Entry], suite: Sequence[Metric]) -> list[dict]:
    """One row per (model, method, σ): EF and each metric as mean [95 % interval], ΔEF and G means over seeds."""
    cells: dict[tuple, list[Entry]] = {}
    for entry in entries:
        cells.setdefault((entry.model, entry.method, entry.sigma), []).append(entry)
    table = []
    for (model, method, sigma), group in cells.items():
        row = {"model": model, "method": method, "sigma": sigma, "n_seeds": len(group),
               "n_images": int(sum(e.ef.size for e in group)),
               "delta_ef": float(np.mean([e.delta_ef for e in group])), "gap": float(np.mean([e.gap for e in group]))}
        row["ef"], row["ef_low"], row["ef_high"] = hierarchical_bootstrap([e.ef for e in group])
        for metric in suite:
            mean, low, high = hierarchical_bootstrap([e.scores[metric.name] for e in group])
            row.update({metric.name: mean, f"{metric.name}_low": low, f"{metric.name}_high": high})
        table.append(row)
    return table


def paired_differences(entries: Sequence[Entry], first: Callable[[Entry], bool], second: Callable[[Entry], bool],
                       values: Callable[[Entry], np.ndarray]) -> list[np.ndarray]:
    """Per seed, per-image values(first) − values(second) averaged over the models where both exist: (B,) per seed."""
    per_seed = []
    for seed in sorted({e.seed for e in entries}):
        mine = [e for e in entries if e.seed == seed]
        diffs = []
        for model in dict.fromkeys(e.model for e in mine):
            a = [e for e in mine if e.model == model and first(e)]
            b = [e for e in mine if e.model == model and second(e)]
            if a and b:
                diffs.append(values(a[0]) - values(b[0]))
        if diffs:
            per_seed.append(np.mean(diffs, axis=0))
    return per_seed


def spearman_rows(entries: Sequence[Entry], suite: Sequence[Metric]) -> list[dict]:
    """Spearman ρ across methods (per seed and model) of each metric's unfaithfulness with G and with ΔEF:
    mean over (seed, model) units with a 95 % Student-t interval."""
    rows = []
    units = sorted({(e.seed, e.model) for e in entries})
    for metric in suite:
        for against in ("gap", "delta_ef"):
            rhos, points = [], []
            for seed, model in units:
                cell = [e for e in entries if (e.seed, e.model) == (seed, model) and math.isfinite(getattr(e, against))]
                cell = [e for e in cell if e.method != "vanilla_grad" or against == "gap"]
                if len(cell) < 3:
                    continue
                unfaith = [float(np.nanmean(metric.unfaithfulness(e.scores[metric.name]))) for e in cell]
                rho = scipy_stats.spearmanr(unfaith, [getattr(e, against) for e in cell]).statistic
                if math.isfinite(rho):
                    rhos.append(rho)
                    points.append(len(cell))
            mean = float(np.mean(rhos)) if rhos else math.nan
            half = (scipy_stats.t.ppf(0.975, len(rhos) - 1) * np.std(rhos, ddof=1) / math.sqrt(len(rhos))
                    if len(rhos) > 1 else math.nan)
            rows.append({"metric": metric.name, "against": against, "rho": mean, "low": mean - half,
                         "high": mean + half, "n_units": len(rhos), "n_points": int(np.mean(points)) if points else 0})
    return rows


def _fmt(mean: float, low: float, high: float, digits: int = 3) -> str:
    return f"{mean:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"


def _check(ctx, claim: str, interval: tuple[float, float], measured: str) -> None:
    low, high = interval
    ctx.check(claim, verdict(low, high), f"{measured}; 95 % interval [{low:.4g}, {high:.4g}]", interval=(low, high))


def checks(ctx, entries: Sequence[Entry], suite: Sequence[Metric], models: Sequence[str], sigmas: Sequence[float],
           spearman: Sequence[dict]) -> None:
    """The target's claims, each judged by the side of 0 its interval lies on."""
    largest = max(sigmas)
    is_vanilla = lambda e: e.method == "vanilla_grad"
    is_smooth = lambda e: e.method == "smooth_grad" and e.sigma == largest
    diff = paired_differences(entries, is_smooth, is_vanilla, lambda e: e.ef)
    mean, low, high = hierarchical_bootstrap(diff)
    ctx.check(f"SmoothGrad σ={largest:g} has a lower EF than VanillaGrad (all models)", verdict(-high, -low),
              f"EF(SmoothGrad) − EF(VanillaGrad) {mean:.4g}; 95 % interval [{low:.4g}, {high:.4g}]",
              interval=(low, high))
    for metric in suite:
        diff = paired_differences(entries, is_smooth, is_vanilla, lambda e: metric.unfaithfulness(e.scores[metric.name]))
        mean, low, high = hierarchical_bootstrap(diff)
        _check(ctx, f"smoothing post hoc costs faithfulness by {metric.label}: SmoothGrad σ={largest:g} less faithful "
                    "than VanillaGrad (all models)", (low, high), f"unfaithfulness difference {mean:.4g}")
    smoothest, relu = models[0], models[-1]
    per_seed = lambda e, name: e.model == name and is_vanilla(e)
    for metric in suite:
        diff = [np.asarray(a) - np.asarray(b) for a, b in zip(
            *[[metric.unfaithfulness(e.scores[metric.name]) for e in entries if per_seed(e, name)]
              for name in (smoothest, relu)])]
        mean, low, high = hierarchical_bootstrap(diff)
        _check(ctx, f"smoothing ante hoc costs faithfulness by {metric.label}: {smoothest}'s VanillaGrad less "
                    f"faithful than {relu}'s", (low, high), f"unfaithfulness difference {mean:.4g}")
    for row in spearman:
        against = "the direct gap G" if row["against"] == "gap" else "ΔEF"
        label = next(m.label for m in suite if m.name == row["metric"])
        _check(ctx, f"{label} ranks methods as {against} does (Spearman ρ of unfaithfulness with it > 0)",
               (row["low"], row["high"]), f"mean ρ {row['rho']:.2f} over {row['n_units']} (seed, model) units of "
                                          f"{row['n_points']} methods")


def markdown(table: Sequence[dict], suite: Sequence[Metric], spearman: Sequence[dict]) -> str:
    head = ["model", "method", "σ", "EF", *[f"{m.label} ({m.better} better)" for m in suite], "ΔEF", "G"]
    lines = ["# Complexity against the field's faithfulness metrics", "",
             "Mean over seeds and images [95 % hierarchical bootstrap interval: seeds, then images]. EF: rank-"
             "normalized, unit scale. ΔEF = |EF − EF(VanillaGrad)|; G = E‖∇f − ∇f̂‖² where the surrogate is explicit.",
             "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in table:
        sigma = "" if math.isnan(r["sigma"]) else f"{r['sigma']:g}"
        cells = [r["model"], r["method"], sigma, _fmt(r["ef"], r["ef_low"], r["ef_high"], 4)]
        cells += [_fmt(r[m.name], r[f"{m.name}_low"], r[f"{m.name}_high"]) for m in suite]
        cells += [f"{r['delta_ef']:.4f}", "–" if math.isnan(r["gap"]) else f"{r['gap']:.3g}"]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "## Spearman ρ across methods of each metric's unfaithfulness with G and with ΔEF", "",
              "Mean over (seed, model) units [95 % Student-t interval].", "", "| metric | against | ρ | units |",
              "|---|---|---|---|"]
    lines += [f"| {r['metric']} | {r['against']} | {_fmt(r['rho'], r['low'], r['high'], 2)} | {r['n_units']} |"
              for r in spearman]
    return "\n".join(lines) + "\n"


METHOD_COLOURS = {"vanilla_grad": "black", "smooth_grad": "tab:blue", "integrated_gradients": "tab:orange",
                  "guided_backprop": "tab:green", "deeplift": "tab:red", "gradcam": "tab:purple",
                  "guided_gradcam": "tab:brown", "lrp": "tab:pink"}
MODEL_MARKERS = ("o", "s", "^", "D", "v", "P")


def figure(path, table: Sequence[dict], suite: Sequence[Metric], models: Sequence[str], spearman: Sequence[dict]) -> None:
    """One panel per metric (EF on x, the metric on y, 95 % intervals both ways; SmoothGrad's σ grid joined per
    model), and a panel of the Spearman ρ of each metric with G and with ΔEF."""
    fig, axes = plots.figure(2, 3, figsize=(15, 8.5))
    for ax, metric in zip(axes.ravel(), suite):
        for m_index, model in enumerate(models):
            rows = [r for r in table if r["model"] == model]
            smooth = sorted([r for r in rows if r["method"] in ("smooth_grad", "vanilla_grad")],
                            key=lambda r: -1 if r["method"] == "vanilla_grad" else r["sigma"])
            ax.plot([r["ef"] for r in smooth], [r[metric.name] for r in smooth], color="tab:blue", alpha=0.35, lw=1)
            for r in rows:
                ax.errorbar(r["ef"], r[metric.name], xerr=[[r["ef"] - r["ef_low"]], [r["ef_high"] - r["ef"]]],
                            yerr=[[r[metric.name] - r[f"{metric.name}_low"]], [r[f"{metric.name}_high"] - r[metric.name]]],
                            fmt=MODEL_MARKERS[m_index % len(MODEL_MARKERS)], color=METHOD_COLOURS.get(r["method"], "grey"),
                            ms=5, lw=0.7, capsize=1.5)
        ax.set_xlabel("EF (rank-normalized, unit scale; lower = smoother)")
        ax.set_ylabel(f"{metric.label}\n({metric.better} = more faithful)")
        ax.grid(True, alpha=0.3)
    last = axes.ravel()[-1]
    names = [m.name for m in suite]
    for offset, against, colour in ((-0.18, "gap", "tab:red"), (0.18, "delta_ef", "tab:grey")):
        rows = [next(r for r in spearman if r["metric"] == n and r["against"] == against) for n in names]
        position = np.arange(len(names)) + offset
        last.bar(position, [r["rho"] for r in rows], width=0.34, color=colour,
                 label="with G" if against == "gap" else "with ΔEF",
                 yerr=[[r["rho"] - r["low"] for r in rows], [r["high"] - r["rho"] for r in rows]], capsize=2)
    last.axhline(0, color="black", lw=0.8)
    last.set_xticks(range(len(names)), [m.label.split(" (")[0] for m in suite], rotation=25, fontsize=8)
    last.set_ylabel("Spearman ρ of unfaithfulness across methods")
    last.set_ylim(-1.05, 1.05)
    last.legend(fontsize=8)
    handles = [plots_handle(colour, "o", method) for method, colour in METHOD_COLOURS.items()]
    handles += [plots_handle("grey", MODEL_MARKERS[i % len(MODEL_MARKERS)], model) for i, model in enumerate(models)]
    fig.legend(handles=handles, loc="outside right center", fontsize=8)
    fig.suptitle("Complexity (EF) against the field's faithfulness metrics, per model and method "
                 "(blue line: VanillaGrad → SmoothGrad σ grid)")
    plots.save_with_vector(fig, path)


def plots_handle(colour: str, marker: str, label: str) -> Line2D:
    """A legend entry: a marker without a line."""
    return Line2D([], [], color=colour, marker=marker, ls="", label=label)


def run(ctx) -> dict:
    """One explanation-gap run per seed into ``seed<k>/``, every map scored; faithfulness.csv, faithfulness.md,
    spearman.csv and fig_faithfulness.png, and the checks."""
    runs.refuse_sweep_options(ctx, "faithfulness", "runs the explanation-gap experiment")
    entries = []
    for seed in ctx.run_seeds():
        seed_rows, suite = seed_entries(ctx, seed)
        entries += seed_rows
    models = list(dict.fromkeys(e.model for e in entries))
    table = summary_table(entries, suite)
    spearman = spearman_rows(entries, suite)
    columns = TABLE_COLUMNS + [f"{m.name}{end}" for m in suite for end in ("", "_low", "_high")]
    atomic.write_csv(ctx.out / "faithfulness.csv", table, columns)
    atomic.write_csv(ctx.out / "spearman.csv", spearman, SPEARMAN_COLUMNS)
    atomic.write_text(ctx.out / "faithfulness.md", markdown(table, suite, spearman))
    figure(ctx.out / "fig_faithfulness.png", table, suite, models, spearman)
    sigmas = sorted({e.sigma for e in entries if e.method == "smooth_grad"})
    checks(ctx, entries, suite, models, sigmas, spearman)
    return {"figures": ["fig_faithfulness.png"], "tables": ["faithfulness.csv", "spearman.csv"],
            "markdown": ["faithfulness.md"]}
