"""Reproduce one figure or table of the paper: each target composes the configs of the library's runs.

Targets (see TARGETS): fig2, fig3, fig5, fig6, fig7, fig8, fig9, fig11, tab1, tab2, tab4, and beyond the paper
theorem1 (Theorem 1 and App. G checked numerically) and plane (Sec. 6's complexity–faithfulness plane). A target
builds a :class:`~specxai_jax.configs.SweepConfig` per β-sweep (a preset or the default, with
``dataclasses.replace``) and a :class:`~specxai_jax.configs.GapConfig` per explanation-gap run, runs them with
:func:`specxai_jax.sweep.run` and :func:`specxai_jax.gap.run` (or the Lemma 1 check), and draws one combined
figure. Multi-setting targets run one sweep per setting into ``out/<setting>/`` (each resumes by itself). Every
target writes its figure(s), the CSV behind them, ``checks.json`` (its computed checks, typed) and ``target.json``:
each run's settings and the equivalent command line, the paper's claim and our checks of it. ``quick``: a reduced version on synthetic data in minutes
on a CPU; otherwise the paper's settings.
"""

from __future__ import annotations

import dataclasses
import math
import shlex
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from specxai_jax import results, spectral, stats
from specxai_jax.configs import PRESETS, GapConfig, SweepConfig
from specxai_jax.errors import UsageError
from specxai_jax.plots import reproduction as repro_plots
from specxai_jax.reproduction import faithfulness, paper_values, plane, regularized
from specxai_jax.reproduction import theorem1 as theorem1_target
from specxai_jax.reproduction.runs import (
    Context,
    Setting,
    Target,
    gap_config,
    gap_run,
    refuse_sweep_options,
    sweeps,
)
from specxai_jax.storage import atomic
from specxai_jax.sweep import report as sweep_report

FULL_GAP = {
    "tab1": GapConfig(dataset="tfds:imagenette/320px-v2", img_size=224, depth=5, lr=1e-4, acc_cap=0.6,
                      max_epochs=200, n_explain=1000),
    "tab2": GapConfig(dataset="tfds:imagenette/160px-v2", img_size=64, lr=1e-4, acc_cap=0.6, max_epochs=200,
                      n_explain=1000),
}
FULL_GAP["tab4"] = FULL_GAP["tab2"]
"""The paper's settings of each table's explanation-gap run (models come from GAP_MODELS)."""
GAP_MODELS = {"tab1": ("cnn-relu", "cnn-softplus:1"), "tab2": ("resnet-relu", "vit-gelu"),
              "tab4": ("vit-relu", "vit-gelu")}
PRETRAINED_GAP: dict[str, Any] = dict(dataset="tfds:imagenet2012", n_explain=1000)
"""Full Tab. 2 on pretrained checkpoints: the paper's ImageNet validation images (TFDS manual download)."""
FULL_MATCHED_EPOCHS = 50
"""Fig. 3 in full mode also trains its β grid this many epochs without the cap (a quarter of the presets'
200-epoch budget), so its report gives ρ(β, EF) at matched training length."""
PAPER_DATASETS = ("fashion_mnist", "cifar10", "imagenette-224")
"""Presets of the paper's Fig. 2 / Fig. 3 panels."""
TAB2_NOTE = ("The paper's Tab. 2 uses ResNet50 and ViT-B16 pretrained on ImageNet; no checkpoints were given "
             "(--pretrained), so this table is computed on our ResNet and ViT trained from scratch on {dataset} "
             "instead. "
             "For Tab. 2 as the paper ran it: --pretrained microsoft/resnet-50,google/vit-base-patch16-224 "
             "(hub names or save_pretrained directories).")
TAB2_PRETRAINED_NOTE = ("Tab. 2 on the pretrained checkpoints {models}, explained as loaded (no training) on {dataset} "
                        "at {size} px. GradCAM layers: {layers}.")


def dataset_settings(ctx: Context) -> list[Setting]:
    """Fig. 2/3 panels: the paper's datasets (one synthetic sweep when quick or given a dataset)."""
    if ctx.quick or ctx.dataset:
        return [Setting(ctx.dataset or "synthetic (quick)", "sweep")]
    return [Setting(preset, preset, PRESETS[preset]) for preset in PAPER_DATASETS]


def base_224(ctx: Context) -> SweepConfig:
    """The Imagenette 224 preset of the appendix ablations (the default config when quick)."""
    return SweepConfig() if ctx.quick else PRESETS["imagenette-224"]


