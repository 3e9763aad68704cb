"""Explanation gap of post-hoc methods (the paper's Tables 1, 2 and 4, Fig. 13).

    python -m experiments.explanation_gap --dataset synthetic --models cnn-relu cnn-softplus:3 --out DIR

For every model (trained here, or loaded from --checkpoint-dir) and method: EF of the channel-summed,
rank-normalized maps (unit convention, [0, 1] frequency scale), ΔEF = |EF − EF(VanillaGrad)| and the
pixel gap (mean squared difference of rank-normalized maps to VanillaGrad's). For SmoothGrad over a
σ grid and for IntGrad, the direct gap G = E‖∇f − ∇f̂‖² (unbiased: two independent halves of the
Monte-Carlo average) and the Spearman correlation of ΔEF(σ) with G(σ). Outputs in --out: gap.csv,
gap_vs_sigma.csv, table.md, fig_maps.png, fig_gap_vs_sigma.png, config.json. A diverged model (weights
or VanillaGrad EF not finite) gets NaN numbers and ``diverged`` True in its rows, "diverged" in table.md
and a warning on stderr.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import sys
import warnings
from pathlib import Path
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from scipy.stats import spearmanr
from tqdm.auto import tqdm

from experiments import provenance
from experiments.sweep_beta import weights_finite
from specxai_jax import atomic, plots, runtime, spectral, validation
from specxai_jax.attribution.core import resolve_target, score_gradient
from specxai_jax.attribution.integrated import path_gradient
from specxai_jax.checkpoints import CorruptCheckpoint, load_variables, save_variables
from specxai_jax.data import load_dataset
from specxai_jax.explain import METHODS
from specxai_jax.models import check_image_fits, from_pretrained, init_variables, stack_variables
from specxai_jax.models.registry import CONV_VARIANTS, ModelSpec, build_model, parse_model_spec
from specxai_jax.numerics import SpecxaiWarning
from specxai_jax.store import config_key
from specxai_jax.train import TrainConfig, train_models

QUICK_MODELS = ("cnn-relu", "cnn-softplus:3", "vit-relu", "vit-gelu")
SIGMAS = (0.02, 0.05, 0.1, 0.2, 0.3)
DEFAULTS = dict(img_size=32, n_images=256, samples=16, ig_steps=32, max_train=None, max_test=None, max_epochs=20)
QUICK = dict(img_size=16, n_images=32, samples=8, ig_steps=16, max_train=512, max_test=128, max_epochs=20)
GAP_COLUMNS = ["model", "activation", "method", "ef", "ef_std", "delta_ef", "pixel_gap", "n_images", "diverged"]
SWEEP_COLUMNS = ["model", "method", "sigma", "ef", "delta_ef", "gap", "spearman_delta_ef_vs_gap", "diverged"]
CHECKPOINT_FORMAT = 2  # bump when a code change alters trained numbers, so old checkpoints are not reused
TRACKS_RHO = 0.9  # Spearman ρ(ΔEF, G) over σ from which table.md says ΔEF tracks G
VIT_PATCH = 4      # the ViT's default patch size: images must be a multiple of it
EXPLAIN_BATCH = 32  # images per compiled explanation call


def model_spec(text: str) -> ModelSpec:
    """argparse type: a ``FAMILY-ACTIVATION[:β]`` model spec."""
    try:
        return parse_model_spec(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def build_parser() -> validation.OneLineArgumentParser:
    """The command line; size flags left unset take the --quick or full default (see QUICK, DEFAULTS)."""
    parser = validation.OneLineArgumentParser(prog="python -m experiments.explanation_gap",
                                              description=__doc__.split("\n\n")[0])
    add = parser.add_argument
    add("--dataset", type=validation.dataset_spec, default="synthetic",
        help="synthetic[:k=v,..], tfds:NAME, npz:PATH or folder:PATH")
    add("--data-dir", help="where TFDS keeps prepared datasets (TFDS's default if unset)")
    add("--split", help="tfds: the test split (EVAL) or both (TRAIN,EVAL), e.g. validation or train[:90%%],train[90%%:]")
    add("--models", nargs="+", type=model_spec, default=[parse_model_spec(m) for m in QUICK_MODELS],
        help="model specs FAMILY-ACTIVATION[:β], e.g. cnn-relu cnn-softplus:3 vit-gelu resnet-relu")
    add("--out", type=validation.writable_dir, required=True, help="output directory")
    add("--checkpoint-dir", type=validation.writable_dir, help="load models from here when present, else save them")
    add("--quick", action="store_true", help="small data, few epochs and images (minutes on CPU)")
    add("--img-size", type=validation.positive_int, help=f"image side (default {DEFAULTS['img_size']}, quick 16)")
    add("--depth", type=validation.positive_int, help="conv blocks / ResNet stages / ViT blocks (model default)")
    add("--n-images", type=validation.positive_int, help="test images explained per model")
    add("--max-train", type=validation.positive_int, help="use at most this many training images")
    add("--max-test", type=validation.positive_int, help="use at most this many test images")
    add("--lr", type=validation.positive_float, default=1e-3, help="Adam learning rate")
    add("--acc-cap", type=validation.fraction, default=0.9, help="stop training once test accuracy reaches this")
    add("--max-epochs", type=validation.positive_int)
    add("--smooth-sigma", type=validation.positive_float, default=0.15, help="SmoothGrad σ of the table")
    add("--sigmas", type=validation.positive_float, nargs="+", default=list(SIGMAS), help="σ grid for G vs ΔEF")
    add("--samples", type=validation.positive_int, help="SmoothGrad noise samples (≥ 2: G uses two halves)")
    add("--ig-steps", type=validation.positive_int, help="IntGrad quadrature nodes")
    add("--seed", type=validation.nonnegative_int, default=0)
    add("--no-progress", action="store_true", help="hide the progress bar")
    add("--pretrained", nargs="+", metavar="DIR_OR_HUB_NAME",
        help="explain these Hugging Face ResNet/ViT checkpoints (save_pretrained directories or hub names) "
             "instead of training --models; images at the ViT's size (else --img-size, default 224)")
    return parser


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parsed flags with the size defaults filled in; raises UsageError for settings that cannot work."""
    args = build_parser().parse_args(argv)
    names = [spec.name for spec in args.models]
    if len(set(names)) < len(names):
        raise validation.UsageError(f"--models lists {sorted({n for n in names if names.count(n) > 1})} more than once")
    if args.pretrained:
        args.models = []  # nothing is trained; run() sizes the images from the checkpoints
    for name, value in (QUICK if args.quick else DEFAULTS).items():
        if getattr(args, name) is None and not (args.pretrained and name == "img_size"):
            setattr(args, name, value)
    if args.samples < 2:
        raise validation.UsageError(
            f"--samples must be at least 2 (G averages two independent halves), got {args.samples}")
    for spec in args.models:
        if spec.family in CONV_VARIANTS:
            try:
                check_image_fits(args.img_size, args.depth or 3)
            except ValueError as error:
                raise validation.UsageError(str(error)) from None
        if spec.family == "vit" and args.img_size % VIT_PATCH:
            raise validation.UsageError(f"{spec.name} needs --img-size a multiple of {VIT_PATCH}, got {args.img_size}")
    return args


