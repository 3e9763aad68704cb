"""Explanation gap of post-hoc methods (the paper's Tables 1, 2 and 4, Fig. 13).

    python -m experiments.explanation_gap --dataset synthetic --models cnn-relu cnn-softplus:3 --out DIR

For every model (trained here, or loaded from --checkpoint-dir) and method: EF of the channel-summed,
rank-normalized maps (unit convention, [0, 1] frequency scale), ΔEF = |EF − EF(VanillaGrad)| and the
pixel gap (mean squared difference of rank-normalized maps to VanillaGrad's). For SmoothGrad over a
σ grid and for IntGrad, the direct gap G = E‖∇f − ∇f̂‖² (unbiased: two independent halves of the
Monte-Carlo average) and the Spearman correlation of ΔEF(σ) with G(σ).
"""

from __future__ import annotations

import argparse
import csv
import functools
import json
from pathlib import Path

import jax
import jax.numpy as jnp
import matplotlib
import numpy as np
from scipy.stats import spearmanr

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from specxai_jax import spectral  # noqa: E402
from specxai_jax.attribution.gradients import resolve_target, score_gradient  # noqa: E402
from specxai_jax.attribution.integrated import path_gradient  # noqa: E402
from specxai_jax.checkpoints import load_variables, save_variables  # noqa: E402
from specxai_jax.data import load_dataset  # noqa: E402
from specxai_jax.explain import METHODS  # noqa: E402
from specxai_jax.models import init_variables, stack_variables  # noqa: E402
from specxai_jax.models.registry import build_model, parse_model_spec  # noqa: E402
from specxai_jax.train import TrainConfig, train_models  # noqa: E402

