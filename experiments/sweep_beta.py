"""β-sweep: train plain conv nets with SoftPlus(β) for a grid of β, explain them, measure EF.

    python -m experiments.sweep_beta [--preset NAME] [--dataset SPEC] [--betas 0.5,1,3,relu] ... --out DIR

Reproduces the paper's Figs. 2, 3 and 5. Every model (β × seed) of a sweep trains in one vectorized,
jit-compiled program; each stops at its own accuracy cap. Finished models and their explanations are
stored under ``DIR/models/`` keyed by every setting that changes their numbers, so an interrupted or
repeated sweep skips what is done (``--fresh`` recomputes). Outputs: results.csv, spectra.csv,
config.json, fig_ef_vs_beta.png, fig_spectra.png, fig_accuracy.png, fig_saliency.png and report.md.
"""

from __future__ import annotations

import dataclasses
import math
import sys
import time
from pathlib import Path
from typing import Sequence

import jax
import numpy as np
from tqdm.auto import tqdm

from experiments import presets, sweep_report
from specxai_jax import activations, numerics, plots, runtime, validation
from specxai_jax.data import load_dataset
from specxai_jax.models import PlainCNN, check_image_fits, init_variables, stack_variables
from specxai_jax.models.cnn_variants import ConvNet
from specxai_jax.models.registry import CONV_VARIANTS
from specxai_jax.pipeline import summarize_saliency
from specxai_jax.sharding import model_mesh
from specxai_jax.store import ResultStore, StoreBusy, config_key, skip_message
from specxai_jax.train import TrainConfig, train_models

STORE_FORMAT = 2  # bump when a code change alters stored numbers, so old entries are not reused
N_EXAMPLES = 6    # saliency maps kept per model for fig_saliency.png
MAX_PARAMETERS = 2**28  # per model (1 GiB of float32 weights, ×4 with Adam and gradients while training)


@dataclasses.dataclass(frozen=True)
class ModelJob:
    """One model of the sweep: its β, seed and store key."""

    beta: float
    seed: int
    key: str


def build_parser() -> validation.OneLineArgumentParser:
    """The command line; every default is None so presets can fill it (see experiments.presets)."""
    parser = validation.OneLineArgumentParser(
        prog="python -m experiments.sweep_beta", description=__doc__.split("\n\n")[0],
        epilog=f"presets: {', '.join(presets.PRESETS)}. Unset flags take the preset's value, else: "
               + ", ".join(f"{k}={v}" for k, v in presets.DEFAULTS.items() if k != "betas"))
    add = parser.add_argument
    add("--preset", choices=list(presets.PRESETS), help="a named setup from the paper's Tab. 3")
    add("--dataset", type=validation.dataset_spec, help="synthetic[:size=..,classes=..,channels=..], tfds:NAME, npz:PATH or folder:PATH")
    add("--data-dir", help="where TFDS keeps prepared datasets (TFDS's default if unset)")
    add("--split", help="tfds: the test split (EVAL) or both (TRAIN,EVAL), e.g. validation or train[:90%%],train[90%%:]")
    add("--activation", choices=[a for a in activations.ACTIVATIONS], help="activation family (default softplus)")
    add("--betas", type=validation.beta_list, help="β grid, e.g. 0.5,1,3,10,relu (relu = inf)")
    add("--seeds", type=validation.seed_list, help="seeds, e.g. 0,1,2 (each seed: its own init and data order)")
    add("--model", choices=list(CONV_VARIANTS), help="plain conv net, or with skip connections and/or batch norm (Fig. 9)")
    add("--depth", type=validation.positive_int, help="conv blocks L")
    add("--width", type=validation.positive_int, help="channels of the first conv block (doubles per block)")
    add("--dense", type=validation.positive_int, help="units of the hidden dense layer")
    add("--img-size", type=validation.positive_int, help="resize images to this many pixels per side")
    add("--lr", type=validation.positive_float, help="Adam learning rate")
    add("--lr-decay", type=validation.fraction, help="learning-rate factor per epoch")
    add("--batch-size", type=validation.positive_int)
    add("--acc-cap", type=validation.fraction, help="stop a model once its test accuracy reaches this")
    add("--no-cap", action="store_true", help="train every model for --max-epochs (Figs. 5–6)")
    add("--max-epochs", type=validation.positive_int)
    add("--input-noise", type=validation.nonnegative_float, help="std of Gaussian noise on training inputs (App. B)")
    add("--max-train", type=validation.positive_int, help="use at most this many training images")
    add("--max-test", type=validation.positive_int, help="use at most this many test images")
    add("--n-explain", type=validation.positive_int, help="test images explained per model")
    add("--explain-noise", type=validation.nonnegative_float,
        help="std of the tiny input noise averaged over for VanillaGrad (authors: √1e-5 ≈ 0.0032; 0: exact)")
    add("--explain-samples", type=validation.positive_int, help="noisy copies averaged when --explain-noise > 0")
    add("--explain-batch", type=validation.positive_int, help="images per explanation batch (memory, not numbers)")
    add("--devices", type=validation.positive_int,
        help="spread the models over this many local devices (default: all; on CPU the host is split into "
             "this many devices, one model training on each; default one per core, at most 8)")
    add("--fresh", action="store_true", help="recompute everything instead of resuming from DIR/models")
    add("--no-progress", action="store_true", help="hide progress bars")
    add("--out", type=validation.writable_dir, default=Path("runs/sweep_beta"), help="output directory")
    return parser