def method_options(args, key):
    """Keyword options of every method in this experiment."""
    return {"smooth_grad": dict(sigma=args.smooth_sigma, samples=args.samples, key=key),
            "integrated_gradients": dict(steps=args.ig_steps)}


def training_config(args) -> TrainConfig:
    """How every model of this run is trained."""
    return TrainConfig(lr=args.lr, acc_cap=args.acc_cap, max_epochs=args.max_epochs)


def checkpoint_metadata(spec: ModelSpec, args, dataset) -> dict:
    """Every setting that changes a trained model's numbers, with the dataset's content fingerprint
    and its key (a stored model is reused only if all of them match)."""
    wanted = {"model": spec.name, "data": dataset.fingerprint, "img_size": args.img_size, "depth": args.depth,
              "seed": args.seed, "format": CHECKPOINT_FORMAT, "training": dataclasses.asdict(training_config(args))}
    return {**wanted, "key": config_key(wanted)}


def trained_variables(spec, model, dataset, args):
    """Variables of one model: loaded from the checkpoint directory when a checkpoint of exactly these
    settings is there, else trained (and saved there, beside checkpoints of other settings)."""
    wanted = checkpoint_metadata(spec, args, dataset)
    path = (args.checkpoint_dir / f"{spec.name.replace(':', '_')}-seed{args.seed}-{wanted['key']}"
            if args.checkpoint_dir else None)
    if path is not None and path.exists():
        try:
            variables, metadata = load_variables(path)
            stored = {name: metadata.get(name) for name in wanted}
            if stored != atomic.from_json(atomic.to_json(wanted)):  # as it reads back
                raise CorruptCheckpoint(path, f"it was made with other settings ({stored})")
            return variables, metadata
        except CorruptCheckpoint as error:
            warnings.warn(f"{error}; retraining it", SpecxaiWarning, stacklevel=2)
    shape = (1, *dataset.x_train.shape[1:])
    variables = stack_variables([init_variables(model, jax.random.key(args.seed), spec.beta, shape)])
    config = training_config(args)
    result = train_models(model.apply, variables, dataset, [args.seed], config, progress=False)
    variables = jax.tree.map(lambda leaf: leaf[0], result.variables)
    metadata = {**wanted, "test_accuracy": float(result.test_accuracy[0]), "epochs": int(result.epochs[0])}
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


