"""The ``regularized`` target: smooth explanations trained in directly (λ · EF_raw penalty) against smooth
activations (SoftPlus β), on the accuracy–EF plane, at the same accuracy cap and the same epochs budget.

Three families of β-sweeps (:func:`specxai_jax.sweep.run`, one sweep per grid point, into ``<family>_<value>/``):
SoftPlus over β; ReLU and GELU over the EF-penalty weight λ (:mod:`specxai_jax.training.ef_penalty`). Every
model's VanillaGrad maps are then scored by the faithfulness target's metric suite. The comparison: among the
grid points whose models all reached the cap (equal accuracy), the lowest mean EF of each family, compared per
image with a 95 % hierarchical bootstrap interval (seeds, then images). Training cost: epochs to the cap, and the
compiled training step timed alone (fastest of repeated steps after compilation; the sweeps' own wall-clock mixes
in compilation and, on a shared machine, other work), times steps per epoch times epochs.
"""

from __future__ import annotations

import dataclasses
import math
import time
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from specxai_jax import plots, spectral
from specxai_jax import sweep as beta_sweep
from specxai_jax.configs import SweepConfig
from specxai_jax.data import load_dataset
from specxai_jax.errors import DataError, UsageError
from specxai_jax.models import init_variables
from specxai_jax.ops import fast_forms
from specxai_jax.reproduction import faithfulness, runs
from specxai_jax.stats import seed_mean
from specxai_jax.storage import atomic
from specxai_jax.storage.store import ResultStore
from specxai_jax.training.ef_penalty import saliency_maps
from specxai_jax.training.train import TrainConfig, make_optimizer, make_train_step

CLAIM = ("Training with an EF penalty (λ · raw EF of the model's own VanillaGrad maps, double backpropagation) "
         "should reach a lower explanation complexity than choosing a smooth activation (SoftPlus β) at equal "
         "accuracy, under the same accuracy cap and epochs budget; its cost is the second backward pass, and its "
         "effect on faithfulness is measured by the field's metrics.")
PENALTIES = {True: (0.0, 0.3, 1.0, 3.0), False: (0.0, 0.1, 0.3, 1.0, 3.0, 10.0)}
BETAS = {True: (1.0, 2.0, 5.0, 20.0, math.inf), False: (0.5, 1.0, 2.0, 5.0, 10.0, 50.0, math.inf)}
FAMILIES = (("softplus", "SoftPlus β"), ("relu", "ReLU + EF penalty"), ("gelu", "GELU + EF penalty"))
COLOURS = {"softplus": "tab:blue", "relu": "black", "gelu": "tab:orange"}
COLUMNS = ["family", "activation", "beta", "ef_penalty", "n_seeds", "reached_cap", "test_accuracy",
           "test_accuracy_low", "test_accuracy_high", "epochs", "ef", "ef_low", "ef_high", "raw_ef", "raw_ef_low",
           "raw_ef_high", "step_seconds", "training_seconds"]
STEP_REPEATS = 20


@dataclasses.dataclass(frozen=True)
class Point:
    """One grid point (family, β or λ) of one seed: its trained model's outcome and per-image scores."""

    family: str
    activation: str
    beta: float
    ef_penalty: float
    seed: int
    test_accuracy: float
    epochs: int
    reached_cap: bool
    ef: np.ndarray                 # (B,) rank-normalized EF of the VanillaGrad maps
    raw_ef: np.ndarray             # (B,) raw EF (what the penalty lowers)
    scores: dict                   # metric name → (B,)
    step_seconds: float            # one compiled training step (batch_size images)
    training_seconds: float        # step_seconds × steps per epoch × epochs


def grid(ctx) -> list[tuple[str, str, dict]]:
    """(family, sub-directory, sweep overrides) of every sweep: SoftPlus per β, ReLU and GELU per λ."""
    settings = [("softplus", f"softplus_{plots.beta_label(b).replace('β=', 'beta')}",
                 {"activation": "softplus", "betas": (b,)}) for b in BETAS[ctx.quick]]
    for activation in ("relu", "gelu"):
        settings += [(activation, f"{activation}_lambda{w:g}", {"activation": activation, "ef_penalty": (w,)})
                     for w in PENALTIES[ctx.quick]]
    return settings