def resolve_settings(args) -> dict:
    """Preset and flags → the full settings dict (names as in config.json)."""
    names = [name for name in presets.DEFAULTS if hasattr(args, name)]
    settings = presets.resolve(args.preset, {name: getattr(args, name) for name in names})
    if args.no_cap:
        settings["acc_cap"] = None
    if settings["activation"] not in activations.SMOOTHED:
        settings["betas"] = [math.inf]  # ReLU and GELU have no β
    settings["data_dir"] = args.data_dir
    settings["split"] = args.split
    settings["preset"] = args.preset
    check_image_fits(settings["img_size"], settings["depth"])
    if settings["explain_noise"] == 0.0:
        settings["explain_samples"] = 1
    return settings


def model_settings(settings: dict, dataset) -> dict:
    """Every setting that changes a trained model's numbers (not β and seed), with the content
    fingerprint of the dataset (so changed data under the same spec is never reused)."""
    names = ("img_size", "max_train", "max_test", "model", "activation", "depth", "width", "dense", "lr", "lr_decay",
             "batch_size", "acc_cap", "max_epochs", "input_noise")
    return {"data": dataset.fingerprint, "format": STORE_FORMAT, **{name: settings[name] for name in names}}


def _number(value, *, nan_ok: bool = False) -> float:
    """A stored JSON number (null reads back as NaN where ``nan_ok``); TypeError/ValueError otherwise."""
    if value is None and nan_ok:
        return math.nan
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"expected a number, got {value!r}")
    if not (nan_ok or math.isfinite(value)):
        raise ValueError(f"expected a finite number, got {value!r}")
    return float(value)


def _count(value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise TypeError(f"expected a count, got {value!r}")
    return value


def _flag(value) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"expected true or false, got {value!r}")
    return value


def check_metadata(metadata: dict) -> None:
    """Raise (TypeError, ValueError, KeyError) unless a stored model's metadata has every field the sweep reads."""
    _number(metadata["test_accuracy"], nan_ok=True), _count(metadata["epochs"]), _flag(metadata["reached_cap"])
    _number(metadata["train_seconds"]), _flag(metadata["diverged"])


def check_record(record: dict) -> None:
    """Raise unless a stored explanation record is complete: finite EF statistics, or NaN (null) ones
    exactly when the model diverged."""
    diverged = _flag(record["diverged"])
    values = [_number(record[name], nan_ok=True) for name in ("ef", "ef_std", "ef_ref")]
    if diverged != (not all(map(math.isfinite, values))):
        raise ValueError(f"EF {values[0]} does not match diverged={diverged}")
    _count(record["n_images"]), _count(record["dead_maps"])


def explain_key(settings: dict) -> str:
    """Key of the explanation settings (a model's results under other settings sit beside)."""
    return config_key({name: settings[name] for name in ("n_explain", "explain_noise", "explain_samples")})


def build_model(settings: dict, num_classes: int):
    """The paper's plain conv net (``model="cnn"``) or its skip / batch-norm variant."""
    options = dict(depth=settings["depth"], width=settings["width"], dense=settings["dense"],
                   num_classes=num_classes, activation=settings["activation"])
    if settings["model"] == "cnn":
        return PlainCNN(**options)
    return ConvNet(**CONV_VARIANTS[settings["model"]], **options)


def device_mesh(count: int | None):
    """A mesh over ``count`` local devices (all by default), or None for a single device."""
    count = len(jax.local_devices()) if count is None else count
    try:
        return model_mesh(count) if count > 1 else None
    except ValueError as error:
        raise validation.UsageError(f"--devices {count}: {error}") from None


def weights_finite(variables: dict) -> bool:
    """True if a network's trained variables are all finite (its constants, such as β = inf, are not checked)."""
    return numerics.all_finite({name: tree for name, tree in variables.items() if name != "constants"})


