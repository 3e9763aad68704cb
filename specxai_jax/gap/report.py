"""Checks and table.md of an explanation-gap run (:func:`specxai_jax.gap.run`): EF and ΔEF per method and
model as the paper's Tables 1, 2 and 4 lay them out, the computed checks of the paper's claims
(:class:`~specxai_jax.results.Check`: GradCAM's ΔEF is the largest; every post-hoc method lowers EF; ΔEF
ranks the direct gap G), and how ΔEF tracks G over σ.

Every function takes plain rows (dicts with the fields of gap.csv and gap_vs_sigma.csv).
"""

from __future__ import annotations

import math
from typing import Mapping, Sequence

import numpy as np

from specxai_jax import stats
from specxai_jax.results import Check, verdict

TRACKS_RHO = 0.9  # Spearman ρ(ΔEF, G) from which ΔEF is said to track (rank) G
REFERENCE = "vanilla_grad"  # the method every other one's EF change is measured from


def _models(rows: Sequence[Mapping]) -> list[str]:
    return list(dict.fromkeys(row["model"] for row in rows))


def _diverged(rows: Sequence[Mapping]) -> bool:
    return any(row.get("diverged") for row in rows)


def ordering_check(model: str, rows: Sequence[Mapping]) -> Check:
    """The tables' claim on one model's gap.csv rows: GradCAM has the largest ΔEF."""
    claim = f"{model}: GradCAM has the largest ΔEF"
    delta = {row["method"]: row["delta_ef"] for row in rows if not math.isnan(row["ef"])}
    if _diverged(rows) or "gradcam" not in delta:
        reason = "diverged (non-finite weights or maps)" if _diverged(rows) else "GradCAM not computed"
        return Check(claim, None, reason, inconclusive=reason)
    largest = max(delta, key=lambda method: delta[method])
    return Check(claim, largest == "gradcam", f"largest: {largest} ({delta[largest]:.4f}); "
                                             f"GradCAM {delta['gradcam']:.4f}")


def lowers_ef_check(model: str, rows: Sequence[Mapping]) -> Check:
    """Sec. 5's claim on one model's gap.csv rows, checked per method: every post-hoc method lowers EF
    (signed EF change < 0); the methods that do not are named."""
    claim = f"{model}: every post-hoc method lowers EF (EF − EF(VanillaGrad) < 0)"
    changes = {row["method"]: row["ef_change"] for row in rows
               if row["method"] != REFERENCE and not math.isnan(row["ef"])}
    if _diverged(rows) or not changes:
        reason = "diverged (non-finite weights or maps)" if _diverged(rows) else "no post-hoc method computed"
        return Check(claim, None, reason, inconclusive=reason)
    exceptions = {method: change for method, change in changes.items() if not change < 0}
    measured = f"{len(changes) - len(exceptions)} of {len(changes)} methods lower EF"
    if exceptions:
        measured += "; not lowered by " + ", ".join(f"{method} ({change:+.2e})" for method, change in exceptions.items())
    return Check(claim, not exceptions, measured)


def gap_rank_check(model: str, sweep: Sequence[Mapping]) -> Check:
    """Whether ΔEF ranks the direct gap G across methods: Spearman ρ(ΔEF, G) over one model's
    gap_vs_sigma.csv rows (SmoothGrad at every σ and IntGrad), at least TRACKS_RHO."""
    claim = f"{model}: ΔEF ranks the direct gap G across methods (Spearman ρ(ΔEF, G) ≥ {TRACKS_RHO})"
    points = [(row["delta_ef"], row["gap"]) for row in sweep]
    if _diverged(sweep) or len(points) < 3:
        reason = "diverged (non-finite weights or maps)" if _diverged(sweep) else f"{len(points)} points, need 3"
        return Check(claim, None, reason, inconclusive=reason)
    rho = stats.spearman(*zip(*points))
    if math.isnan(rho):
        return Check(claim, None, "ΔEF or G constant: no ρ", inconclusive="ΔEF or G constant")
    return Check(claim, bool(rho >= TRACKS_RHO), f"ρ = {rho:+.2f} over {len(points)} (method, σ) points")


def checks(rows: Sequence[Mapping], sweep: Sequence[Mapping]) -> list[Check]:
    """Every check of one run, per model: :func:`ordering_check`, :func:`lowers_ef_check`, :func:`gap_rank_check`."""
    out = []
    for model in _models(rows):
        mine = [row for row in rows if row["model"] == model]
        out += [ordering_check(model, mine), lowers_ef_check(model, mine),
                gap_rank_check(model, [row for row in sweep if row["model"] == model])]
    return out


