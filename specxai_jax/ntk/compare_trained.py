"""Relate each activation's NTK eigen-decay to the Expected Frequency measured on trained models.

``python -m ntk.compare_trained --run DIR`` reads ``DIR/results.csv`` (columns activation, beta, seed,
test_accuracy, epochs, ef, ef_std, ef_ref, n_images, train_seconds; β a number or ``inf``), computes the
analytic NTK's Mercer tail share and geometric decay rate on S² for every (activation, β), and writes
``ntk_vs_ef.json`` (per-row values and Spearman rank correlations) and ``fig_ntk_vs_ef.png`` into
``--out`` (default DIR). Lemma 1 predicts a positive correlation: heavier kernel tail, higher EF.
For ``gauss`` rows β is the Gaussian's precision, as in training. Bad input (no results.csv, missing
columns, an activation without an analytic NTK, a file that is not text) gives one line and exit status 2;
rows with a non-finite EF (diverged models) are left out with a note.
"""

from __future__ import annotations

import csv
import math
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
from scipy import stats

from specxai_jax.errors import UsageError
from specxai_jax.ntk import analytic, spectrum
from specxai_jax.ops.activations import parse_beta

SPHERE_DIM, MAX_DEGREE, DEPTH, TAIL_START = 3, 40, 2, 2


def read_results(path: Path) -> dict[tuple[str, float], list[float]]:
    """EF values per (activation, β) from a sweep's results.csv; UsageError when it cannot be read as one."""
    groups: dict[tuple[str, float], list[float]] = defaultdict(list)
    diverged = []
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            rows, fields = list(reader), set(reader.fieldnames or ())
    except (UnicodeDecodeError, csv.Error) as error:
        raise UsageError(f"{path} is not a text CSV ({error}); is it a sweep's results.csv?") from None
    missing = {"activation", "beta", "ef"} - fields
    if missing:
        raise UsageError(f"{path} lacks the column(s) {', '.join(sorted(missing))}; "
                                    "is it a sweep's results.csv?")
    for line, row in enumerate(rows, start=2):
        if row["activation"] not in analytic.ACTIVATIONS:
            raise UsageError(f"{path}, line {line}: unknown activation {row['activation']!r}; the NTK "
                                        f"is known for {', '.join(analytic.ACTIVATIONS)}")
        try:
            key, ef = (row["activation"], parse_beta(row["beta"])), float(row["ef"])
        except (TypeError, ValueError) as error:
            raise UsageError(f"{path}, line {line}: {error}") from None
        if math.isfinite(ef):
            groups[key].append(ef)
        else:
            diverged.append(str(line))
    if diverged:
        print(f"note: left out {path}'s lines {', '.join(diverged)}: their EF is not finite (diverged models)",
              file=sys.stderr)
    if not groups:
        raise UsageError(f"{path} has no result rows with a finite EF")
    return dict(groups)


def kernel_decay(activation: str, beta: float) -> dict:
    """Mercer tail share (degrees ≥ TAIL_START, with multiplicities) and fitted decay of the analytic NTK on S²."""
    mu = spectrum.mercer_eigenvalues(
        lambda c: analytic.dot_product_ntk(c, depth=DEPTH, activation=activation, beta=beta), SPHERE_DIM, MAX_DEGREE, 800)
    multiplicity = spectrum.harmonic_multiplicity(SPHERE_DIM, np.arange(MAX_DEGREE + 1))
    fit = spectrum.fit_decay(mu)
    return {"tail_share": spectrum.tail_fraction(mu, multiplicity, start=TAIL_START),
            "geometric_rate": fit.rate, "polynomial_exponent": fit.exponent}


def spearman(x, y) -> dict:
    """Spearman ρ and its p-value, or nulls when fewer than three distinct points."""
    if len(x) < 3 or len(set(x)) < 2 or len(set(y)) < 2:
        return {"rho": None, "p_value": None, "n": len(x)}
    result = stats.spearmanr(x, y)
    return {"rho": float(result.statistic), "p_value": float(result.pvalue), "n": len(x)}


def compare(groups: dict[tuple[str, float], list[float]]) -> dict:
    """Rows (activation, β, EF mean/std/n, kernel decay) and rank correlations per activation and overall."""
    rows = []
    for (activation, beta), efs in sorted(groups.items()):
        rows.append({"activation": activation, "beta": "inf" if math.isinf(beta) else beta,
                     "ef_mean": float(np.mean(efs)), "ef_std": float(np.std(efs)), "n_seeds": len(efs),
                     **kernel_decay(activation, beta)})
    correlations = {}
    for name in sorted({r["activation"] for r in rows}) + ["all"]:
        chosen = [r for r in rows if name in ("all", r["activation"])]
        correlations[name] = spearman([r["tail_share"] for r in chosen], [r["ef_mean"] for r in chosen])
    return {"rows": rows, "spearman_tail_share_vs_ef": correlations,
            "kernel": {"sphere_dim": SPHERE_DIM, "depth": DEPTH, "max_degree": MAX_DEGREE, "tail_start": TAIL_START}}


def plot(report: dict, path: Path) -> None:
    """EF (mean ± std over seeds) against the kernel's tail share, one colour per activation, β annotated."""
    from specxai_jax import plots

    fig, ax = plots.figure(figsize=(7, 5))
    for activation in sorted({r["activation"] for r in report["rows"]}):
        rows = [r for r in report["rows"] if r["activation"] == activation]
        rho = report["spearman_tail_share_vs_ef"][activation]["rho"]
        label = activation + ("" if rho is None else f" (Spearman ρ = {rho:.2f})")
        ax.errorbar([r["tail_share"] for r in rows], [r["ef_mean"] for r in rows],
                    yerr=[r["ef_std"] for r in rows], fmt="o", capsize=3, label=label)
        span = (max(r["ef_mean"] for r in report["rows"]) - min(r["ef_mean"] for r in report["rows"])) or 1.0
        anchor: tuple[float, float] = (0.0, 0.0)
        level, previous = 0, None
        for r in sorted(rows, key=lambda r: r["tail_share"]):
            # neighbours closer than a factor 1.6 in tail share (β = 50, 100, ReLU): labels in a column below-right
            close = previous is not None and r["tail_share"] < 1.6 * previous
            anchor, level = (anchor, level + 1) if close else ((r["tail_share"], r["ef_mean"]), 0)
            previous = r["tail_share"]
            text = f"β={r['beta']:g}" if r["beta"] != "inf" else "ReLU"
            spot = (anchor[0] * 1.3, anchor[1] - span * (0.06 + 0.06 * level))
            ax.annotate(text, (r["tail_share"], r["ef_mean"]), xytext=spot, textcoords="data", fontsize=7,
                        va="center", arrowprops={"arrowstyle": "-", "lw": 0.4, "color": "0.6"})
    ax.set_xscale("log")
    ax.margins(x=0.12, y=0.12)
    ax.set(xlabel=f"NTK Mercer tail share (degrees ≥ {TAIL_START}, $S^{SPHERE_DIM - 1}$)",
           ylabel="Expected Frequency of VanillaGrad (mean ± std over seeds)",
           title="Kernel eigen-decay vs explanation complexity")
    ax.legend(fontsize=8)
    ax.grid(True, alpha=0.3)
    plots.save_with_vector(fig, path)
