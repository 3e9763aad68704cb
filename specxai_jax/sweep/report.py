"""Outputs of a β-sweep: results.csv, history.csv (per epoch per model), spectra.csv, checks.json, config.json,
four figures and report.md.

Also the sweep's own checks of the paper's claims (:class:`~specxai_jax.results.Check` records, written to
checks.json and shown in report.md): EF rises with β among models that reached the
cap (Spearman ρ per seed), and ReLU's spectrum has the heaviest high-frequency tail; then the controls of
the first claim for training length (:mod:`specxai_jax.sweep.confound`: ρ with bootstrap intervals among
capped models, at matched epochs, and given epochs). EF is of rank-normalized maps everywhere but the
``ef_raw`` column and the report's "EF (raw)" column. Diverged models
(``diverged`` True, EF NaN) are listed in results.csv but left out of the spectra, checks and figures.
"""

from __future__ import annotations

import csv
import dataclasses
import math
import os
import platform
import shutil
import sys
import uuid
from importlib import metadata
from pathlib import Path
from typing import Callable, Sequence

import jax
import numpy as np

from specxai_jax import plots, results, stats
from specxai_jax.configs import SweepConfig
from specxai_jax.errors import DataError
from specxai_jax.results import Check, ModelResult, verdict
from specxai_jax.storage import atomic, provenance
from specxai_jax.sweep import confound

RESULT_COLUMNS = results.columns(ModelResult)
EF_LABEL = "EF of rank-normalized maps (unit scale)"
SCORE = "log_prob"       # what the sweep's VanillaGrad explains: the predicted class's log-softmax (not the logit)
HISTORY_COLUMNS = ["activation", "beta", "seed", "store_key", "epoch", "test_accuracy", "learning_rate", "seconds",
                   "train_loss"]
MAYBE_MISSING = ("test_accuracy", "train_loss")  # NaN where not measured, stored as null, or stored before it was kept
SPECTRUM_COLUMNS = ["activation", "beta", "k", "frequency", "power", "n_models"]
TAIL_FROM = 0.5          # "tail" of a normalized spectrum: its mass at ω ≥ TAIL_FROM
MIN_SPEARMAN = 0.9       # EF should rise with β: ρ(β, EF) at least this, per seed
PACKAGES = ("jax", "jaxlib", "flax", "optax", "numpy", "specxai-jax")
FIGURES = {"fig_ef_vs_beta.png": "EF vs β (Fig. 3)", "fig_spectra.png": "radial spectra (Fig. 2)",
           "fig_accuracy.png": "accuracy and epochs vs β (Fig. 5)", "fig_saliency.png": "saliency maps per β"}
VECTOR_FIGURES = tuple(str(Path(name).with_suffix(f".{plots.VECTOR_FORMAT}")) for name in FIGURES)
OUTPUTS = ("results.csv", "history.csv", "spectra.csv", *FIGURES, *VECTOR_FIGURES, results.CHECKS_FILE, "report.md",
           "config.json")  # config.json last: the set is done
MATCHED_FILE = "matched_results.csv"
"""results.csv of the matched-epoch models (``matched_epochs``), written only by a sweep that trains them."""


def converged(rows: Sequence[dict]) -> list[dict]:
    """The rows of models that did not diverge (finite weights and EF)."""
    return [r for r in rows if not r.get("diverged")]


def mean_spectra(rows: Sequence[dict]) -> dict[float, np.ndarray]:
    """β → mean normalized radial spectrum over that β's seeds that did not diverge, (K,)."""
    rows = converged(rows)
    return {beta: np.mean([r["spectrum"] for r in rows if r["beta"] == beta], axis=0)
            for beta in sorted({r["beta"] for r in rows})}


def tail_share(spectrum: np.ndarray) -> float:
    """Mass of a normalized radial spectrum (K,) at frequencies ω_k = k/(K−1) ≥ TAIL_FROM."""
    omega = np.arange(spectrum.size) / max(spectrum.size - 1, 1)
    return float(spectrum[omega >= TAIL_FROM].sum())


