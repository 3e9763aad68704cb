"""The ``plane`` reproduction target: the paper's closing picture (Sec. 6), complexity against faithfulness.

Trained β-models × explanation methods, one point per (model, method): complexity EF against the faithfulness
proxy ΔEF and, where the surrogate is explicit (SmoothGrad per σ, IntGrad), against the direct gap G. Each
seed runs the explanation-gap experiment once (its own model initialisations, data and noise); points show the
mean over seeds with 95 % intervals, and ``plane.csv`` gives mean, std and n.
"""

from __future__ import annotations

import math

import numpy as np

from specxai_jax.configs import REPRODUCE_SEEDS
from specxai_jax.plots import reproduction as repro_plots
from specxai_jax.reproduction import runs
from specxai_jax.storage import atomic

MODELS = {True: ("cnn-softplus:2", "cnn-softplus:20", "cnn-relu"),
          False: ("cnn-softplus:1", "cnn-softplus:5", "cnn-softplus:20", "cnn-softplus:100", "cnn-relu")}
COLUMNS = ["model", "method", "sigma", "ef", "ef_std", "delta_ef", "delta_ef_std", "gap", "gap_std", "n"]


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
             "G = E‖∇f − ∇f̂‖² where the surrogate is explicit.", "",
             "| model | method | σ | EF | ΔEF | G | n |", "|---|---|---|---|---|---|---|"]
    for r in table:
        sigma = "" if math.isnan(r["sigma"]) else f"{r['sigma']:g}"
        gap = "–" if math.isnan(r["gap"]) else f"{r['gap']:.3g} ± {r['gap_std']:.2g}"
        lines.append(f"| {r['model']} | {r['method']} | {sigma} | {r['ef']:.4f} ± {r['ef_std']:.4f} | "
                     f"{r['delta_ef']:.4f} ± {r['delta_ef_std']:.4f} | {gap} | {r['n']} |")
    return "\n".join(lines) + "\n"


def run(ctx) -> dict:
    """One explanation-gap run per seed into ``seed<k>/``; plane.csv, plane.md and fig_plane.png."""

    per_seed = []
    for seed in REPRODUCE_SEEDS["quick" if ctx.quick else "full"]:
        config = runs.gap_config(ctx, models=MODELS[ctx.quick], checkpoint_dir=str(ctx.out / "models"), seed=seed)
        result = runs.gap_run(ctx, f"seed {seed}", f"seed{seed}", config)
        per_seed.append((result.rows, result.sweep))
    table = summarize(per_seed, config.smooth_sigma)
    atomic.write_csv(ctx.out / "plane.csv", table, COLUMNS)
    atomic.write_text(ctx.out / "plane.md", markdown(table))
    repro_plots.plane(ctx.out / "fig_plane.png", table)
    vanilla = {r["model"]: r["ef"] for r in table if r["method"] == "vanilla_grad"}
    ordered = sorted(vanilla, key=lambda m: float(m.split(":")[1]) if ":" in m else math.inf)
    ef = [vanilla[m] for m in ordered]
    ctx.check("ante-hoc axis: VanillaGrad EF rises with β (mean over seeds)",
              bool(all(a < b for a, b in zip(ef, ef[1:]))), ", ".join(f"{m} {v:.4f}" for m, v in zip(ordered, ef)))
    for model in ordered:
        smooth = sorted([r for r in table if r["model"] == model and r["method"] == "smooth_grad"],
                        key=lambda r: r["sigma"])
        lower = all(r["ef"] < vanilla[model] for r in smooth)
        smooth = [r for r in smooth if math.isfinite(r["gap"])]  # the σ grid, where G was measured
        grows = all(a["delta_ef"] <= b["delta_ef"] and a["gap"] <= b["gap"] for a, b in zip(smooth, smooth[1:]))
        ctx.check(f"{model}: post-hoc axis: SmoothGrad lowers EF at every σ; ΔEF and G both grow with σ",
                  bool(lower and grows),
                  "; ".join(f"σ={r['sigma']:g}: EF {r['ef']:.4f}, ΔEF {r['delta_ef']:.4f}, G {r['gap']:.3g}"
                            for r in smooth))
    return {"figures": ["fig_plane.png"], "tables": ["plane.csv"], "markdown": ["plane.md"]}