def fig2(ctx: Context) -> dict:
    series = sweeps(ctx, dataset_settings(ctx))
    panels = {label: sweep_report.mean_spectra(rows) for label, rows in series.items()}
    repro_plots.spectra_grid(ctx.out / "fig2_spectra.png", panels,
                             suptitle="Fig. 2: radial power spectra of VanillaGrad maps per β")
    return {"figures": ["fig2_spectra.png"], "tables": ["spectra.csv", "results.csv", "summary.csv"]}


def fig3(ctx: Context) -> dict:
    settings = dataset_settings(ctx)
    if not (ctx.quick or ctx.no_cap):  # the training-length control of the main claim (sweep report)
        settings = [dataclasses.replace(s, overrides={**s.overrides, "matched_epochs": FULL_MATCHED_EPOCHS})
                    for s in settings]
    series = sweeps(ctx, settings)
    repro_plots.ef_lines(ctx.out / "fig3_ef_vs_beta.png", series,
                         title="Fig. 3: Expected Frequency vs β (bars: std over images)")
    return {"figures": ["fig3_ef_vs_beta.png"], "tables": ["results.csv", "summary.csv"]}


def accuracy_check(ctx: Context, label: str, rows: Sequence[dict]) -> None:
    """Fig. 5's claim: accuracy rises with β (Spearman ρ(β, accuracy) > 0)."""
    if len({r["beta"] for r in rows}) < 3:
        ctx.check(f"{label}: accuracy rises with β", None, "fewer than 3 β")
        return
    rho = stats.spearman([r["beta"] for r in rows], [r["test_accuracy"] for r in rows])
    ctx.check(f"{label}: without the cap, accuracy rises with β (Spearman ρ > 0)", bool(rho > 0), f"ρ = {rho:.3f}")


def fig5(ctx: Context) -> dict:
    series = sweeps(ctx, [Setting("no cap", "no_cap", base_224(ctx), {"acc_cap": None})])
    for label, rows in series.items():
        accuracy_check(ctx, label, rows)
    repro_plots.accuracy_and_epochs(ctx.out / "fig5_accuracy.png", series,
                                    title="Fig. 5: test accuracy vs β without the accuracy cap")
    return {"figures": ["fig5_accuracy.png"], "tables": ["results.csv", "summary.csv"]}


def learning_rates(ctx: Context) -> tuple[float, ...]:
    return (1e-3, 3e-3, 1e-2) if ctx.quick else (1e-4, 3e-4, 1e-3)


def fig6(ctx: Context) -> dict:
    settings = [Setting(f"lr {lr:g}, no cap", f"lr{lr:g}", base_224(ctx), {"acc_cap": None, "lr": lr})
                for lr in learning_rates(ctx)]
    series = sweeps(ctx, settings)
    panels = {label: sweep_report.mean_spectra(rows) for label, rows in series.items()}
    repro_plots.spectra_grid(ctx.out / "fig6_spectra.png", panels,
                             suptitle="Fig. 6: spectra without the accuracy cap, per learning rate")
    return {"figures": ["fig6_spectra.png"], "tables": ["spectra.csv", "results.csv", "summary.csv"]}


def fig7(ctx: Context) -> dict:
    depths = (1, 2) if ctx.quick else (3, 4, 5)
    lrs = learning_rates(ctx)[:2]
    settings = [Setting(f"depth {d}, lr {lr:g}", f"depth{d}_lr{lr:g}", base_224(ctx), {"depth": d, "lr": lr})
                for d in depths for lr in lrs]
    series = sweeps(ctx, settings)
    panels = {label: sweep_report.mean_spectra(rows) for label, rows in series.items()}
    repro_plots.spectra_grid(ctx.out / "fig7_spectra.png", panels, ncols=len(lrs),
                             suptitle="Fig. 7: spectra per depth (rows) and learning rate (columns)")
    return {"figures": ["fig7_spectra.png"], "tables": ["spectra.csv", "results.csv", "summary.csv"]}


def fig8(ctx: Context) -> dict:
    if ctx.quick:
        settings = [Setting(f"{s} px", f"size{s}", overrides={"img_size": s}) for s in (16, 24, 32)]
    else:
        settings = [Setting(f"{s} px", f"size{s}", PRESETS[f"imagenette-{s}"]) for s in (46, 64, 112, 224)]
    series = sweeps(ctx, settings)
    panels = {label: sweep_report.mean_spectra(rows) for label, rows in series.items()}
    repro_plots.spectra_grid(ctx.out / "fig8_spectra.png", panels, suptitle="Fig. 8: spectra per input size")
    repro_plots.ef_lines(ctx.out / "fig8_ef_vs_beta.png", series, title="Fig. 8: EF vs β per input size")
    return {"figures": ["fig8_spectra.png", "fig8_ef_vs_beta.png"], "tables": ["spectra.csv", "results.csv", "summary.csv"]}


