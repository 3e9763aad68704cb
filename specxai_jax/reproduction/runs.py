"""What every reproduction target shares: its :class:`Context`, the runs it makes (β-sweeps and
explanation-gap runs, each recorded with its equivalent command line) and their summaries."""

from __future__ import annotations

import dataclasses
import shlex
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from specxai_jax import configs, gap, stats
from specxai_jax import sweep as beta_sweep
from specxai_jax.configs import GAP_QUICK, PRESETS, QUICK_GAP, QUICK_SWEEP, REPRODUCE_SEEDS, GapConfig, SweepConfig
from specxai_jax.errors import UsageError
from specxai_jax.results import Check
from specxai_jax.storage import atomic
from specxai_jax.sweep import report as sweep_report

RESULT_COLUMNS = ["setting", *sweep_report.RESULT_COLUMNS]
SPECTRUM_COLUMNS = ["setting", *sweep_report.SPECTRUM_COLUMNS]
SUMMARY_COLUMNS = ["setting", "beta", "ef_mean", "ef_std", "test_accuracy_mean", "test_accuracy_std", "n_seeds",
                   "ef_low", "ef_high"]
"""summary.csv: per (setting, β) mean ± std over seeds; ``ef_low``, ``ef_high``: the 95 % t-interval of EF's mean."""
SWEEP_CLI = "python -m experiments.sweep_beta"
GAP_CLI = "python -m experiments.explanation_gap"


@dataclasses.dataclass
class Context:
    """What a target needs: where to write, how big, what replaces every run's data and training settings,
    and the record it fills for target.json."""

    out: Path
    quick: bool
    dataset: str | None
    progress: bool
    fresh: bool
    data_dir: str | None = None  # every run's TFDS data directory
    split: str | None = None  # every run's TFDS split
    input_noise: float | None = None  # every β-sweep's training-input noise (None: the sweep's own)
    no_cap: bool = False  # every β-sweep trains for max_epochs, without the accuracy cap
    pretrained: tuple = ()  # tab2: Hugging Face checkpoints explained instead of from-scratch models
    seeds: tuple = ()  # every run's seeds (empty: REPRODUCE_SEEDS of the mode)
    runs: list = dataclasses.field(default_factory=list)
    checks: list[Check] = dataclasses.field(default_factory=list)
    notes: list = dataclasses.field(default_factory=list)

    def check(self, claim: str, holds: bool | None, measured: str, interval: tuple[float, float] | None = None,
              inconclusive: str | None = None) -> None:
        """Record one computed check of the paper's claim (holds None: could not be decided, ``inconclusive``
        says why); ``interval``: the (low, high) interval it was judged with."""
        holds = None if holds is None else bool(holds)
        if holds is None and inconclusive is None:
            inconclusive = measured or "could not be decided"
        self.checks.append(Check(claim, holds, measured, interval, inconclusive))

    def run_seeds(self) -> tuple:
        """The seeds every run uses: the given ones, else REPRODUCE_SEEDS of the mode."""
        return self.seeds or REPRODUCE_SEEDS["quick" if self.quick else "full"]

    @property
    def sweep_options(self) -> bool:
        """Whether a sweep-only option (input noise, no cap) was given."""
        return self.input_noise is not None or self.no_cap

    def data_settings(self) -> dict[str, str]:
        """The data settings given for every run (dataset, data_dir, split), as config fields."""
        given = {"dataset": self.dataset, "data_dir": self.data_dir, "split": self.split}
        return {name: value for name, value in given.items() if value}


@dataclasses.dataclass(frozen=True)
class Target:
    """A paper figure or table: its title and the function that reproduces it (returns output names)."""

    title: str
    run: Callable[[Context], dict]


def sweep_command(config: SweepConfig, out: Path) -> str:
    """The sweep_beta command that runs ``config`` into ``out``: its preset, then its differences from it."""
    base = PRESETS[config.preset] if config.preset else SweepConfig()
    flags = (["--preset", config.preset] if config.preset else []) + configs.to_flags(config, base, skip=("preset",))
    return f"{SWEEP_CLI} {shlex.join([*flags, '--out', str(out)])}"


def gap_command(config: GapConfig, out: Path, quick: bool) -> str:
    """The explanation_gap command that runs ``config`` into ``out``: ``--quick`` (GAP_QUICK) or not, then the
    differences from that base (whose image size is the checkpoints' with ``pretrained``)."""
    base = GAP_QUICK if quick else GapConfig()
    if config.pretrained:
        base = dataclasses.replace(base, img_size=None)
    flags = (["--quick"] if quick else []) + configs.to_flags(config, base)
    return f"{GAP_CLI} {shlex.join([*flags, '--out', str(out)])}"


def sweep_config(ctx: Context, base: SweepConfig = SweepConfig(), **overrides) -> SweepConfig:
    """``base`` ← the reproduction's seeds ← QUICK_SWEEP (quick) ← ``overrides`` ← ctx's data, input noise, no cap."""
    given = {**ctx.data_settings(), **({"input_noise": ctx.input_noise} if ctx.input_noise is not None else {}),
             **({"acc_cap": None} if ctx.no_cap else {})}
    return dataclasses.replace(base, **{"seeds": ctx.run_seeds(),
                                        **(QUICK_SWEEP if ctx.quick else {}), **overrides, **given})