def spearman_per_seed(rows: Sequence[dict], capped_only: bool = True) -> dict[int, dict]:
    """Per seed, over models that reached the cap (all models if not ``capped_only``): Spearman ρ(β, EF)
    (β = inf ranks highest) and the count."""
    result = {}
    for seed in sorted({r["seed"] for r in rows}):
        capped = [r for r in converged(rows) if r["seed"] == seed and (r["reached_cap"] or not capped_only)]
        rho = None
        if len({r["beta"] for r in capped}) >= 3:
            rho = stats.spearman([r["beta"] for r in capped], [r["ef"] for r in capped])
        result[seed] = {"rho": rho, "n_capped": len(capped), "n_models": sum(r["seed"] == seed for r in rows)}
    return result


def confound_control(rows: Sequence[dict], config: SweepConfig,
                     matched_rows: Sequence[dict] | None = None) -> confound.ConfoundControl:
    """The main claim and its controls for training length (:mod:`specxai_jax.sweep.confound`)."""
    return confound.control(rows, matched_rows, capped_only=config.acc_cap is not None,
                            matched_epochs=config.matched_epochs)


def checks(rows: Sequence[dict], config: SweepConfig, matched_rows: Sequence[dict] | None = None) -> list[Check]:
    """The paper's claims on this sweep, each computed (holds None: too few models to decide), then the
    confound controls (ρ with bootstrap intervals; ``matched_rows``: the matched-epoch models, if trained)."""
    out = []
    capped_only = config.acc_cap is not None
    among = "capped models" if capped_only else "all models (no cap)"
    for seed, s in spearman_per_seed(rows, capped_only).items():
        claim = f"seed {seed}: EF rises with β among {among} (Spearman ρ ≥ {MIN_SPEARMAN})"
        if s["rho"] is None or math.isnan(s["rho"]):
            reason = f"{s['n_capped']} of {s['n_models']} models" + (" reached the cap" if capped_only else "") + \
                (": too few β to rank" if s["rho"] is None else ": EF or β constant, no ρ")
            out.append(Check(claim, None, reason, inconclusive=reason))
            continue
        out.append(Check(claim, bool(s["rho"] >= MIN_SPEARMAN),
                         f"ρ = {s['rho']:.3f} over {s['n_capped']} of {s['n_models']} models"))
    comparable = [r for r in converged(rows) if r["reached_cap"] or not capped_only]
    spectra = mean_spectra(comparable)
    if math.inf in spectra and len(spectra) > 1:
        tails = {beta: tail_share(p) for beta, p in spectra.items()}
        heaviest = max(tails, key=lambda beta: tails[beta])
        out.append(Check(f"ReLU has the heaviest spectral tail (mass at ω ≥ {TAIL_FROM}) among {among}",
                         math.isinf(heaviest), f"ReLU {tails[math.inf]:.5f}; heaviest: {plots.beta_label(heaviest)} "
                    f"{tails[heaviest]:.5f}; lightest: {plots.beta_label(min(tails, key=lambda beta: tails[beta]))} {min(tails.values()):.5f}"))
    return out + confound_control(rows, config, matched_rows).checks()


def summary_line(rows: Sequence[dict], config: SweepConfig) -> str:
    """One line: how many models reached the cap and the per-seed Spearman ρ."""
    capped = sum(bool(r["reached_cap"]) for r in rows)
    rhos = ", ".join(f"seed {seed}: " + ("n/a" if s["rho"] is None else f"{s['rho']:.3f}")
                     for seed, s in spearman_per_seed(rows, config.acc_cap is not None).items())
    return f"{capped} of {len(rows)} models reached the cap; Spearman ρ(β, EF) among them: {rhos}"


def environment() -> dict:
    """Package versions and the devices the sweep ran on."""
    versions: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    devices = jax.devices()
    return {"python": platform.python_version(), "versions": versions, "platform": devices[0].platform,
            "device_kind": devices[0].device_kind, "device_count": len(devices), "argv": sys.argv,
            "git_commit": provenance.git_commit()}


def result_rows(rows: Sequence[dict]) -> list[dict]:
    """results.csv rows (the :class:`~specxai_jax.results.ModelResult` fields; β as a number, 'inf' for ReLU)."""
    return [{name: row[name] for name in RESULT_COLUMNS} for row in rows]