QUICK_MODELS = ("cnn-relu", "cnn-softplus:3", "vit-relu", "vit-gelu")
SIGMAS = (0.02, 0.05, 0.1, 0.2, 0.3)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    parser.add_argument("--dataset", default="synthetic")
    parser.add_argument("--models", nargs="+", default=list(QUICK_MODELS))
    parser.add_argument("--out", required=True)
    parser.add_argument("--checkpoint-dir", default=None)
    parser.add_argument("--quick", action="store_true", help="small data, few epochs and images (minutes on CPU)")
    parser.add_argument("--img-size", type=int, default=32)
    parser.add_argument("--depth", type=int, default=None)
    parser.add_argument("--n-images", type=int, default=256)
    parser.add_argument("--max-train", type=int, default=None)
    parser.add_argument("--max-test", type=int, default=None)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--acc-cap", type=float, default=0.9)
    parser.add_argument("--max-epochs", type=int, default=20)
    parser.add_argument("--smooth-sigma", type=float, default=0.15)
    parser.add_argument("--sigmas", type=float, nargs="+", default=list(SIGMAS))
    parser.add_argument("--samples", type=int, default=16)
    parser.add_argument("--ig-steps", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.quick:
        args.img_size, args.n_images, args.samples, args.ig_steps = 16, min(args.n_images, 32), 8, 16
        args.max_train, args.max_test, args.max_epochs = args.max_train or 512, args.max_test or 128, min(args.max_epochs, 3)
    return args


def method_options(args, key):
    """Keyword options of every method in this experiment."""
    return {"smooth_grad": dict(sigma=args.smooth_sigma, samples=args.samples, key=key),
            "integrated_gradients": dict(steps=args.ig_steps)}


def trained_variables(spec, model, dataset, args):
    """Variables of one model: loaded from the checkpoint directory when present, else trained (and saved)."""
    path = Path(args.checkpoint_dir) / f"{spec.name.replace(':', '_')}-seed{args.seed}" if args.checkpoint_dir else None
    if path is not None and path.exists():
        variables, metadata = load_variables(path)
        return variables, metadata
    shape = (1, *dataset.x_train.shape[1:])
    variables = stack_variables([init_variables(model, jax.random.key(args.seed), spec.beta, shape)])
    config = TrainConfig(lr=args.lr, acc_cap=args.acc_cap, max_epochs=args.max_epochs)
    result = train_models(model.apply, variables, dataset, [args.seed], config, progress=False)
    variables = jax.tree.map(lambda leaf: leaf[0], result.variables)
    metadata = {"model": spec.name, "dataset": args.dataset, "img_size": args.img_size,
                "test_accuracy": float(result.test_accuracy[0]), "epochs": int(result.epochs[0])}
    if path is not None:
        save_variables(path, variables, metadata)
    return variables, metadata


def channel_maps(method, apply_fn, variables, x, options):
    """Channel-summed maps (B, H, W) of one method."""
    return METHODS[method](apply_fn, variables, x, None, **options).sum(axis=-1)


def smooth_gap(apply_fn, variables, x, sigma, samples, key):
    """(unbiased ‖∇f − ∇f̂_σ‖² per image (B,), SmoothGrad maps (B, H, W))."""
    target = resolve_target(apply_fn, variables, x, None)
    grad = score_gradient(apply_fn, variables, x, target)
    noise = sigma * jax.random.normal(key, (2, samples // 2, *x.shape), x.dtype)
    halves = [jax.lax.map(lambda eps: score_gradient(apply_fn, variables, x + eps, target), n).mean(0) for n in noise]
    gap = ((grad - halves[0]) * (grad - halves[1])).sum(axis=(1, 2, 3))
    return gap, (0.5 * (halves[0] + halves[1])).sum(axis=-1)


def intgrad_gap(apply_fn, variables, x, steps):
    """‖∇f(x) − ∫∇f(αx)dα‖² per image (B,): IntGrad's surrogate gradient vs the gradient."""
    target = resolve_target(apply_fn, variables, x, None)
    grad = score_gradient(apply_fn, variables, x, target)
    surrogate = path_gradient(apply_fn, variables, x, target, jnp.zeros_like(x), steps, "gausslegendre", "log_prob")
    return ((grad - surrogate) ** 2).sum(axis=(1, 2, 3))


def method_applies(method, spec):
    """LRP is defined for ReLU conv nets without BN/skips only (printed "undefined" otherwise)."""
    return method != "lrp" or (spec.family == "cnn" and np.isinf(spec.beta) and spec.activation != "gelu")


def explain_model(spec, model, variables, images, args):
    """Rows of gap.csv, example maps per method, and σ-sweep rows for one model."""
    key = jax.random.key(args.seed)
    options = method_options(args, key)
    ranked, rows, examples = {}, [], {}
    for method in METHODS:
        if not method_applies(method, spec):
            rows.append({"model": spec.name, "activation": spec.activation, "method": method, "ef": float("nan"),
                         "ef_std": float("nan"), "n_images": 0})
            continue
        compute = jax.jit(functools.partial(channel_maps, method, model.apply, options=options.get(method, {})))
        maps = jnp.concatenate([compute(variables, images[i:i + 32]) for i in range(0, len(images), 32)])
        ranked[method] = spectral.rank_normalize(maps)
        examples[method] = np.asarray(maps[:4])
        ef = np.asarray(spectral.expected_frequency(maps))
        rows.append({"model": spec.name, "activation": spec.activation, "method": method,
                     "ef": float(ef.mean()), "ef_std": float(ef.std()), "n_images": len(images)})
    reference = next(row["ef"] for row in rows if row["method"] == "vanilla_grad")
    for row in rows:
        row["delta_ef"] = abs(row["ef"] - reference)
        defined = row["method"] in ranked
        row["pixel_gap"] = float(((ranked[row["method"]] - ranked["vanilla_grad"]) ** 2).mean()) if defined else float("nan")
    sweep = []
    x = jnp.asarray(images)
    for sigma in args.sigmas:
        gap, maps = jax.jit(smooth_gap, static_argnums=(0, 4))(model.apply, variables, x, sigma, args.samples, key)
        ef = float(spectral.expected_frequency(maps).mean())
        sweep.append({"model": spec.name, "method": "smooth_grad", "sigma": sigma, "ef": ef,
                      "delta_ef": abs(ef - reference), "gap": float(gap.mean())})
    ig_gap = float(jax.jit(intgrad_gap, static_argnums=(0, 3))(model.apply, variables, x, args.ig_steps).mean())
    ig_row = next(row for row in rows if row["method"] == "integrated_gradients")
    sweep.append({"model": spec.name, "method": "integrated_gradients", "sigma": float("nan"), "ef": ig_row["ef"],
                  "delta_ef": ig_row["delta_ef"], "gap": ig_gap})
    return rows, examples, sweep


def write_csv(path, rows, fields):
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)


def write_table(path, rows, accuracy):
    """table.md: EF and ΔEF (×10²) per method (rows) and model (columns), as the paper lays it out."""
    models = list(dict.fromkeys(row["model"] for row in rows))
    methods = list(dict.fromkeys(row["method"] for row in rows))
    cell = {(row["model"], row["method"]): row for row in rows}
    lines = ["EF on the unit frequency scale ([0, 1]; the authors' code prints EF/K ×10⁴), ×10²; "
             "ΔEF = |EF − EF(VanillaGrad)|. Mean over images.", "",
             "| method | " + " | ".join(f"{m} EF | {m} ΔEF" for m in models) + " |",
             "|---|" + "---|---|" * len(models)]
    for method in methods:
        cells = []
        for model in models:
            row = cell.get((model, method))
            if row is None or np.isnan(row["ef"]):
                cells += ["undefined", "–"]
            else:
                cells += [f"{100 * row['ef']:.2f}", f"{100 * row['delta_ef']:.2f}"]
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    lines += ["", "Test accuracy: " + ", ".join(f"{m} {a:.3f}" for m, a in accuracy.items())]
    Path(path).write_text("\n".join(lines) + "\n", encoding="utf-8")


def plot_examples(path, examples):
    """Fig. 13 analogue: first image's channel-summed map per method (rows: models)."""
    models = list(examples)
    methods = list(dict.fromkeys(m for per in examples.values() for m in per))
    fig, axes = plt.subplots(len(models), len(methods), figsize=(2 * len(methods), 2 * len(models)), squeeze=False)
    for r, model in enumerate(models):
        for c, method in enumerate(methods):
            ax = axes[r, c]
            ax.axis("off")
            if method in examples[model]:
                ax.imshow(examples[model][method][0], cmap="coolwarm")
            if r == 0:
                ax.set_title(method, fontsize=7)
        axes[r, 0].text(-0.1, 0.5, model, transform=axes[r, 0].transAxes, ha="right", va="center", fontsize=7)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)


def plot_sweep(path, sweep):
    fig, ax = plt.subplots(figsize=(5, 4))
    for model in dict.fromkeys(row["model"] for row in sweep):
        points = [(row["gap"], row["delta_ef"]) for row in sweep if row["model"] == model and row["method"] == "smooth_grad"]
        ax.plot(*zip(*points), "o-", label=model)
    ax.set_xscale("log")
    ax.set_xlabel("G = E‖∇f − ∇f̂_σ‖²")
    ax.set_ylabel("ΔEF")
    ax.legend(fontsize=7)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)