def _sweep(ctx, label: str, directory: str, overrides: dict) -> tuple[list[dict], SweepConfig]:
    """One sweep into ``ctx.out/directory``, recorded with its command; (rows, resolved config)."""
    try:
        config = beta_sweep.resolve(runs.sweep_config(ctx, **overrides))
    except ValueError as error:
        raise UsageError(f"{label}: {error}") from None
    out = ctx.out / directory
    command = runs.sweep_command(config, out)
    print(f"[{label}] {command}", flush=True)
    rows = beta_sweep.run(config, out, fresh=ctx.fresh, progress=ctx.progress)
    ctx.runs.append({"label": label, "dir": directory, "command": command, "settings": dataclasses.asdict(config)})
    return rows, config


def score_sweep(ctx, family: str, rows: Sequence[dict], config, directory: str) -> list[Point]:
    """Every model of one sweep reloaded from its store, its VanillaGrad maps scored."""
    dataset = load_dataset(config.dataset, img_size=config.img_size, seed=0, max_train=config.max_train,
                           max_test=config.max_test, data_dir=config.data_dir, split=config.split)
    images = np.asarray(dataset.x_test[: config.n_explain])
    suite = faithfulness.metric_suite(images.shape[1] * images.shape[2])
    model = beta_sweep.sweep_model(config, dataset.num_classes)
    store = ResultStore(ctx.out / directory)
    by_key = {(r["beta"], r["seed"]): r for r in rows}
    steps_per_epoch = dataset.x_train.shape[0] // config.batch_size
    seconds = step_seconds(model, config, dataset)
    points = []
    for job in beta_sweep.model_jobs(config, dataset):
        row = by_key[(job.beta, job.seed)]
        if row["diverged"]:
            ctx.notes.append(f"{directory} seed {job.seed}: diverged; left out")
            continue
        with store.lock():
            stored = store.load_checkpoint(job.key)
        if stored is None:  # deleted or corrupt since the sweep ran (a corrupt one is discarded with its results)
            raise DataError(f"{directory}: the checkpoint of β={job.beta:g}, λ={job.ef_penalty:g}, seed {job.seed} "
                            f"is missing or unusable; run again to retrain it")
        variables, _ = stored
        maps = saliency_maps(model.apply, variables, jnp.asarray(images))
        ef, scores = faithfulness.score_maps((model, variables), images, maps, suite, jax.random.key(job.seed))
        raw = np.asarray(spectral.expected_frequency(maps, rank=False), np.float64)
        points.append(Point(family, config.activation, job.beta, job.ef_penalty, job.seed, row["test_accuracy"],
                            row["epochs"], bool(row["reached_cap"]), ef, raw, scores, seconds,
                            seconds * steps_per_epoch * row["epochs"]))
    return points


def step_seconds(model, config, dataset) -> float:
    """Fastest wall-clock seconds of STEP_REPEATS compiled training steps (the least disturbed by other work) of
    the sweep's model and settings (its λ), on one batch of the training set."""
    beta, weight = config.betas[0], config.ef_penalty[0]
    variables = init_variables(model, jax.random.key(0), beta, (1, *dataset.image_shape))
    train_config = TrainConfig(lr=config.lr, batch_size=config.batch_size, ef_penalty=weight)
    optimizer = make_optimizer(train_config, 1)
    step = fast_forms.jit(make_train_step(model.apply, optimizer, train_config, 1))
    x, y = dataset.x_train[: config.batch_size], dataset.y_train[: config.batch_size]
    state = jax.block_until_ready(step(variables, optimizer.init(variables["params"]), x, y, 0, 0, 0))
    times = []
    for _ in range(STEP_REPEATS):
        start = time.perf_counter()
        state = jax.block_until_ready(step(*state[:2], x, y, 0, 0, 0))   # (variables, opt_state, loss)
        times.append(time.perf_counter() - start)
    return float(np.min(times))