PRETRAINED_TRAIN = 32  # training images a pretrained run loads (unused; the loaders want ≥ 2 classes)
IMAGENETTE_TO_IMAGENET = (0, 217, 482, 491, 497, 566, 569, 571, 574, 701)
"""ImageNet class index of each Imagenette class (its sorted WordNet ids: tench … parachute)."""


@dataclasses.dataclass(frozen=True)
class PretrainedSpec:
    """A checkpoint explained as is: its name, family (resnet/vit), activation and GradCAM layer."""

    name: str
    family: str
    activation: str
    gradcam_layer: str
    beta: float = float("inf")


def load_pretrained(args) -> list[tuple[PretrainedSpec, object, dict]]:
    """(spec, model, variables) of every --pretrained checkpoint; sets args.img_size (the ViTs' image size,
    else --img-size or 224) and args.gradcam_layers ({name: GradCAM layer}, recorded in config.json)."""
    loaded = []
    for name in args.pretrained:
        model, variables = from_pretrained(name)
        family = "vit" if hasattr(model, "image_size") else "resnet"
        label = Path(name).name if Path(name).is_dir() else name
        loaded.append((PretrainedSpec(label, family, model.hidden_act, model.gradcam_layer), model, variables))
    sizes = {model.image_size for _, model, _ in loaded if hasattr(model, "image_size")}
    if len(sizes) > 1 or (sizes and args.img_size not in (None, *sizes)):
        raise validation.UsageError(f"the ViT checkpoints take {sorted(sizes)} px images, not --img-size "
                                    f"{args.img_size}; explain them in separate runs")
    args.img_size = sizes.pop() if sizes else args.img_size or 224
    args.gradcam_layers = {spec.name: spec.gradcam_layer for spec, _, _ in loaded}
    return loaded


def pretrained_accuracy(model, variables, images, labels, dataset) -> float:
    """Top-1 accuracy on the explained images: Imagenette through ImageNet's class indices, a dataset with
    the checkpoint's class count (ImageNet: TFDS or class folders in WordNet-id order) as is; else NaN."""
    logits = np.concatenate([np.asarray(model.apply(variables, images[i:i + EXPLAIN_BATCH]))
                             for i in range(0, len(images), EXPLAIN_BATCH)])
    if "imagenette" in dataset.name.lower() and dataset.num_classes == 10 and logits.shape[1] == 1000:
        labels = np.asarray(IMAGENETTE_TO_IMAGENET)[labels]
    elif dataset.num_classes != logits.shape[1]:
        return float("nan")
    return float((logits.argmax(axis=1) == labels).mean())


def pretrained_notes(pretrained) -> str:
    """table.md's lines on the checkpoints: where GradCAM looks and how tokens become a map."""
    if not pretrained:
        return ""
    lines = ["", "Pretrained checkpoints, explained as loaded (no training); accuracy on the explained images "
             "(nan: the dataset's classes are not the checkpoint's). GradCAM layers:"]
    for spec, model, _ in pretrained:
        how = ("the last stage's feature map" if spec.family == "resnet" else
               "the last encoder layer's layernorm_before tokens, class token dropped, the patch tokens laid out "
               f"{model.image_size // model.patch_size}×{model.image_size // model.patch_size} (later patch tokens "
               "do not reach the class token, so their gradient is zero)")
        lines.append(f"- {spec.name}: `{spec.gradcam_layer}`, {how}.")
    return "\n".join(lines) + "\n"


def method_applies(method, spec):
    """LRP is defined for ReLU conv nets without BN/skips only (printed "undefined" otherwise)."""
    return method != "lrp" or (spec.family == "cnn" and np.isinf(spec.beta) and spec.activation != "gelu")