def fig9(ctx: Context) -> dict:
    variants = ("cnn", "cnn-skip", "cnn-bn", "cnn-skip-bn")
    settings = [Setting(variant, variant, base_224(ctx), {"model": variant, "betas": (1.0, math.inf)})
                for variant in variants]
    series = sweeps(ctx, settings)
    ef = {label: {beta: float(np.mean([r["ef"] for r in rows if r["beta"] == beta]))
                  for beta in sorted({r["beta"] for r in rows})} for label, rows in series.items()}
    for label, values in ef.items():
        ctx.check(f"{label}: ReLU has a higher EF than SoftPlus β=1", bool(values[math.inf] > values[1.0]),
                  f"ReLU {values[math.inf]:.4f}, β=1 {values[1.0]:.4f}")
    panels = {label: sweep_report.mean_spectra(rows) for label, rows in series.items()}
    repro_plots.spectra_grid(ctx.out / "fig9_spectra.png", panels,
                             suptitle="Fig. 9a: spectra with skip connections and batch norm (β=1 vs ReLU)")
    repro_plots.ef_bars(ctx.out / "fig9_ef.png", ef, title="Fig. 9b: Expected Frequency per variant")
    return {"figures": ["fig9_spectra.png", "fig9_ef.png"], "tables": ["spectra.csv", "results.csv", "summary.csv"]}


# ---------------------------------------------------------------- NTK and tables


def fig11(ctx: Context) -> dict:
    from specxai_jax.ntk import verify_lemma1  # neural-tangents is only needed here

    if ctx.dataset or ctx.sweep_options:
        raise UsageError("fig11 is an NTK computation and takes no `dataset`, `input_noise` or `no_cap`")
    settings = verify_lemma1.Settings.quick() if ctx.quick else verify_lemma1.Settings()
    report = verify_lemma1.verify(settings, ctx.out)
    ctx.runs.append({"label": "Lemma 1", "dir": ".", "settings": dataclasses.asdict(settings),
                     "command": "python -m ntk.verify_lemma1 " + shlex.join(["--out", str(ctx.out),
                                                                            *(["--quick"] if ctx.quick else [])])})
    rows = []
    for family, entries in report["families"].items():
        for entry in entries:
            for kind in ("mercer_eigenvalues", "sphere_gram_eigenvalues", "empirical_gram_eigenvalues"):
                rows += [{"family": family, "beta": entry["beta"], "kind": kind.removesuffix("_eigenvalues"),
                          "index": i, "eigenvalue": value} for i, value in enumerate(entry[kind])]
    atomic.write_csv(ctx.out / "eigenvalues.csv", rows, ["family", "beta", "kind", "index", "eigenvalue"])
    for name, record in report["checks"].items():
        ctx.check(name, bool(record["passed"]), f"error {record['error']:.3g} (tolerance {record['tolerance']:.3g})"
                  if "error" in record else "")
    if verify_lemma1.failures(report):
        ctx.notes.append("verify_lemma1 reported failed checks (see lemma1.json)")
    return {"figures": ["fig_ntk_eigendecay.png"], "tables": ["eigenvalues.csv"]}


def plane_target(ctx: Context) -> dict:
    """Sec. 6's plane: the explanation-gap run per seed on β-models (specxai_jax.reproduction.plane)."""
    refuse_sweep_options(ctx, "plane", "runs the explanation-gap experiment")
    return plane.run(ctx)


def ef_per_k(ef: float, img_size: int) -> float:
    """Our unit-scale EF in the paper's printed convention, EF/K ×10⁴ (K radial bins of the image)."""
    bins = int(spectral.radius_bins(img_size, img_size).max()) + 1
    return 1e4 * ef / bins


def table_config(ctx: Context, target: str) -> GapConfig:
    """The explanation-gap config of Tab. 1, 2 or 4: the table's models (trained, checkpointed under
    ``out/models``) or tab2's pretrained checkpoints (explained as loaded, at their own size)."""
    if ctx.pretrained:
        return gap_config(ctx, dataclasses.replace(GapConfig(), **PRETRAINED_GAP),
                          pretrained=tuple(ctx.pretrained), img_size=None)
    return gap_config(ctx, FULL_GAP[target], models=GAP_MODELS[target], checkpoint_dir=str(ctx.out / "models"))