def _t_interval(values: Sequence[float]) -> tuple[float, float, float]:
    summary = seed_mean(values)
    return summary.mean, summary.low, summary.high


def front_table(points: Sequence[Point], suite) -> list[dict]:
    """One row per grid point: accuracy (95 % t interval over seeds), EF and raw EF and every metric (95 %
    hierarchical bootstrap), epochs, cost, and whether every seed reached the cap."""
    cells: dict[tuple, list[Point]] = {}
    for p in points:
        cells.setdefault((p.family, p.beta, p.ef_penalty), []).append(p)
    table = []
    for (family, beta, weight), group in cells.items():
        row = {"family": family, "activation": group[0].activation, "beta": beta, "ef_penalty": weight,
               "n_seeds": len(group), "reached_cap": all(p.reached_cap for p in group),
               "epochs": float(np.mean([p.epochs for p in group])),
               "step_seconds": group[0].step_seconds,
               "training_seconds": float(np.mean([p.training_seconds for p in group]))}
        mean, low, high = _t_interval([p.test_accuracy for p in group])
        row["test_accuracy"], row["test_accuracy_low"], row["test_accuracy_high"] = mean, max(low, 0.0), min(high, 1.0)
        for name in ("ef", "raw_ef"):
            row[name], row[f"{name}_low"], row[f"{name}_high"] = faithfulness.hierarchical_bootstrap(
                [getattr(p, name) for p in group])
        for metric in suite:
            mean, low, high = faithfulness.hierarchical_bootstrap([p.scores[metric.name] for p in group])
            row.update({metric.name: mean, f"{metric.name}_low": low, f"{metric.name}_high": high})
        table.append(row)
    return table


def _label(row: dict) -> str:
    return plots.beta_label(row["beta"]) if row["family"] == "softplus" else f"λ={row['ef_penalty']:g}"


def best_at_cap(table: Sequence[dict], family: str, name: str = "ef") -> dict | None:
    """The family's grid point with the lowest mean ``name`` among those whose every seed reached the cap."""
    capped = [r for r in table if r["family"] == family and r["reached_cap"]]
    return min(capped, key=lambda r: r[name]) if capped else None


def _per_seed(points: Sequence[Point], row: dict, value) -> dict[int, np.ndarray]:
    return {p.seed: value(p) for p in points
            if (p.family, p.beta, p.ef_penalty) == (row["family"], row["beta"], row["ef_penalty"])}


def _difference(points, first: dict, second: dict, value) -> tuple[float, float, float]:
    a, b = _per_seed(points, first, value), _per_seed(points, second, value)
    return faithfulness.hierarchical_bootstrap([a[s] - b[s] for s in sorted(set(a) & set(b))])