def main(argv=None):
    args = parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    dataset = load_dataset(args.dataset, img_size=args.img_size, seed=args.seed, max_train=args.max_train,
                           max_test=args.max_test)
    images = np.asarray(dataset.x_test[: args.n_images])
    rows, examples, sweep, accuracy, correlations = [], {}, [], {}, {}
    for text in args.models:
        spec = parse_model_spec(text)
        model = build_model(spec.family, num_classes=dataset.num_classes, activation=spec.activation, depth=args.depth)
        variables, metadata = trained_variables(spec, model, dataset, args)
        accuracy[spec.name] = metadata.get("test_accuracy", float("nan"))
        model_rows, examples[spec.name], model_sweep = explain_model(spec, model, variables, images, args)
        rows += model_rows
        sweep += model_sweep
        points = [(row["delta_ef"], row["gap"]) for row in model_sweep if row["method"] == "smooth_grad"]
        correlations[spec.name] = float(spearmanr(*zip(*points)).statistic) if len(points) > 2 else float("nan")
    for row in sweep:
        row["spearman_delta_ef_vs_gap"] = correlations[row["model"]]
    write_csv(out / "gap.csv", rows, ["model", "activation", "method", "ef", "ef_std", "delta_ef", "pixel_gap", "n_images"])
    write_csv(out / "gap_vs_sigma.csv", sweep, ["model", "method", "sigma", "ef", "delta_ef", "gap", "spearman_delta_ef_vs_gap"])
    write_table(out / "table.md", rows, accuracy)
    plot_examples(out / "fig_maps.png", examples)
    plot_sweep(out / "fig_gap_vs_sigma.png", sweep)
    (out / "config.json").write_text(json.dumps(vars(args), indent=2), encoding="utf-8")
    return rows


if __name__ == "__main__":
    main()