def train_missing(model, jobs: list[ModelJob], dataset, settings: dict, store: ResultStore, progress: bool,
                  mesh=None) -> dict:
    """Train the jobs without a stored checkpoint (all at once), checkpointing each as it stops.

    Returns {key: (variables, metadata)} of every job, trained now or loaded.
    """
    trained, todo = {}, []
    for job in jobs:
        stored = store.load_checkpoint(job.key, check=check_metadata)
        if stored is None:
            todo.append(job)
        else:
            trained[job.key] = stored
    if len(todo) < len(jobs):
        print(skip_message("training", len(jobs) - len(todo), len(jobs), store.root))
    if not todo:
        return trained
    shape = (1, *dataset.image_shape)
    stacked = stack_variables([init_variables(model, jax.random.key(job.seed), job.beta, shape) for job in todo])
    config = TrainConfig(lr=settings["lr"], batch_size=settings["batch_size"], lr_decay=settings["lr_decay"],
                         acc_cap=settings["acc_cap"], max_epochs=settings["max_epochs"],
                         input_noise=settings["input_noise"])

    start = time.perf_counter()

    def finished(index: int, variables: dict, accuracy: float, epochs: int) -> None:
        job = todo[index]
        reached = settings["acc_cap"] is not None and accuracy >= settings["acc_cap"]
        metadata = {"beta": job.beta, "seed": job.seed, "test_accuracy": accuracy, "epochs": epochs,
                    "reached_cap": reached, "train_seconds": time.perf_counter() - start,
                    "diverged": not weights_finite(variables)}
        trained[job.key] = (variables, store.save_checkpoint(job.key, variables, metadata))

    train_models(model.apply, stacked, dataset, [job.seed for job in todo], config, on_finished=finished,
                 progress=progress, mesh=mesh)
    return trained


def explain_missing(model, jobs: list[ModelJob], trained: dict, images: np.ndarray, settings: dict,
                    store: ResultStore, progress: bool, mesh=None) -> dict:
    """EF statistics of the jobs without a stored result, all models at once, stored per model.

    Returns {key: (record, arrays)} of every job, computed now or loaded.
    """
    ekey = explain_key(settings)
    results = {job.key: store.load_result(job.key, explain_key=ekey, check=check_record) for job in jobs}
    todo = [job for job in jobs if results[job.key] is None]
    if len(todo) < len(jobs):
        print(skip_message("explaining", len(jobs) - len(todo), len(jobs), store.root))
    if not todo:
        return results
    stacked = stack_variables([trained[job.key][0] for job in todo])
    bar = tqdm(total=len(images) * len(todo), desc=f"explaining {len(todo)} models", unit="map",
               disable=not progress)
    summary = summarize_saliency(model.apply, stacked, images, batch_size=settings["explain_batch"],
                                 noise_std=settings["explain_noise"], samples=settings["explain_samples"],
                                 n_examples=N_EXAMPLES, progress=bar.update, mesh=mesh)
    bar.close()
    labels = [f"{settings['activation']} {plots.beta_label(job.beta)} seed {job.seed}" for job in todo]
    dead = numerics.warn_dead_maps(summary.dead_maps, summary.n_images, labels)
    for index, job in enumerate(todo):
        arrays = {"spectrum": summary.mean_spectrum[index], "examples": summary.examples[index]}
        ef = (summary.ef_mean[index], summary.ef_std[index], summary.ef_authors[index])
        diverged = (trained[job.key][1]["diverged"] or not np.isfinite(ef).all()
                    or not numerics.all_finite(arrays))
        if diverged:  # a diverged network's maps have no meaningful spectrum
            ef, arrays["spectrum"] = (math.nan,) * 3, np.full_like(arrays["spectrum"], np.nan)
        record = {"ef": ef[0], "ef_std": ef[1], "ef_ref": ef[2], "n_images": summary.n_images,
                  "dead_maps": dead[index], "diverged": bool(diverged)}
        results[job.key] = (store.save_result(job.key, record, arrays, explain_key=ekey), arrays)
    return results


def collect(jobs: list[ModelJob], settings: dict, trained: dict, results: dict) -> list[dict]:
    """One row per model: training metadata + explanation record + arrays."""
    rows = []
    for job in jobs:
        metadata, (record, arrays) = trained[job.key][1], results[job.key]
        ef = {name: _number(record[name], nan_ok=True) for name in ("ef", "ef_std", "ef_ref")}  # null: NaN
        rows.append({"activation": settings["activation"], "beta": job.beta, "seed": job.seed,
                     "test_accuracy": _number(metadata["test_accuracy"], nan_ok=True), "epochs": metadata["epochs"],
                     "reached_cap": metadata["reached_cap"], "train_seconds": metadata["train_seconds"],
                     **record, **ef, "spectrum": arrays["spectrum"], "examples": arrays["examples"]})
    return rows