def sweep(ctx: Context, label: str, directory: str, base: SweepConfig = SweepConfig(), **overrides) -> list[dict]:
    """One β-sweep (:func:`sweep_config`) into ``ctx.out/directory``; records its run and checks."""
    try:
        config = beta_sweep.resolve(sweep_config(ctx, base, **overrides))
    except ValueError as error:
        raise UsageError(f"{label}: {error}") from None
    out = ctx.out / directory
    command = sweep_command(config, out)
    print(f"[{label}] {command}", flush=True)
    rows = beta_sweep.run(config, out, fresh=ctx.fresh, progress=ctx.progress)
    ctx.runs.append({"label": label, "dir": directory, "command": command, "settings": dataclasses.asdict(config)})
    matched = None if config.matched_epochs is None else sweep_report.read_matched_rows(out)
    ctx.checks += [dataclasses.replace(check, claim=f"{label}: {check.claim}")
                   for check in sweep_report.checks(rows, config, matched)]
    rho_check(ctx, label, sweep_report.converged(rows))
    return rows


def rho_check(ctx: Context, label: str, rows: Sequence[dict], n_boot: int = 1000) -> None:
    """ρ(β, EF) over every model of every seed, with a 95 % bootstrap interval (models resampled)."""
    betas = np.array([r["beta"] for r in rows])
    ef = np.array([r["ef"] for r in rows])
    if len(set(betas)) < 3:
        return
    rho = stats.spearman(betas, ef)
    low, high = stats.bootstrap_interval(stats.spearman, betas, ef, n_boot=n_boot)
    seeds = len({r["seed"] for r in rows})
    ctx.check(f"{label}: EF rises with β over all seeds' models (95 % bootstrap interval of ρ above 0)",
              bool(low > 0), f"ρ = {rho:.2f} [{low:.2f}, {high:.2f}], {len(rows)} models, {seeds} seeds",
              interval=(low, high))


@dataclasses.dataclass(frozen=True)
class Setting:
    """One sweep of a multi-setting target: its label, sub-directory, base config and overrides."""

    label: str
    directory: str
    base: SweepConfig = SweepConfig()
    overrides: dict = dataclasses.field(default_factory=dict)


def sweeps(ctx: Context, settings: Sequence[Setting]) -> dict[str, list[dict]]:
    """Run each setting's sweep; write the combined results.csv, spectra.csv and summary.csv."""
    series = {s.label: sweep(ctx, s.label, s.directory, s.base, **s.overrides) for s in settings}
    results, spectra = [], []
    for label, rows in series.items():
        results += [{"setting": label, **row} for row in sweep_report.result_rows(rows)]
        spectra += [{"setting": label, **row} for row in sweep_report.spectrum_rows(rows, rows[0]["activation"])]
    atomic.write_csv(ctx.out / "results.csv", results, RESULT_COLUMNS)
    atomic.write_csv(ctx.out / "spectra.csv", spectra, SPECTRUM_COLUMNS)
    atomic.write_csv(ctx.out / "summary.csv", seed_summary(series), SUMMARY_COLUMNS)
    return series


def seed_summary(series: dict[str, list[dict]]) -> list[dict]:
    """summary.csv: per (setting, β), EF and test accuracy as mean ± std across seeds (diverged left out), n,
    and the 95 % t-interval of EF's mean (:func:`specxai_jax.stats.seed_mean`)."""
    out = []
    for label, rows in series.items():
        rows = sweep_report.converged(rows)
        for beta in sorted({r["beta"] for r in rows}):
            chosen = [r for r in rows if r["beta"] == beta]
            ef = stats.seed_mean([r["ef"] for r in chosen])
            accuracy = stats.seed_mean([r["test_accuracy"] for r in chosen])
            out.append({"setting": label, "beta": beta, "ef_mean": ef.mean, "ef_std": ef.std,
                        "test_accuracy_mean": accuracy.mean, "test_accuracy_std": accuracy.std, "n_seeds": ef.n,
                        "ef_low": ef.low, "ef_high": ef.high})
    return out


def gap_config(ctx: Context, base: GapConfig = GapConfig(), **overrides) -> GapConfig:
    """GAP_QUICK ← QUICK_GAP (quick) or ``base`` (the full run), ← ``overrides`` ← ctx's data settings."""
    quick_overrides: dict[str, Any] = QUICK_GAP  # GapConfig field values of several types
    start = dataclasses.replace(GAP_QUICK, **quick_overrides) if ctx.quick else base
    return dataclasses.replace(start, **{**overrides, **ctx.data_settings()})


def gap_run(ctx: Context, label: str, directory: str, config: GapConfig) -> gap.GapResult:
    """One explanation-gap run into ``ctx.out/directory``; records its run."""
    out = ctx.out / directory
    out.mkdir(parents=True, exist_ok=True)
    command = gap_command(config, out, ctx.quick)
    print(f"[{label}] {command}", flush=True)
    result = gap.run(config, out, progress=ctx.progress, fresh=ctx.fresh)
    ctx.runs.append({"label": label, "dir": directory, "command": command, "settings": dataclasses.asdict(config)})
    return result


def refuse_sweep_options(ctx: Context, target: str, what: str) -> None:
    if ctx.sweep_options:
        raise UsageError(f"{target} {what}, which takes no `input_noise` or `no_cap`")
