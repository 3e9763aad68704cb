"""Explanation gap of post-hoc methods (the paper's Tables 1, 2 and 4, Fig. 13): :func:`run` a :class:`GapConfig`.

For every model (trained, or loaded from ``checkpoint_dir``; or a pretrained Hugging Face checkpoint)
and method: EF of the channel-summed maps (unit convention, ω ∈ [0, 1]), its signed change
EF − EF(VanillaGrad), ΔEF = |EF − EF(VanillaGrad)| and the pixel gap (mean squared difference of rank-normalized maps to VanillaGrad's). For SmoothGrad
over a σ grid and for IntGrad, the direct gap G = ‖∇f − ∇f̂‖² between the gradient and the surrogate
gradient the method explains, and the Spearman correlation of ΔEF(σ) with G(σ). A diverged model
(weights or VanillaGrad EF not finite) gets NaN numbers and ``diverged`` True in its rows. The rows are
:class:`~specxai_jax.results.GapRow` and :class:`~specxai_jax.results.SigmaRow` records; the checks of the
paper's claims (:func:`specxai_jax.gap.report.checks`) go to checks.json.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import numbers
import sys
from collections.abc import Sequence
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from tqdm.auto import tqdm

from specxai_jax import results, spectral, stats
from specxai_jax.attribution import METHODS
from specxai_jax.attribution.core import image_noise, noisy_gradient, resolve_target, score_gradient
from specxai_jax.attribution.integrated import path_gradient
from specxai_jax.configs import GapConfig
from specxai_jax.data import load_dataset
from specxai_jax.errors import UsageError
from specxai_jax.gap import report as gap_report
from specxai_jax.gap.report import pretrained_notes, table_text
from specxai_jax.models import check_image_fits, from_pretrained, init_variables, stack_variables
from specxai_jax.models.hf_resnet import ResNetForImageClassification
from specxai_jax.models.hf_vit import ViTForImageClassification
from specxai_jax.models.registry import CONV_VARIANTS, ModelSpec, build_model, parse_model_spec
from specxai_jax.ops import fast_forms
from specxai_jax.plots.gap import plot_examples, plot_sweep
from specxai_jax.results import Check, GapRow, SigmaRow
from specxai_jax.storage import atomic, provenance
from specxai_jax.storage.store import (
    ResultStore,
    StoreBusy,
    canonical_settings,
    config_key,
    model_settings,
    skip_message,
)
from specxai_jax.training.train import TrainConfig, train_models

GAP_COLUMNS = results.columns(GapRow)
SWEEP_COLUMNS = results.columns(SigmaRow)
CHECKPOINT_FORMAT = 2  # bump when a code change alters trained numbers, so old checkpoints are not reused
VIT_PATCH = 4          # the ViT's default patch size: images must be a multiple of it
EXPLAIN_BATCH = 32     # images per compiled explanation call
N_EXAMPLES = 4         # maps per method kept for the figure
PRETRAINED_TRAIN = 32  # training images a pretrained run loads (unused; the loaders want ≥ 2 classes)
PRETRAINED_IMG_SIZE = 224  # image side for pretrained ResNets when no ViT fixes it
IMAGENETTE_TO_IMAGENET = (0, 217, 482, 491, 497, 566, 569, 571, 574, 701)
"""ImageNet class index of each Imagenette class (its sorted WordNet ids: tench … parachute)."""


@dataclasses.dataclass(frozen=True)
class GapResult:
    """What :func:`run` wrote: ``rows`` (gap.csv: the fields of :class:`~specxai_jax.results.GapRow`),
    ``sweep`` (gap_vs_sigma.csv: :class:`~specxai_jax.results.SigmaRow`'s), the resolved image side, the
    GradCAM layer of each pretrained checkpoint ({} when training), the class count, each model's test
    accuracy (pretrained: on the explained images) and the checks (checks.json)."""

    rows: list[dict]
    sweep: list[dict]
    img_size: int
    gradcam_layers: dict[str, str]
    num_classes: int
    accuracy: dict[str, float]
    checks: list[Check]


@dataclasses.dataclass(frozen=True)
class PretrainedSpec:
    """A checkpoint explained as is: its name, family (resnet/vit), activation, GradCAM layer and, for a
    ViT, its patch tokens per side."""

    name: str
    family: str
    activation: str
    gradcam_layer: str
    token_grid: int | None = None
    beta: float = float("inf")


PretrainedModel = ResNetForImageClassification | ViTForImageClassification
PretrainedJob = tuple[PretrainedSpec, PretrainedModel, dict]
"""(spec, Flax model, variables) of one loaded checkpoint."""


# -- settings --------------------------------------------------------------------------------------


def validate(config: GapConfig) -> None:
    """Raise UsageError (a ValueError) for settings that cannot work, before anything is loaded."""
    if config.samples < 2:
        raise UsageError(f"`samples` must be at least 2 (G averages two independent halves), got {config.samples}")
    if not config.sigmas or min(config.sigmas) <= 0:
        raise UsageError(f"`sigmas` needs positive noise levels, got {list(config.sigmas)}")
    if config.pretrained:
        return  # the models are the checkpoints; their image size is resolved when they load
    if not config.models:
        raise UsageError("`models` is empty: name at least one model (or `pretrained` checkpoints)")
    specs = model_specs(config)
    names = [spec.name for spec in specs]
    if len(set(names)) < len(names):
        raise UsageError(f"`models` lists {sorted({n for n in names if names.count(n) > 1})} more than once")
    if config.img_size is None:
        raise UsageError("`img_size` is needed to train models (only `pretrained` runs take the checkpoints' size)")
    for spec in specs:
        if spec.family in CONV_VARIANTS:
            try:
                check_image_fits(config.img_size, config.depth or 3)
            except ValueError as error:
                raise UsageError(str(error)) from None
        if spec.family == "vit" and config.img_size % VIT_PATCH:
            raise UsageError(f"{spec.name} needs `img_size` a multiple of {VIT_PATCH}, got {config.img_size}")


def model_specs(config: GapConfig) -> list[ModelSpec]:
    """The parsed ``models`` (none when ``pretrained`` is given: the checkpoints are the models)."""
    if config.pretrained:
        return []
    try:
        return [parse_model_spec(text) for text in config.models]
    except ValueError as error:
        raise UsageError(str(error)) from None


def training_config(config: GapConfig) -> TrainConfig:
    """How every model of this run is trained."""
    return TrainConfig(lr=config.lr, acc_cap=config.acc_cap, max_epochs=config.max_epochs)


def method_options(config: GapConfig, key: jax.Array) -> dict[str, dict]:
    """Keyword options of the methods that take any in this experiment."""
    return {"smooth_grad": dict(sigma=config.smooth_sigma, samples=config.samples, key=key),
            "integrated_gradients": dict(steps=config.ig_steps)}


# -- trained models, stored in checkpoint_dir --------------------------------------------------------


def checkpoint_settings(spec: ModelSpec, config: GapConfig, dataset) -> dict:
    """Every setting that changes a trained model's numbers, in the store's one key scheme
    (:func:`~specxai_jax.storage.store.model_settings`: with the dataset's content fingerprint); its
    :func:`~specxai_jax.storage.store.config_key` names the model's store entry."""
    return model_settings(dataset.fingerprint, CHECKPOINT_FORMAT,
                          {"model": spec.name, "img_size": config.img_size, "depth": config.depth, "seed": config.seed,
                           "training": dataclasses.asdict(training_config(config))})


def _metadata_check(settings: dict):
    """A store ``check``: raises unless stored metadata has these settings, an accuracy and an epoch count."""
    wanted = canonical_settings(settings)

    def check(metadata: dict) -> None:
        stored = canonical_settings({name: metadata[name] for name in settings})
        if stored != wanted:
            raise ValueError(f"it was made with other settings ({stored})")
        if isinstance(metadata["test_accuracy"], bool) or not isinstance(metadata["test_accuracy"], numbers.Real):
            raise TypeError(f"test_accuracy {metadata['test_accuracy']!r} is not a number")
        if isinstance(metadata["epochs"], bool) or not isinstance(metadata["epochs"], int):
            raise TypeError(f"epochs {metadata['epochs']!r} is not an integer")

    return check


def trained_variables(spec: ModelSpec, model, dataset, config: GapConfig,
                      store: ResultStore | None) -> tuple[dict, dict, bool]:
    """(variables, metadata, reused) of one model: the stored one when ``store`` holds a model of exactly
    these settings, else trained now (and saved in ``store`` unless it is None)."""
    settings = checkpoint_settings(spec, config, dataset)
    key = config_key(settings)
    if store is not None:
        stored = store.load_checkpoint(key, check=_metadata_check(settings))
        if stored is not None:
            return (*stored, True)
    shape = (1, *dataset.x_train.shape[1:])
    variables = stack_variables([init_variables(model, jax.random.key(config.seed), spec.beta, shape)])
    result = train_models(model.apply, variables, dataset, [config.seed], training_config(config), progress=False)
    variables = jax.tree.map(lambda leaf: leaf[0], result.variables)
    metadata = {**settings, "key": key, "test_accuracy": float(result.test_accuracy[0]),
                "epochs": int(result.epochs[0])}
    if store is not None:
        metadata = store.save_checkpoint(key, variables, metadata)
    return variables, metadata, False


# -- pretrained checkpoints -------------------------------------------------------------------------


def load_pretrained(config: GapConfig) -> tuple[list[PretrainedJob], int]:
    """((spec, model, variables) of every ``pretrained`` checkpoint, the image side): the ViTs' size, else
    ``img_size`` or 224. UsageError when the ViTs disagree with each other or with ``img_size``."""
    loaded: list[PretrainedJob] = []
    for name in config.pretrained:
        model, variables = from_pretrained(name)
        is_vit = hasattr(model, "image_size")
        label = Path(name).name if Path(name).is_dir() else name
        grid = model.image_size // model.patch_size if is_vit else None
        loaded.append((PretrainedSpec(label, "vit" if is_vit else "resnet", model.hidden_act, model.gradcam_layer,
                                      grid), model, variables))
    sizes = {model.image_size for _, model, _ in loaded if hasattr(model, "image_size")}
    if len(sizes) > 1 or (sizes and config.img_size not in (None, *sizes)):
        raise UsageError(f"the ViT checkpoints take {sorted(sizes)} px images, not `img_size` {config.img_size}; "
                         "explain them in separate runs")
    return loaded, sizes.pop() if sizes else config.img_size or PRETRAINED_IMG_SIZE


def pretrained_accuracy(model, variables, images: np.ndarray, labels: np.ndarray, dataset) -> float:
    """Top-1 accuracy on ``images`` (N, H, W, C): Imagenette through ImageNet's class indices, a dataset
    with the checkpoint's class count (ImageNet: TFDS or class folders in WordNet-id order) as is; else NaN."""
    logits = np.concatenate([np.asarray(model.apply(variables, images[i:i + EXPLAIN_BATCH]))
                             for i in range(0, len(images), EXPLAIN_BATCH)])
    if "imagenette" in dataset.name.lower() and dataset.num_classes == 10 and logits.shape[1] == 1000:
        labels = np.asarray(IMAGENETTE_TO_IMAGENET)[labels]
    elif dataset.num_classes != logits.shape[1]:
        return float("nan")
    return float((logits.argmax(axis=1) == labels).mean())


# -- the direct gap G -------------------------------------------------------------------------------


def smooth_gap(apply_fn, variables, x: jax.Array, index: jax.Array, key: jax.Array, sigma: float,
               samples: int) -> tuple[jax.Array, jax.Array]:
    """(G per image (B,), SmoothGrad maps (B, H, W)) for images x (B, H, W, C).

    G = ⟨∇f − ĝ₁, ∇f − ĝ₂⟩ with ĝ₁, ĝ₂ the SmoothGrad averages of two independent halves of the
    ``samples`` noise draws: an unbiased estimate of ‖∇f − E ∇f(x + ε)‖² (the squared norm of one
    average would add the Monte-Carlo variance). The noise is SmoothGrad's own (image b keyed by
    ``fold_in(key, index[b])``), so the maps equal ``smooth_grad(..., key=key, index=index)`` summed
    over channels for an even ``samples``.
    """
    target = resolve_target(apply_fn, variables, x, None)
    grad = score_gradient(apply_fn, variables, x, target)
    noise = image_noise(key, index, x.shape[1:], sigma, samples).astype(x.dtype)
    half = samples // 2
    first = noisy_gradient(apply_fn, variables, x, target, noise[:half])
    second = noisy_gradient(apply_fn, variables, x, target, noise[half:2 * half])
    gap = ((grad - first) * (grad - second)).sum(axis=(1, 2, 3))
    return gap, (0.5 * (first + second)).sum(axis=-1)


def intgrad_gap(apply_fn, variables, x: jax.Array, steps: int) -> jax.Array:
    """‖∇f(x) − ∫₀¹∇f(αx)dα‖² per image (B,): IntGrad's surrogate gradient (zero baseline) vs ∇f."""
    target = resolve_target(apply_fn, variables, x, None)
    grad = score_gradient(apply_fn, variables, x, target)
    surrogate = path_gradient(apply_fn, variables, x, target, jnp.zeros_like(x), steps, "gausslegendre", "log_prob")
    return ((grad - surrogate) ** 2).sum(axis=(1, 2, 3))


def _batched(compute, variables, images: np.ndarray):
    """compute(variables, x, index) over batches of EXPLAIN_BATCH images (index: their positions in
    ``images``), outputs concatenated along the image axis."""
    outputs = [compute(variables, jnp.asarray(images[i:i + EXPLAIN_BATCH]),
                       jnp.arange(i, min(i + EXPLAIN_BATCH, len(images))))
               for i in range(0, len(images), EXPLAIN_BATCH)]
    return jax.tree.map(lambda *parts: jnp.concatenate(parts), *outputs)


def _channel_maps(method, apply_fn, options, variables, x, index):
    """Channel-summed maps (B, H, W) of one method; SmoothGrad's noise keyed by image position."""
    extra = {"index": index} if method == "smooth_grad" else {}
    return METHODS[method](apply_fn, variables, x, None, **options, **extra).sum(axis=-1)


def method_applies(method: str, spec) -> bool:
    """LRP is defined for ReLU conv nets without BN/skips only (printed "undefined" otherwise)."""
    return method != "lrp" or (spec.family == "cnn" and np.isinf(spec.beta) and spec.activation != "gelu")


def explain_model(spec, model, variables, images: np.ndarray,
                  config: GapConfig) -> tuple[list[dict], dict[str, np.ndarray], list[dict]]:
    """Rows of gap.csv, example maps (N_EXAMPLES, H, W) per method, and σ-sweep rows of one model."""
    key = jax.random.key(config.seed)
    options = method_options(config, key)
    if isinstance(spec, PretrainedSpec):
        options.update(gradcam=dict(layer=spec.gradcam_layer), guided_gradcam=dict(layer=spec.gradcam_layer))
    ranked, rows, examples = {}, [], {}
    for method in METHODS:
        if not method_applies(method, spec):
            rows.append({"model": spec.name, "activation": spec.activation, "method": method, "ef": float("nan"),
                         "ef_std": float("nan"), "n_images": 0})
            continue
        compute = fast_forms.jit(functools.partial(_channel_maps, method, model.apply, options.get(method, {})))
        maps = _batched(compute, variables, images)
        ranked[method] = spectral.rank_normalize(maps)
        examples[method] = np.asarray(maps[:N_EXAMPLES])
        ef = np.asarray(spectral.expected_frequency(maps))
        rows.append({"model": spec.name, "activation": spec.activation, "method": method,
                     "ef": float(ef.mean()), "ef_std": float(ef.std()), "n_images": len(images)})
    reference = next(row["ef"] for row in rows if row["method"] == "vanilla_grad")
    for row in rows:
        row["ef_change"] = row["ef"] - reference
        row["delta_ef"] = abs(row["ef_change"])
        ranks = ranked.get(row["method"])
        row["pixel_gap"] = float(((ranks - ranked["vanilla_grad"]) ** 2).mean()) if ranks is not None else float("nan")
    sweep = []
    smooth = fast_forms.jit(lambda variables, x, index, sigma: smooth_gap(model.apply, variables, x, index, key,
                                                                           sigma, config.samples))
    for sigma in config.sigmas:
        gap, maps = _batched(lambda v, x, index: smooth(v, x, index, sigma), variables, images)
        smooth_ef = float(spectral.expected_frequency(maps).mean())
        sweep.append({"model": spec.name, "method": "smooth_grad", "sigma": sigma, "ef": smooth_ef,
                      "delta_ef": abs(smooth_ef - reference), "ef_change": smooth_ef - reference,
                      "gap": float(gap.mean())})
    intgrad = fast_forms.jit(lambda variables, x, index: intgrad_gap(model.apply, variables, x, config.ig_steps))
    ig_row = next(row for row in rows if row["method"] == "integrated_gradients")
    sweep.append({"model": spec.name, "method": "integrated_gradients", "sigma": float("nan"), "ef": ig_row["ef"],
                  "delta_ef": ig_row["delta_ef"], "ef_change": ig_row["ef_change"], "gap": float(_batched(intgrad, variables, images).mean())})
    return rows, examples, sweep


def diverged_rows(spec, n_images: int, sigmas) -> tuple[list[dict], list[dict]]:
    """(gap.csv rows, σ-sweep rows) of a diverged model: every number NaN, ``diverged`` True."""
    nan = float("nan")
    rows = [{"model": spec.name, "activation": spec.activation, "method": method, "ef": nan, "ef_std": nan,
             "delta_ef": nan, "ef_change": nan, "pixel_gap": nan, "n_images": n_images, "diverged": True}
            for method in METHODS]
    sweep = [{"model": spec.name, "method": "smooth_grad", "sigma": sigma, "ef": nan, "delta_ef": nan, "ef_change": nan,
              "gap": nan, "diverged": True} for sigma in sigmas]
    sweep.append({"model": spec.name, "method": "integrated_gradients", "sigma": nan, "ef": nan, "delta_ef": nan,
                  "ef_change": nan, "gap": nan, "diverged": True})
    return rows, sweep


# -- the whole run ----------------------------------------------------------------------------------


def run(config: GapConfig, out: Path, *, progress: bool = True, fresh: bool = False) -> GapResult:
    """Train (or load from ``config.checkpoint_dir``) or load every model, explain it, and write gap.csv,
    gap_vs_sigma.csv, checks.json, table.md, fig_maps and fig_gap_vs_sigma (PNG and PDF) and config.json into ``out``.

    ``fresh``: retrain every model instead of reusing those stored in ``checkpoint_dir`` (which is
    cleared). Raises UsageError for settings that cannot work (:func:`validate`).
    """
    validate(config)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    pretrained: list[PretrainedJob] = []
    if config.pretrained:
        pretrained, img_size = load_pretrained(config)
    else:
        assert config.img_size is not None, "validate() refuses training without img_size"
        img_size = config.img_size
    dataset = load_dataset(config.dataset, img_size=img_size, seed=config.seed,
                           max_train=PRETRAINED_TRAIN if pretrained else config.max_train, max_test=config.max_test,
                           data_dir=config.data_dir, split=config.split)
    batch = training_config(config).batch_size
    if not pretrained and dataset.x_train.shape[0] < batch:
        raise UsageError(f"{dataset.name} has {dataset.x_train.shape[0]} training images, fewer than one "
                         f"training batch of {batch}; use more images (`max_train`)")
    images = np.asarray(dataset.x_test[: config.n_explain])
    store = ResultStore(config.checkpoint_dir) if config.checkpoint_dir and not pretrained else None
    to_train: list[tuple[ModelSpec, None, None]] = [(spec, None, None) for spec in model_specs(config)]
    jobs: Sequence[PretrainedJob | tuple[ModelSpec, None, None]] = pretrained or to_train
    rows, examples, sweep, accuracy, diverged, reused = [], {}, [], {}, [], 0
    try:
        with store.lock() if store is not None else contextlib.nullcontext():
            if fresh and store is not None:
                store.clear()
            for spec, model, variables in tqdm(jobs, desc="models", unit="model", disable=not progress):
                if isinstance(spec, ModelSpec):  # a model to train (or reload), not a checkpoint
                    model = build_model(spec.family, num_classes=dataset.num_classes, activation=spec.activation,
                                        depth=config.depth)
                    variables, metadata, was_stored = trained_variables(spec, model, dataset, config, store)
                    reused += was_stored
                    accuracy[spec.name] = metadata["test_accuracy"]
                else:
                    accuracy[spec.name] = pretrained_accuracy(model, variables, images,
                                                              dataset.y_test[: len(images)], dataset)
                finite = stats.weights_finite(variables)
                if finite:
                    model_rows, examples[spec.name], model_sweep = explain_model(spec, model, variables, images, config)
                    finite = bool(np.isfinite(next(r["ef"] for r in model_rows if r["method"] == "vanilla_grad")))
                if not finite:  # a diverged network's maps have no meaningful spectrum
                    diverged.append(spec.name)
                    (model_rows, model_sweep), examples[spec.name] = diverged_rows(spec, len(images), config.sigmas), {}
                points = [(row["delta_ef"], row["gap"]) for row in model_sweep if row["method"] == "smooth_grad"]
                rho = stats.spearman(*zip(*points)) if finite and len(points) > 2 else float("nan")
                rows += [dataclasses.asdict(GapRow(**{**row, "diverged": not finite})) for row in model_rows]
                sweep += [dataclasses.asdict(SigmaRow(**{**row, "spearman_delta_ef_vs_gap": rho, "diverged": not finite}))
                          for row in model_sweep]
    except StoreBusy as error:
        raise UsageError(str(error)) from None
    if reused and store is not None:
        print(skip_message("training", reused, len(jobs), store.root))
    if diverged:
        print(f"warning: diverged (non-finite weights or VanillaGrad maps): {', '.join(diverged)}; their EF is NaN "
              "and their rows say diverged=True; lower --lr", file=sys.stderr)
    num_classes = pretrained[0][1].num_labels if pretrained else dataset.num_classes
    layers = {spec.name: spec.gradcam_layer for spec, _, _ in pretrained}
    atomic.write_csv(out / "gap.csv", rows, GAP_COLUMNS)
    atomic.write_csv(out / "gap_vs_sigma.csv", sweep, SWEEP_COLUMNS)
    computed = gap_report.checks(rows, sweep)
    results.write_checks(out, computed)
    atomic.write_text(out / "table.md", table_text(rows, accuracy, sweep, num_classes, computed)
                      + pretrained_notes([spec for spec, _, _ in pretrained]))
    plot_examples(out / "fig_maps.png", examples, images)
    plot_sweep(out / "fig_gap_vs_sigma.png", sweep)
    resolved = {"models": [spec.name for spec in model_specs(config)], "img_size": img_size,
                "gradcam_layers": layers, "num_classes": num_classes, "score": "log_prob"}
    atomic.write_json(out / "config.json", {**dataclasses.asdict(config), **resolved,
                                            "git_commit": provenance.git_commit()})
    return GapResult(rows, sweep, img_size, layers, num_classes, accuracy, computed)