def explain_model(spec, model, variables, images, args):
    """Rows of gap.csv, example maps (4, H, W) per method, and σ-sweep rows for one model."""
    key = jax.random.key(args.seed)
    options = method_options(args, key)
    if isinstance(spec, PretrainedSpec):
        options.update(gradcam=dict(layer=spec.gradcam_layer), guided_gradcam=dict(layer=spec.gradcam_layer))
    ranked, rows, examples = {}, [], {}
    for method in METHODS:
        if not method_applies(method, spec):
            rows.append({"model": spec.name, "activation": spec.activation, "method": method, "ef": float("nan"),
                         "ef_std": float("nan"), "n_images": 0})
            continue
        compute = jax.jit(functools.partial(channel_maps, method, model.apply, options=options.get(method, {})))
        maps = jnp.concatenate([compute(variables, images[i:i + EXPLAIN_BATCH])
                                for i in range(0, len(images), EXPLAIN_BATCH)])
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


def diverged_rows(spec, n_images: int, sigmas) -> tuple[list[dict], list[dict]]:
    """(gap.csv rows, σ-sweep rows) of a diverged model: every number NaN, ``diverged`` True."""
    nan = float("nan")
    rows = [{"model": spec.name, "activation": spec.activation, "method": method, "ef": nan, "ef_std": nan,
             "delta_ef": nan, "pixel_gap": nan, "n_images": n_images, "diverged": True} for method in METHODS]
    sweep = [{"model": spec.name, "method": "smooth_grad", "sigma": sigma, "ef": nan, "delta_ef": nan, "gap": nan,
              "diverged": True} for sigma in sigmas]
    sweep.append({"model": spec.name, "method": "integrated_gradients", "sigma": nan, "ef": nan, "delta_ef": nan,
                  "gap": nan, "diverged": True})
    return rows, sweep


def ordering_verdicts(rows) -> list[str]:
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


def sigma_summary(sweep) -> list[str]:
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


def accuracy_line(accuracy: dict, num_classes: int) -> str:
    """Test accuracy per model, flagging models below twice chance (their maps explain little)."""
    chance = 1.0 / num_classes
    weak = [m for m, a in accuracy.items() if a < 2 * chance]
    line = "Test accuracy: " + ", ".join(f"{m} {a:.3f}" for m, a in accuracy.items()) + f" (chance {chance:.3f})."
    if weak:
        line += f" Near chance, so read their rows with care: {', '.join(weak)}."
    return line