def check_model_size(settings: dict) -> None:
    """UsageError, before any data is loaded, for a model too large to hold (counted with 1 channel and
    2 classes: a lower bound, as the dense layer dominates)."""
    model = build_model(settings, 2)
    shape = (1, settings["img_size"], settings["img_size"], 1)
    shapes = jax.eval_shape(lambda: init_variables(model, jax.random.key(0), 1.0, shape))
    size = sum(math.prod(leaf.shape) for leaf in jax.tree.leaves(shapes))
    if size > MAX_PARAMETERS:
        raise validation.UsageError(f"the model would have {size:,} parameters (more than {MAX_PARAMETERS:,}) at "
                                    f"--img-size {settings['img_size']} and --depth {settings['depth']}; "
                                    "use smaller images, more depth or a narrower --dense")


def check_trainable(settings: dict, dataset) -> None:
    """UsageError, before anything is trained, for a training set smaller than one batch."""
    count, batch = dataset.x_train.shape[0], settings["batch_size"]
    if count < batch:
        raise validation.UsageError(f"{dataset.name} has {count} training images, fewer than one batch of "
                                    f"--batch-size {batch}; use --batch-size {count} or less, or more images")


def run(settings: dict, out: Path, *, fresh: bool = False, progress: bool = True, devices: int | None = None) -> list[dict]:
    """The whole sweep for ``settings`` (see resolve_settings); writes every output into ``out``.

    ``devices``: local devices the models are spread over (all by default).
    """
    mesh = device_mesh(devices)
    check_model_size(settings)
    dataset = load_dataset(settings["dataset"], img_size=settings["img_size"], seed=0,
                           max_train=settings["max_train"], max_test=settings["max_test"],
                           data_dir=settings["data_dir"], split=settings["split"])
    print(f"dataset {dataset.name}: {dataset.x_train.shape[0]} train / {dataset.x_test.shape[0]} test images "
          f"{dataset.image_shape}, {dataset.num_classes} classes; {1 if mesh is None else mesh.size} "
          f"{jax.devices()[0].platform} device(s)")
    base = model_settings(settings, dataset)
    jobs = [ModelJob(beta, seed, config_key({**base, "beta": beta, "seed": seed}))
            for beta in settings["betas"] for seed in settings["seeds"]]
    model = build_model(settings, dataset.num_classes)
    check_trainable(settings, dataset)
    if settings["n_explain"] > dataset.x_test.shape[0]:
        print(f"note: --n-explain {settings['n_explain']} is more than the {dataset.x_test.shape[0]} test images; "
              f"explaining all {dataset.x_test.shape[0]}", file=sys.stderr)
        settings = {**settings, "n_explain": dataset.x_test.shape[0]}
    store = ResultStore(out)
    try:
        with store.lock():
            if fresh:
                store.clear()
            trained = train_missing(model, jobs, dataset, settings, store, progress, mesh)
            images = dataset.x_test[: settings["n_explain"]]
            results = explain_missing(model, jobs, trained, images, settings, store, progress, mesh)
            rows = collect(jobs, settings, trained, results)
            diverged = [f"{settings['activation']} {plots.beta_label(row['beta'])} seed {row['seed']}"
                        for row in rows if row["diverged"]]
            if diverged:
                print(f"warning: diverged (non-finite weights or saliency maps): {', '.join(diverged)}; their EF is "
                      "NaN and their rows say diverged=True; lower --lr or change β", file=sys.stderr)
            sweep_report.write_outputs(out, rows, settings, images[:N_EXAMPLES],
                                       labels=[f"class {c}" for c in dataset.y_test[:N_EXAMPLES]])
    except StoreBusy as error:
        raise validation.UsageError(str(error)) from None
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    runtime.use_compile_cache()
    runtime.use_cpu_devices(args.devices)   # before JAX starts; only the CPU backend reads it
    try:
        settings = resolve_settings(args)
    except ValueError as error:
        raise validation.UsageError(str(error)) from None
    rows = run(settings, args.out, fresh=args.fresh, progress=not args.no_progress, devices=args.devices)
    print(sweep_report.summary_line(rows, settings))
    print(f"wrote {args.out}/results.csv, spectra.csv, config.json, figures and report.md")
    return 0


if __name__ == "__main__":
    validation.cli_entry(main, sys.argv[1:])
