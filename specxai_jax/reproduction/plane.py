"""The ``plane`` reproduction target: the paper's closing picture (Sec. 6), complexity against faithfulness.

Trained β-models × explanation methods, one point per (model, method): complexity EF against the faithfulness
proxy ΔEF and, where the surrogate is explicit (SmoothGrad per σ, IntGrad), against the direct gap G. Each
seed runs the explanation-gap experiment once (its own model initialisations, data and noise); points show the
mean over seeds with 95 % intervals, and ``plane.csv`` gives mean, std and n.

SmoothGrad averages :data:`SMOOTH_SAMPLES` noisy gradients: with 8, ΔEF and G are not monotone in σ within a
seed. Each trend is judged across seeds (:func:`trend_verdict`): it holds when every seed shows it, fails when the
mean step's 95 % interval lies on the wrong side of 0, and is inconclusive (None) otherwise. Models that stop
below the accuracy cap in any seed are flagged and left out of the β axis.
"""

from __future__ import annotations

import math

import numpy as np

from specxai_jax.plots import reproduction as repro_plots
from specxai_jax.reproduction import runs
from specxai_jax.stats import t_half_width
from specxai_jax.storage import atomic

MODELS = {True: ("cnn-softplus:2", "cnn-softplus:20", "cnn-relu"),
          False: ("cnn-softplus:1", "cnn-softplus:5", "cnn-softplus:20", "cnn-softplus:100", "cnn-relu")}
COLUMNS = ["model", "method", "sigma", "ef", "ef_std", "delta_ef", "delta_ef_std", "gap", "gap_std", "n",
           "accuracy_min", "below_cap"]
SMOOTH_SAMPLES = 64
"""SmoothGrad samples of every plane run (the quick explanation-gap default of 8 leaves ΔEF and G noisy in σ)."""


def summarize(per_seed: list[tuple[list[dict], list[dict]]], smooth_sigma: float) -> list[dict]:
    """Mean and std over seeds per (model, method[, σ]): the table rows (gap NaN where G is not defined).

    ``per_seed``: (gap.csv rows, gap_vs_sigma.csv rows) per seed; ``smooth_sigma``: σ of gap.csv's SmoothGrad row.
    """
    cells: dict[tuple, list[dict]] = {}
    for rows, sweep in per_seed:
        for row in rows:
            if not math.isnan(row["ef"]):
                sigma = smooth_sigma if row["method"] == "smooth_grad" else math.nan
                cells.setdefault((row["model"], row["method"], sigma), []).append({**row, "gap": math.nan})
        for row in sweep:
            if row["method"] == "smooth_grad":
                cells.setdefault((row["model"], row["method"], row["sigma"]), []).append(row)
            else:  # IntGrad: its G joins its gap.csv row
                cells[(row["model"], row["method"], math.nan)][-1]["gap"] = row["gap"]
    table = []
    for (model, method, sigma), entries in cells.items():
        record = {"model": model, "method": method, "sigma": sigma, "n": len(entries)}
        for name in ("ef", "delta_ef", "gap"):
            values = np.array([e[name] for e in entries], float)
            record[name] = float(values.mean())
            record[f"{name}_std"] = float(values.std(ddof=1)) if len(values) > 1 else math.nan
        table.append(record)
    return table


def markdown(table: list[dict]) -> str:
    lines = ["# Complexity–faithfulness plane", "",
             "EF (unit scale) and ΔEF = |EF − EF(VanillaGrad)| per (model, method), mean ± std over n seeds; "
             "G = E‖∇f − ∇f̂‖² where the surrogate is explicit; (below cap): the model missed the accuracy cap in some "
             "seed and is left out of the β axis.", "",
             "| model | method | σ | EF | ΔEF | G | n |", "|---|---|---|---|---|---|---|"]
    for r in table:
        sigma = "" if math.isnan(r["sigma"]) else f"{r['sigma']:g}"
        gap = "–" if math.isnan(r["gap"]) else f"{r['gap']:.3g} ± {r['gap_std']:.2g}"
        model = r["model"] + (" (below cap)" if r.get("below_cap") else "")
        lines.append(f"| {model} | {r['method']} | {sigma} | {r['ef']:.4f} ± {r['ef_std']:.4f} | "
                     f"{r['delta_ef']:.4f} ± {r['delta_ef_std']:.4f} | {gap} | {r['n']} |")
    return "\n".join(lines) + "\n"


def trend_verdict(steps: np.ndarray) -> tuple[bool | None, float, float]:
    """Three-way verdict on steps that should all be positive: (n_seeds, n_steps) per-seed paired differences.

    True when every step is positive in every seed; False when some step's mean has a 95 % Student-t interval
    (over seeds) entirely below 0; None (inconclusive) otherwise. Also returns the interval of the step with the
    smallest mean (NaN bounds with one seed).
    """
    steps = np.atleast_2d(np.asarray(steps, float))
    if steps.size == 0:
        return None, math.nan, math.nan
    n = steps.shape[0]
    mean = steps.mean(axis=0)
    half = t_half_width(steps.std(axis=0, ddof=int(n > 1)), n)
    worst = int(np.argmin(mean))
    low, high = float(mean[worst] - half[worst]), float(mean[worst] + half[worst])
    if bool(np.all(steps > 0)):
        return True, low, high
    if bool(np.any(mean + half < 0)):
        return False, low, high
    return None, low, high