def sigma_summary(sweep: Sequence[Mapping]) -> list[str]:
    """Per model: how ΔEF tracks G over the σ grid (Spearman ρ) and IntGrad's G."""
    lines = []
    for model in dict.fromkeys(row["model"] for row in sweep):
        smooth = [row for row in sweep if row["model"] == model and row["method"] == "smooth_grad"]
        ig = next(row for row in sweep if row["model"] == model and row["method"] == "integrated_gradients")
        if ig.get("diverged"):
            lines.append(f"- {model}: diverged, no G")
            continue
        pairs = ", ".join(f"σ={row['sigma']:g}: G={row['gap']:.3g}, ΔEF×10²={100 * row['delta_ef']:.2f}"
                          for row in smooth)
        rho = smooth[0]["spearman_delta_ef_vs_gap"]
        verdict = ("vs G: needs ≥ 3 σ" if np.isnan(rho) else
                   "tracks G" if rho >= TRACKS_RHO else "does NOT track G monotonically")
        lines.append(f"- {model}: ΔEF {verdict} (Spearman ρ over σ = {rho:+.2f}; {pairs}); "
                     f"IntGrad G={ig['gap']:.3g}, ΔEF×10²={100 * ig['delta_ef']:.2f}")
    return lines


def accuracy_line(accuracy: Mapping[str, float], num_classes: int) -> str:
    """Test accuracy per model, flagging models below twice chance (their maps explain little)."""
    chance = 1.0 / num_classes
    weak = [m for m, a in accuracy.items() if a < 2 * chance]
    line = "Test accuracy: " + ", ".join(f"{m} {a:.3f}" for m, a in accuracy.items()) + f" (chance {chance:.3f})."
    if weak:
        line += f" Near chance, so read their rows with care: {', '.join(weak)}."
    return line


def pretrained_notes(specs: Sequence) -> str:
    """Lines on pretrained checkpoints (:class:`specxai_jax.gap.PretrainedSpec`): where GradCAM looks and
    how a ViT's tokens become a map; empty without any."""
    if not specs:
        return ""
    lines = ["", "Pretrained checkpoints, explained as loaded (no training); accuracy on the explained images "
             "(nan: the dataset's classes are not the checkpoint's). GradCAM layers:"]
    for spec in specs:
        grid = spec.token_grid
        how = ("the last stage's feature map" if grid is None else
               "the last encoder layer's layernorm_before tokens, class token dropped, the patch tokens laid out "
               f"{grid}×{grid} (later patch tokens do not reach the class token, so their gradient is zero)")
        lines.append(f"- {spec.name}: `{spec.gradcam_layer}`, {how}.")
    return "\n".join(lines) + "\n"


def table_text(rows: Sequence[Mapping], accuracy: Mapping[str, float], sweep: Sequence[Mapping],
               num_classes: int, computed: Sequence[Check]) -> str:
    """table.md: EF and ΔEF (×10²) per method (rows) and model (columns), as the paper lays it out, the signed
    EF change, and the ``computed`` checks."""
    models = list(dict.fromkeys(row["model"] for row in rows))
    methods = list(dict.fromkeys(row["method"] for row in rows))
    cell = {(row["model"], row["method"]): row for row in rows}
    n_images = max(row["n_images"] for row in rows)
    lines = ["EF convention: unit frequency scale ω ∈ [0, 1] (the authors' code prints EF/K ×10⁴), shown ×10²; "
             f"ΔEF = |EF − EF(VanillaGrad)|; a method that raises EF is marked ↑ (the signed change is gap.csv's "
             f"`ef_change`). Explained: the predicted class's log-softmax (score log_prob). "
             f"Mean over {n_images} images (std per cell in gap.csv).", "",
             "| method | " + " | ".join(f"{m} EF | {m} ΔEF" for m in models) + " |",
             "|---|" + "---|---|" * len(models)]
    for method in methods:
        cells = []
        for model in models:
            row = cell.get((model, method))
            if row is not None and row.get("diverged"):
                cells += ["**diverged**", "–"]
            elif row is None or np.isnan(row["ef"]):
                cells += ["undefined", "–"]
            else:
                raised = " ↑" if method != REFERENCE and row["ef_change"] > 0 else ""
                cells += [f"{100 * row['ef']:.2f}", f"{100 * row['delta_ef']:.2f}{raised}"]
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    lines += ["", "The paper's claims, checked (checks.json):", "", "| check | holds | measured |", "|---|---|---|",
              *[f"| {c.claim} | {verdict(c)} | {c.measured} |" for c in computed],
              "", "Direct gap G = E‖∇f − ∇f̂‖² (SmoothGrad over σ; IntGrad) and how ΔEF tracks it:",
              *sigma_summary(sweep),
              "", accuracy_line(accuracy, num_classes)]
    return "\n".join(lines) + "\n"