def read_matched_rows(out: Path) -> list[dict]:
    """The matched-epoch models a sweep wrote to ``out/MATCHED_FILE``: :class:`~specxai_jax.results.ModelResult`
    fields, typed as written; DataError where the file is missing or not such a table."""
    parse: dict[str, Callable[[str], object]] = {"float": float, "int": int, "str": str,
                                                 "bool": lambda text: {"True": True, "False": False}[text]}
    kinds = {field.name: parse[str(field.type)] for field in dataclasses.fields(ModelResult)}
    path = Path(out) / MATCHED_FILE
    try:
        with path.open(newline="", encoding="utf-8") as stream:
            return [{name: kinds[name](row[name]) for name in RESULT_COLUMNS} for row in csv.DictReader(stream)]
    except (OSError, KeyError, ValueError, TypeError) as error:
        raise DataError(f"cannot read the matched-epoch models from {path}: {error!r}") from None


def history_rows(rows: Sequence[dict]) -> list[dict]:
    """history.csv rows: one per epoch per model (test accuracy NaN where it was not measured, training
    loss NaN in a model trained before it was recorded)."""
    return [{**{name: row[name] for name in ("activation", "beta", "seed", "store_key")}, **epoch,
             **{name: math.nan if epoch.get(name) is None else epoch[name] for name in MAYBE_MISSING}}
            for row in rows for epoch in row.get("history", [])]


def spectrum_rows(rows: Sequence[dict], activation: str) -> list[dict]:
    """spectra.csv rows: the mean normalized radial spectrum per β, one row per frequency bin."""
    out = []
    for beta, spectrum in mean_spectra(rows).items():
        count = sum(r["beta"] == beta for r in converged(rows))
        for k, power in enumerate(spectrum):
            out.append({"activation": activation, "beta": beta, "k": k, "frequency": k / max(spectrum.size - 1, 1),
                        "power": float(power), "n_models": count})
    return out