def seed_values(per_seed: list[tuple[list[dict], list[dict]]], model: str, method: str, name: str,
                sigma: float | None = None) -> np.ndarray:
    """One value per seed of ``name`` for (model, method[, σ of the σ sweep]): (n_seeds,)."""
    values = []
    for rows, sweep in per_seed:
        source = [r for r in sweep if r["sigma"] == sigma] if sigma is not None else rows
        values += [r[name] for r in source if r["model"] == model and r["method"] == method]
    return np.asarray(values, float)


def beta_of(model: str) -> float:
    return float(model.split(":")[1]) if ":" in model else math.inf


def run(ctx) -> dict:
    """One explanation-gap run per seed into ``seed<k>/``; plane.csv, plane.md and fig_plane.png; the checks."""

    per_seed: list[tuple[list[dict], list[dict]]] = []
    accuracy: dict[str, list[float]] = {}
    for seed in ctx.run_seeds():
        config = runs.gap_config(ctx, models=MODELS[ctx.quick], checkpoint_dir=str(ctx.out / "models"), seed=seed,
                                 samples=SMOOTH_SAMPLES)
        result = runs.gap_run(ctx, f"seed {seed}", f"seed{seed}", config)
        per_seed.append((result.rows, result.sweep))
        for model, value in result.accuracy.items():
            accuracy.setdefault(model, []).append(value)
    table = summarize(per_seed, config.smooth_sigma)
    cap = config.acc_cap
    below = {m for m, values in accuracy.items() if cap is not None and min(values) < cap}
    for row in table:
        row["accuracy_min"] = min(accuracy.get(row["model"], [math.nan]))
        row["below_cap"] = row["model"] in below
    atomic.write_csv(ctx.out / "plane.csv", table, COLUMNS)
    atomic.write_text(ctx.out / "plane.md", markdown(table))
    repro_plots.plane(ctx.out / "fig_plane.png", table)
    models = sorted({r["model"] for r in table}, key=beta_of)
    if below:
        ctx.notes.append("Below the accuracy cap " + f"{cap:g} in some seed, left out of the β axis: " + ", ".join(
            f"{m} (lowest accuracy {min(accuracy[m]):.3f})" for m in sorted(below, key=beta_of)))
    axis = [m for m in models if m not in below]
    vanilla = np.stack([seed_values(per_seed, m, "vanilla_grad", "ef") for m in axis], axis=1) if axis else None
    if vanilla is not None and len(axis) >= 2:
        holds, low, high = trend_verdict(np.diff(vanilla, axis=1))
        ctx.check("ante-hoc axis: VanillaGrad EF rises with β among models at the accuracy cap (every seed: holds; "
                  "a step's 95 % interval below 0: fails; else inconclusive)", holds,
                  ", ".join(f"{m} {v:.4f}" for m, v in zip(axis, vanilla.mean(axis=0)))
                  + f"; smallest mean step {vanilla.shape[0]} seeds, 95 % interval [{low:.4f}, {high:.4f}]",
                  interval=(low, high))
    else:
        ctx.check("ante-hoc axis: VanillaGrad EF rises with β among models at the accuracy cap", None,
                  f"{len(axis)} model(s) reached the cap {cap} in every seed; nothing to order")
    for model in models:
        sigmas = sorted({r["sigma"] for r in table if r["model"] == model and r["method"] == "smooth_grad"
                         and math.isfinite(r["gap"])})
        if not sigmas:
            continue
        reference = seed_values(per_seed, model, "vanilla_grad", "ef")
        smooth_ef = np.stack([seed_values(per_seed, model, "smooth_grad", "ef", s) for s in sigmas], axis=1)
        lowers, low, high = trend_verdict(reference[:, None] - smooth_ef)
        ctx.check(f"{model}: post-hoc axis: SmoothGrad lowers EF at every σ (all seeds)", lowers,
                  "; ".join(f"σ={s:g}: EF {e:.4f}" for s, e in zip(sigmas, smooth_ef.mean(axis=0)))
                  + f"; VanillaGrad {reference.mean():.4f}; smallest mean drop, 95 % interval [{low:.4f}, {high:.4f}]",
                  interval=(low, high))
        for name, label in (("delta_ef", "ΔEF"), ("gap", "G")) if len(sigmas) > 1 else ():
            values = np.stack([seed_values(per_seed, model, "smooth_grad", name, s) for s in sigmas], axis=1)
            grows, low, high = trend_verdict(np.diff(values, axis=1))
            ctx.check(f"{model}: post-hoc axis: SmoothGrad's {label} grows with σ (all seeds)", grows,
                      "; ".join(f"σ={s:g}: {v:.4g}" for s, v in zip(sigmas, values.mean(axis=0)))
                      + f" ({SMOOTH_SAMPLES} samples); smallest mean step, 95 % interval [{low:.4g}, {high:.4g}]",
                      interval=(low, high))
    return {"figures": ["fig_plane.png"], "tables": ["plane.csv"], "markdown": ["plane.md"]}