def gap_table(ctx: Context, target: str) -> dict:
    """Tabs. 1, 2, 4: the explanation-gap run on the target's models; ours beside the paper's."""
    refuse_sweep_options(ctx, target, "runs the explanation-gap experiment")
    if ctx.pretrained and target != "tab2":
        raise UsageError(f"`pretrained` applies to tab2 only, not {target}")
    config = table_config(ctx, target)
    result = gap_run(ctx, target, ".", config)
    rows = result.rows
    if target == "tab2" and ctx.pretrained:
        layers = "; ".join(f"{name}: `{layer}`" for name, layer in result.gradcam_layers.items())
        ctx.notes.append(TAB2_PRETRAINED_NOTE.format(models=", ".join(ctx.pretrained), dataset=config.dataset,
                                                     size=result.img_size, layers=layers + " (ViT tokens: class "
                                                     "token dropped, patch tokens laid out on their grid)"))
    elif target == "tab2":
        ctx.notes.append(TAB2_NOTE.format(dataset=config.dataset))
    paper = paper_values.paper_table(target) or {}
    comparison = []
    for row in rows:
        published = paper.get(row["model"], {}).get(row["method"]) if paper else None
        defined = not math.isnan(row["ef"])
        comparison.append({"model": row["model"], "method": row["method"],
                           "ef": row["ef"], "delta_ef": row["delta_ef"],
                           "ef_per_k_1e4": ef_per_k(row["ef"], result.img_size) if defined else math.nan,
                           "delta_ef_per_k_1e4": ef_per_k(row["delta_ef"], result.img_size) if defined else math.nan,
                           "paper_ef": published[0] if published else math.nan,
                           "paper_delta_ef": published[1] if published else math.nan})
    atomic.write_csv(ctx.out / "comparison.csv", comparison, list(comparison[0]))
    atomic.write_text(ctx.out / "comparison.md", comparison_markdown(target, comparison, bool(paper), ctx.notes))
    ctx.checks += result.checks
    if target == "tab4":
        vit_check(ctx, rows)
    return {"figures": ["fig_maps.png", "fig_gap_vs_sigma.png"],
            "tables": ["comparison.csv", "gap.csv", "gap_vs_sigma.csv"], "markdown": ["comparison.md", "table.md"]}


def vit_check(ctx: Context, rows: Sequence[dict]) -> None:
    """Tab. 4's own claim (beside the gap run's checks): GELU-ViT's VanillaGrad EF exceeds ReLU-ViT's."""
    ef = {r["model"]: r["ef"] for r in rows if r["method"] == "vanilla_grad"}
    decided = not (math.isnan(ef["vit-gelu"]) or math.isnan(ef["vit-relu"]))
    ctx.check("GELU-ViT's VanillaGrad EF exceeds ReLU-ViT's (the paper's observation)",
              bool(ef["vit-gelu"] > ef["vit-relu"]) if decided else None,
              f"GELU {ef['vit-gelu']:.4f}, ReLU {ef['vit-relu']:.4f}",
              inconclusive=None if decided else "a ViT diverged")