def write_outputs(out: Path, rows: Sequence[dict], config: SweepConfig, images: np.ndarray,
                  labels: Sequence[str] | None = None, matched_rows: Sequence[dict] | None = None) -> None:
    """Every file of a sweep into ``out``; ``images`` (E, H, W, C) are the inputs of the example maps, ``labels``
    their E class names (titles of the saliency figure's columns). config.json holds every field of ``config``
    and the :func:`environment`. ``matched_rows``: the matched-epoch models (MATCHED_FILE), if trained."""
    out = Path(out)
    for stale in out.glob(f".*{atomic.TEMP_MARKER}*"):  # left by a killed run (the caller holds the store lock)
        if any(stale.name.startswith(f".{name}") for name in (*OUTPUTS, "outputs")):
            shutil.rmtree(stale) if stale.is_dir() and not stale.is_symlink() else stale.unlink()
    staging = out / f".outputs{atomic.TEMP_MARKER}{uuid.uuid4().hex}"
    staging.mkdir()
    try:
        _write_all(staging, rows, config, images, labels, matched_rows)
        for name in (*OUTPUTS, MATCHED_FILE):  # the old set goes first, so a kill leaves part of the new set, never a mix
            (out / name).unlink(missing_ok=True)
        for name in (*OUTPUTS[:-1], *([MATCHED_FILE] if matched_rows is not None else []), OUTPUTS[-1]):
            os.replace(staging / name, out / name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _display_images(images: np.ndarray) -> np.ndarray:
    """Images as matplotlib can show them: 1, 3 or 4 channels kept, any other count averaged to gray."""
    return images if images.shape[-1] in (1, 3, 4) else images.mean(axis=-1, keepdims=True)


def _write_all(out: Path, rows: Sequence[dict], config: SweepConfig, images: np.ndarray,
               labels: Sequence[str] | None = None, matched_rows: Sequence[dict] | None = None) -> None:
    """Every output file into the directory ``out``."""
    atomic.write_csv(out / "results.csv", result_rows(rows), RESULT_COLUMNS)
    if matched_rows is not None:
        atomic.write_csv(out / MATCHED_FILE, result_rows(matched_rows), RESULT_COLUMNS)
    atomic.write_csv(out / "history.csv", history_rows(rows), HISTORY_COLUMNS)
    atomic.write_csv(out / "spectra.csv", spectrum_rows(rows, config.activation), SPECTRUM_COLUMNS)
    plots.ef_vs_beta(out / "fig_ef_vs_beta.png", converged(rows), ylabel=EF_LABEL)
    below_cap = {r["beta"] for r in rows if not r["reached_cap"]} if config.acc_cap is not None else set()
    plots.radial_spectra(out / "fig_spectra.png", mean_spectra(rows), below_cap=below_cap)
    plots.accuracy_vs_beta(out / "fig_accuracy.png", rows, config.acc_cap)
    first_seed = min(r["seed"] for r in rows)
    plots.saliency_grid(out / "fig_saliency.png",
                        {r["beta"]: r["examples"] for r in converged(rows) if r["seed"] == first_seed},
                        _display_images(images), labels)
    computed = checks(rows, config, matched_rows)
    results.write_checks(out, computed)
    atomic.write_text(out / "report.md", report_markdown(rows, config, computed, matched_rows))
    atomic.write_json(out / "config.json", {**dataclasses.asdict(config), "score": SCORE,
                                             "environment": environment()})


def _model_table(rows: Sequence[dict]) -> list[str]:
    """Markdown table of models: accuracy, epochs, cap, rank EF (the paper's) and raw EF."""
    lines = ["| β | seed | test acc. | epochs | reached cap | EF (rank) | EF (rank) std | EF (rank)/K ×10⁴ | EF (raw) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {plots.beta_label(r['beta'])} | {r['seed']} | {r['test_accuracy']:.3f} | {r['epochs']} | "
                     f"{'yes' if r['reached_cap'] else 'no'} | " + ("**diverged** | – | – | – |" if r["diverged"] else
                     f"{r['ef']:.4f} | {r['ef_std']:.4f} | {1e4 * r['ef_ref']:.2f} | {r['ef_raw']:.4f} |"))
    return lines


def report_markdown(rows: Sequence[dict], config: SweepConfig, computed: Sequence[Check],
                    matched_rows: Sequence[dict] | None = None) -> str:
    """report.md: settings, the ``computed`` checks of the paper's claims, the training-length controls, the
    results tables (``matched_rows``: the matched-epoch models, if trained) and the figures."""
    cap = "none" if config.acc_cap is None else f"{config.acc_cap:g}"
    lines = [f"# β-sweep: {config.activation} on {config.dataset}", "",
             f"Conv net `{config.model}`, depth {config.depth}, width {config.width}, {config.img_size} px; "
             f"Adam lr {config.lr:g} (×{config.lr_decay:g} per epoch), batch {config.batch_size}, "
             f"accuracy cap {cap}, at most {config.max_epochs} epochs. VanillaGrad of the predicted class's "
             f"log-softmax, channel-summed. EF (rank): of the rank-normalized maps (the paper's protocol, used by "
             f"every check and figure); EF (raw): of the same maps without rank normalization. Both on the unit "
             f"frequency scale [0, 1] (`ef_ref` = EF/K, the authors' convention; their tables print it ×10⁴), "
             f"mean (± std) over {rows[0]['n_images']} test images.", "", "## The paper's claims on this run", "",
             "| claim | holds | measured |", "|---|---|---|"]
    lines += [f"| {c.claim} | {verdict(c)} | {c.measured} |" for c in computed]
    control = confound_control(rows, config, matched_rows)
    lines += ["", "## Training length", "",
              "With an accuracy cap, each model stops at its own epoch, so β and training length vary together. "
              "Controls: ρ(β, EF) of the same β grid trained a fixed number of epochs without the cap, and the "
              "Spearman partial correlation of EF and β given epochs among the capped models. Intervals: "
              f"{confound.LEVEL:.0%} percentile bootstrap over models ({confound.N_BOOT} draws, seeds pooled); a "
              "claim holds only where its interval lies above 0.", ""]
    if config.acc_cap is not None and matched_rows is None:
        lines += ["No matched-epoch models were trained (`--matched-epochs N` trains them).", ""]
    disagreement = control.disagreement()
    lines += [disagreement if disagreement is not None else
              "The controls agree with the capped ρ (same verdict).", ""]
    lines += ["## Models", "", *_model_table(rows)]
    if matched_rows is not None:
        lines += ["", f"## Models at matched training length ({config.matched_epochs} epochs, no cap)", "",
                  *_model_table(matched_rows)]
    lines += ["", "## Figures", ""]
    lines += [f"![{title}]({name})\n" for name, title in FIGURES.items()]
    return "\n".join(lines) + "\n"