def checks(ctx, points: Sequence[Point], table: Sequence[dict], suite) -> None:
    """Lower EF at the cap than SoftPlus β (per family and EF kind); cost; faithfulness of the strongest penalty."""
    softplus = best_at_cap(table, "softplus")
    for family in ("relu", "gelu"):
        for name, kind in (("ef", "rank-normalized EF (the paper's)"), ("raw_ef", "raw EF (what is penalized)")):
            ours, theirs = best_at_cap(table, family, name), best_at_cap(table, "softplus", name)
            claim = (f"{family.upper()} + EF penalty reaches a lower {kind} than SoftPlus β at the accuracy cap "
                     "(best grid point of each family whose seeds all reached the cap)")
            if ours is None or theirs is None:
                ctx.check(claim, None, "no grid point of " + ("the penalty" if ours is None else "SoftPlus") +
                          " family had every seed reach the cap")
                continue
            mean, low, high = _difference(points, theirs, ours, lambda p, n=name: getattr(p, n))
            measured = (f"{family} {_label(ours)}: {ours[name]:.4f} (accuracy {ours['test_accuracy']:.3f}, "
                        f"{ours['epochs']:.1f} epochs); SoftPlus {_label(theirs)}: {theirs[name]:.4f} (accuracy "
                        f"{theirs['test_accuracy']:.3f}, {theirs['epochs']:.1f} epochs); SoftPlus − penalty "
                        f"{mean:.4g}; 95 % interval [{low:.4g}, {high:.4g}]")
            ctx.check(claim, faithfulness.verdict(low, high), measured, interval=(low, high))
    plain = {r["family"]: r for r in table if r["family"] != "softplus" and r["ef_penalty"] == 0}
    for family, base in plain.items():
        penalized = [r for r in table if r["family"] == family and r["ef_penalty"] > 0]
        ratio = np.mean([r["step_seconds"] for r in penalized]) / base["step_seconds"]
        ctx.check(f"{family.upper()}: the EF penalty costs at most 4× the time of a training step "
                  "(double backpropagation: about 2–3×)", bool(ratio <= 4),
                  f"{ratio:.2f}× ({1e3 * base['step_seconds']:.1f} ms per step without, mean over λ > 0 with)")
        strongest = max(penalized, key=lambda r: r["ef_penalty"])
        for metric in suite:
            mean, low, high = _difference(points, strongest, base,
                                          lambda p, m=metric: m.unfaithfulness(p.scores[m.name]))
            ctx.check(f"{family.upper()} λ={strongest['ef_penalty']:g}: the EF penalty costs faithfulness by "
                      f"{metric.label} (VanillaGrad less faithful than at λ=0)", faithfulness.verdict(low, high),
                      measured=f"unfaithfulness difference {mean:.4g}; 95 % interval [{low:.4g}, {high:.4g}]",
                      interval=(low, high))
    if softplus is not None:
        ctx.notes.append(f"SoftPlus's lowest EF at the cap: {_label(softplus)} ({softplus['ef']:.4f}).")