def comparison_markdown(target: str, rows: Sequence[dict], has_paper: bool, notes: Sequence[str]) -> str:
    """Ours (unit EF ×10², and EF/K ×10⁴ as the paper prints) beside the paper's published values."""
    lines = [f"# {TARGETS[target].title}: ours beside the paper", "", *[f"> {note}\n" for note in notes],
             "EF on the unit frequency scale (ω ∈ [0, 1]) ×10²; `EF/K ×10⁴` is the same number in the convention "
             f"the paper prints ({paper_values.EF_CONVENTION}). Absolute values depend on image size, data and "
             "model; compare orderings.", ""]
    if not has_paper:
        lines += ["The paper's numbers for this table are not available (lost from the text we have).", ""]
    head = "| model | method | EF ×10² | ΔEF ×10² | EF/K ×10⁴ | ΔEF/K ×10⁴ |"
    head += " paper EF | paper ΔEF |" if has_paper else ""
    lines += [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        name = paper_values.METHOD_NAMES.get(r["method"], r["method"])
        if math.isnan(r["ef"]):
            cells = ["undefined", "–", "undefined", "–"]
        else:
            cells = [f"{100 * r['ef']:.2f}", f"{100 * r['delta_ef']:.2f}", f"{r['ef_per_k_1e4']:.3f}",
                     f"{r['delta_ef_per_k_1e4']:.3f}"]
        if has_paper:
            cells += ["–", "–"] if math.isnan(r["paper_ef"]) else [f"{r['paper_ef']:.3f}", f"{r['paper_delta_ef']:.3f}"]
        lines.append(f"| {r['model']} | {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


TARGETS: dict[str, Target] = {
    "fig2": Target("Fig. 2: radial power spectra per β", fig2),
    "fig3": Target("Fig. 3: Expected Frequency vs β", fig3),
    "fig5": Target("Fig. 5: accuracy vs β without the accuracy cap", fig5),
    "fig6": Target("Fig. 6: spectra without the cap, per learning rate", fig6),
    "fig7": Target("Fig. 7: spectra per depth and learning rate", fig7),
    "fig8": Target("Fig. 8: spectra per input size", fig8),
    "fig9": Target("Fig. 9: skip connections and batch norm", fig9),
    "fig11": Target("Fig. 11: NTK eigen-decay per β (Lemma 1)", fig11),
    "tab1": Target("Tab. 1: EF and ΔEF per method, CNN", lambda ctx: gap_table(ctx, "tab1")),
    "tab2": Target("Tab. 2: EF and ΔEF per method, ResNet and ViT", lambda ctx: gap_table(ctx, "tab2")),
    "tab4": Target("Tab. 4: EF and ΔEF per method, ViT with ReLU vs GELU", lambda ctx: gap_table(ctx, "tab4")),
    "theorem1": Target("Theorem 1 and App. G: kernel sharpness and the spectral tail of gradients", theorem1_target.run),
    "plane": Target("Sec. 6: the complexity–faithfulness plane", plane_target),
    "faithfulness": Target("Beyond the paper: complexity against the field's faithfulness metrics", faithfulness.run),
    "regularized": Target("Beyond the paper: EF-penalized training against SoftPlus β", regularized.run),
}
EXTRA_CLAIMS = {
    "theorem1": "The tail of the spatial spectrum of ∇f follows ω²|k̂(ω)|² when the inputs are spatially "
                "autocorrelated (Theorem 1, Lemmas 2–3, Eqs. 27–29); without autocorrelation the link between "
                "kernel sharpness and explanation complexity weakens (App. G).",
    "plane": "Ante-hoc (β) and post-hoc (the explanation method) act as two orthogonal axes: β sets complexity "
             "(EF), the method trades complexity for faithfulness (ΔEF, G) (Sec. 6).",
    "faithfulness": faithfulness.CLAIM,
    "regularized": regularized.CLAIM,
}
"""Claims of targets beyond the paper's figures and tables (paper_values.CLAIMS holds the figures' claims)."""


def reproduce(name: str, out: Path, *, quick: bool = False, dataset: str | None = None, progress: bool = True,
              fresh: bool = False, data_dir: str | None = None, split: str | None = None,
              pretrained: Sequence[str] = (), input_noise: float | None = None, no_cap: bool = False,
              seeds: Sequence[int] = ()) -> dict:
    """Run target ``name`` into ``out``; returns (and writes as target.json) its record.

    ``dataset``, ``data_dir``, ``split``: replace every run's data settings; ``input_noise`` and ``no_cap``
    (train for max_epochs): every β-sweep's. ``pretrained``: tab2's Hugging Face checkpoints (directories or
    hub names). ``seeds``: every run's seeds (empty: the mode's REPRODUCE_SEEDS).
    """
    if name not in TARGETS:
        raise UsageError(f"unknown target {name!r}; choose one of {', '.join(TARGETS)}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    ctx = Context(out=out, quick=quick, dataset=dataset, progress=progress, fresh=fresh, data_dir=data_dir,
                  split=split, input_noise=input_noise, no_cap=no_cap, pretrained=tuple(pretrained),
                  seeds=tuple(seeds))
    start = time.perf_counter()
    outputs = TARGETS[name].run(ctx)
    claim = EXTRA_CLAIMS[name] if name in EXTRA_CLAIMS else paper_values.CLAIMS[name]
    record = {"target": name, "title": TARGETS[name].title, "claim": claim, "quick": quick,
              "dataset": dataset, "data_dir": data_dir, "split": split, "input_noise": input_noise,
              "no_cap": no_cap, "pretrained": list(pretrained), "seeds": list(ctx.run_seeds()),
              "seconds": time.perf_counter() - start,
              "runs": ctx.runs, "checks": [check.to_json() for check in ctx.checks],
              "notes": ctx.notes, "figures": outputs["figures"], "tables": outputs["tables"],
              "markdown": outputs.get("markdown", []), "environment": sweep_report.environment()}
    results.write_checks(out, ctx.checks)
    atomic.write_json(out / "target.json", record)
    return record