def table_text(rows, accuracy, sweep, num_classes: int) -> str:
    """table.md: EF and ΔEF (×10²) per method (rows) and model (columns), as the paper lays it out."""
    models = list(dict.fromkeys(row["model"] for row in rows))
    methods = list(dict.fromkeys(row["method"] for row in rows))
    cell = {(row["model"], row["method"]): row for row in rows}
    n_images = max(row["n_images"] for row in rows)
    lines = ["EF convention: unit frequency scale ω ∈ [0, 1] (the authors' code prints EF/K ×10⁴), shown ×10²; "
             f"ΔEF = |EF − EF(VanillaGrad)|. Mean over {n_images} images (std per cell in gap.csv).", "",
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


def plot_examples(path, examples, images):
    """Fig. 13 analogue: the first image and its channel-summed map per method (rows: models).

    Maps use a colour range symmetric about 0 (red positive, blue negative).
    """
    models = list(examples)
    methods = list(dict.fromkeys(m for per in examples.values() for m in per))
    fig, axes = plots.figure(len(models), len(methods) + 1, figsize=(2 * (len(methods) + 1), 2 * len(models)),
                             squeeze=False)
    for r, model in enumerate(models):
        image = np.clip(images[0], 0, 1).squeeze()
        axes[r, 0].imshow(image, cmap="gray" if image.ndim == 2 else None, vmin=0, vmax=1)
        axes[r, 0].set_ylabel(model, fontsize=8)
        axes[r, 0].set_xticks([])
        axes[r, 0].set_yticks([])
        for c, method in enumerate(methods, start=1):
            ax = axes[r, c]
            ax.axis("off")
            if method in examples[model]:
                heat = examples[model][method][0]
                limit = float(np.abs(heat).max()) or 1.0
                ax.imshow(heat, cmap="coolwarm", vmin=-limit, vmax=limit)
            else:
                ax.text(0.5, 0.5, "undefined" if examples[model] else "diverged", ha="center", va="center",
                        fontsize=7, transform=ax.transAxes)
            if r == 0:
                ax.set_title(method, fontsize=7)
    axes[0, 0].set_title("input", fontsize=7)
    plots.save_with_vector(fig, path)


def plot_sweep(path, sweep):
    """ΔEF against G over the σ grid, one line per model, each point labelled with its σ (diverged models,
    whose numbers are NaN, are left out)."""
    fig, ax = plots.figure(figsize=(5, 4))
    for model in dict.fromkeys(row["model"] for row in sweep):
        points = [(row["gap"], row["delta_ef"], row["sigma"]) for row in sweep
                  if row["model"] == model and row["method"] == "smooth_grad" and np.isfinite(row["gap"])]
        if not points:
            continue
        (line,) = ax.plot([p[0] for p in points], [p[1] for p in points], "o-", label=model)
        for gap, delta, sigma in points:
            ax.annotate(f"σ={sigma:g}", (gap, delta), xytext=(4, 4), textcoords="offset points", fontsize=7,
                        color=line.get_color())
    ax.set_xscale("log")
    ax.margins(0.12)  # room for the σ labels of the outermost points
    ax.set_xlabel("G = E‖∇f − ∇f̂_σ‖² (SmoothGrad)")
    ax.set_ylabel("ΔEF (unit convention)")
    if ax.lines:
        ax.legend(fontsize=7)
    plots.save_with_vector(fig, path)


def run(args) -> tuple[list[dict], list[dict]]:
    """Train or load every model, explain it and write every output; returns (gap rows, σ-sweep rows)."""
    pretrained = load_pretrained(args) if args.pretrained else []
    dataset = load_dataset(args.dataset, img_size=args.img_size, seed=args.seed,
                           max_train=PRETRAINED_TRAIN if pretrained else args.max_train, max_test=args.max_test,
                           data_dir=args.data_dir, split=args.split)
    batch = training_config(args).batch_size
    if not pretrained and dataset.x_train.shape[0] < batch:
        raise validation.UsageError(f"{dataset.name} has {dataset.x_train.shape[0]} training images, fewer than one "
                                    f"training batch of {batch}; use more images (--max-train)")
    images = np.asarray(dataset.x_test[: args.n_images])
    rows, examples, sweep, accuracy, diverged = [], {}, [], {}, []
    for spec, model, variables in tqdm(pretrained or [(spec, None, None) for spec in args.models], desc="models",
                                       unit="model", disable=args.no_progress):
        if model is None:
            model = build_model(spec.family, num_classes=dataset.num_classes, activation=spec.activation,
                                depth=args.depth)
            variables, metadata = trained_variables(spec, model, dataset, args)
            accuracy[spec.name] = metadata.get("test_accuracy", float("nan"))
        else:
            accuracy[spec.name] = pretrained_accuracy(model, variables, images, dataset.y_test[: len(images)], dataset)
        finite = weights_finite(variables)
        if finite:
            model_rows, examples[spec.name], model_sweep = explain_model(spec, model, variables, images, args)
            finite = bool(np.isfinite(next(r["ef"] for r in model_rows if r["method"] == "vanilla_grad")))
        if not finite:  # a diverged network's maps have no meaningful spectrum
            diverged.append(spec.name)
            (model_rows, model_sweep), examples[spec.name] = diverged_rows(spec, len(images), args.sigmas), {}
        points = [(row["delta_ef"], row["gap"]) for row in model_sweep if row["method"] == "smooth_grad"]
        rho = float(spearmanr(*zip(*points)).statistic) if finite and len(points) > 2 else float("nan")
        rows += [{**row, "diverged": not finite} for row in model_rows]
        sweep += [{**row, "spearman_delta_ef_vs_gap": rho, "diverged": not finite} for row in model_sweep]
    if diverged:
        print(f"warning: diverged (non-finite weights or VanillaGrad maps): {', '.join(diverged)}; their EF is NaN "
              "and their rows say diverged=True; lower --lr", file=sys.stderr)
    out = args.out
    atomic.write_csv(out / "gap.csv", rows, GAP_COLUMNS)
    atomic.write_csv(out / "gap_vs_sigma.csv", sweep, SWEEP_COLUMNS)
    classes = pretrained[0][1].num_labels if pretrained else dataset.num_classes
    atomic.write_text(out / "table.md", table_text(rows, accuracy, sweep, classes) + pretrained_notes(pretrained))
    plot_examples(out / "fig_maps.png", examples, images)
    plot_sweep(out / "fig_gap_vs_sigma.png", sweep)
    config = {**vars(args), "models": [spec.name for spec in args.models], "git_commit": provenance.git_commit()}
    atomic.write_json(out / "config.json", config)
    return rows, sweep


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    runtime.use_compile_cache()
    run(args)
    print(f"wrote {args.out}/gap.csv, gap_vs_sigma.csv, table.md, fig_maps.png, fig_gap_vs_sigma.png, config.json")
    return 0


if __name__ == "__main__":
    validation.cli_entry(main, sys.argv[1:])