def markdown(table: Sequence[dict], suite, acc_cap) -> str:
    head = ["family", "β / λ", "accuracy", "cap reached", "epochs", "EF", "raw EF", "ms per step", "training s",
            *[m.label for m in suite]]
    lines = ["# Accuracy–EF fronts: EF-penalized training against SoftPlus β", "",
             f"Accuracy cap {acc_cap}; mean [95 % interval] over seeds (accuracy: Student t; EF and metrics: "
             "hierarchical bootstrap over seeds and images). EF: rank-normalized unit scale (the paper's); raw EF: "
             "without rank normalization (what the penalty lowers).", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    fmt = faithfulness._fmt
    for r in table:
        cells = [r["family"], _label(r), fmt(r["test_accuracy"], r["test_accuracy_low"], r["test_accuracy_high"]),
                 "yes" if r["reached_cap"] else "no", f"{r['epochs']:.1f}", fmt(r["ef"], r["ef_low"], r["ef_high"], 4),
                 fmt(r["raw_ef"], r["raw_ef_low"], r["raw_ef_high"]), f"{1e3 * r['step_seconds']:.1f}",
                 f"{r['training_seconds']:.1f}"]
        cells += [fmt(r[m.name], r[f"{m.name}_low"], r[f"{m.name}_high"]) for m in suite]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def figure(path, table: Sequence[dict], suite, acc_cap) -> None:
    """Accuracy–EF fronts (rank and raw EF), the cost per model-epoch, and each metric against EF."""
    fig, axes = plots.figure(2, 4, figsize=(19, 8.5))
    axes = axes.ravel()
    for family, label in FAMILIES:
        rows = sorted([r for r in table if r["family"] == family],
                      key=lambda r: r["beta"] if family == "softplus" else r["ef_penalty"])
        colour = COLOURS[family]
        for ax, name in ((axes[0], "ef"), (axes[1], "raw_ef")):
            ax.plot([r["test_accuracy"] for r in rows], [r[name] for r in rows], "-", color=colour, alpha=0.5,
                    label=label)
            for r in rows:
                ax.errorbar(r["test_accuracy"], r[name],
                            xerr=[[max(0, r["test_accuracy"] - r["test_accuracy_low"])],
                                  [max(0, r["test_accuracy_high"] - r["test_accuracy"])]]
                            if math.isfinite(r["test_accuracy_low"]) else None,
                            yerr=[[r[name] - r[f"{name}_low"]], [r[f"{name}_high"] - r[name]]],
                            fmt="o" if r["reached_cap"] else "x", color=colour, ms=5, lw=0.7, capsize=1.5)
                ax.annotate(_label(r), (r["test_accuracy"], r[name]), fontsize=6, xytext=(3, 3),
                            textcoords="offset points")
        axes[2].plot([r["training_seconds"] for r in rows], [r["ef"] for r in rows], "o", color=colour, label=label)
        for r in rows:
            axes[2].annotate(_label(r), (r["training_seconds"], r["ef"]), fontsize=6, xytext=(3, 3),
                             textcoords="offset points")
        for ax, metric in zip(axes[3:], suite):
            for r in rows:
                ax.errorbar(r["ef"], r[metric.name], yerr=[[r[metric.name] - r[f"{metric.name}_low"]],
                                                          [r[f"{metric.name}_high"] - r[metric.name]]],
                            fmt="o" if r["reached_cap"] else "x", color=colour, ms=4, lw=0.8, capsize=1.5)
                ax.annotate(_label(r), (r["ef"], r[metric.name]), fontsize=6, xytext=(3, 3), textcoords="offset points")
    for ax, name in ((axes[0], "EF (rank-normalized, unit scale)"), (axes[1], "raw EF (penalized quantity)")):
        if acc_cap is not None:
            ax.axvline(acc_cap, color="grey", ls=":", lw=1, label=f"cap {acc_cap}")
        ax.set_xlabel("test accuracy (o: every seed reached the cap, x: not)")
        ax.set_ylabel(name)
        ax.legend(fontsize=7)
    axes[2].set_xlabel("training seconds (compiled step time × steps to stop)")
    axes[2].set_ylabel("EF (rank-normalized)")
    axes[2].legend(fontsize=7)
    for ax, metric in zip(axes[3:], suite):
        ax.set_xlabel("EF (rank-normalized)")
        ax.set_ylabel(f"{metric.label}\n({metric.better} = more faithful)")
    for ax in axes:
        ax.grid(True, alpha=0.3)
    fig.suptitle("EF-penalized training (ReLU, GELU; grid over λ) against SoftPlus β: accuracy–EF fronts, cost and "
                 "faithfulness of VanillaGrad (mean, 95 % intervals over seeds)")
    plots.save_with_vector(fig, path)


def run(ctx) -> dict:
    """Every sweep of :func:`grid`, every model scored; fronts.csv, fronts.md, fig_regularized.png and checks."""
    runs.refuse_sweep_options(ctx, "regularized", "compares training regimes at the sweeps' own settings")
    points: list[Point] = []
    for family, directory, overrides in grid(ctx):
        label = f"{family} {directory.split('_', 1)[1]}"
        rows, config = _sweep(ctx, label, directory, overrides)
        points += score_sweep(ctx, family, rows, config, directory)
    suite = faithfulness.metric_suite(config.img_size ** 2)
    table = front_table(points, suite)
    columns = COLUMNS + [f"{m.name}{end}" for m in suite for end in ("", "_low", "_high")]
    atomic.write_csv(ctx.out / "fronts.csv", table, columns)
    atomic.write_text(ctx.out / "fronts.md", markdown(table, suite, config.acc_cap))
    figure(ctx.out / "fig_regularized.png", table, suite, config.acc_cap)
    checks(ctx, points, table, suite)
    return {"figures": ["fig_regularized.png"], "tables": ["fronts.csv"], "markdown": ["fronts.md"]}
