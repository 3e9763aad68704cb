"""table.md of an explanation-gap run (:func:`specxai_jax.gap.run`): EF and ΔEF per method and model as
the paper's Tables 1, 2 and 4 lay them out, whether the paper's ordering holds, and how ΔEF tracks G.

Every function takes plain rows (dicts as written to gap.csv and gap_vs_sigma.csv).
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

TRACKS_RHO = 0.9  # Spearman ρ(ΔEF, G) over σ from which the table says ΔEF tracks G


def ordering_verdicts(rows: Sequence[Mapping]) -> list[str]:
    """Per model, whether the paper's ordering holds: VanillaGrad's ΔEF is 0 and GradCAM's the largest."""
    verdicts = []
    for model in dict.fromkeys(row["model"] for row in rows):
        if any(row.get("diverged") for row in rows if row["model"] == model):
            verdicts.append(f"- {model}: diverged (non-finite weights or maps), no numbers")
            continue
        defined = {row["method"]: row["delta_ef"] for row in rows if row["model"] == model and not np.isnan(row["ef"])}
        largest = max(defined, key=defined.get)
        holds = defined["vanilla_grad"] == 0.0 and largest == "gradcam"
        detail = ("" if holds else f" — the largest ΔEF is {largest}'s ({100 * defined[largest]:.2f}), "
                  f"GradCAM's is {100 * defined['gradcam']:.2f}")
        verdicts.append(f"- {model}: {'holds' if holds else 'does NOT hold'}{detail}")
    return verdicts


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
               num_classes: int) -> str:
    """table.md: EF and ΔEF (×10²) per method (rows) and model (columns), as the paper lays it out."""
    models = list(dict.fromkeys(row["model"] for row in rows))
    methods = list(dict.fromkeys(row["method"] for row in rows))
    cell = {(row["model"], row["method"]): row for row in rows}
    n_images = max(row["n_images"] for row in rows)
    lines = ["EF convention: unit frequency scale ω ∈ [0, 1] (the authors' code prints EF/K ×10⁴), shown ×10²; "
             f"ΔEF = |EF − EF(VanillaGrad)|. Explained: the predicted class's log-softmax (score log_prob). Mean over {n_images} images (std per cell in gap.csv).", "",
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
                cells += [f"{100 * row['ef']:.2f}", f"{100 * row['delta_ef']:.2f}"]
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    lines += ["", "Paper's ordering (VanillaGrad's ΔEF is 0, GradCAM's the largest):", *ordering_verdicts(rows),
              "", "Direct gap G = E‖∇f − ∇f̂‖² (SmoothGrad over σ; IntGrad) and how ΔEF tracks it:",
              *sigma_summary(sweep),
              "", accuracy_line(accuracy, num_classes)]
    return "\n".join(lines) + "\n"
