"""The β-sweep: train conv nets of activation smoothness β for a grid of β and seeds, explain them, measure EF.

``run(config, out)`` reproduces the paper's Figs. 2, 3 and 5 for one :class:`~specxai_jax.configs.SweepConfig`.
Every model (β × seed) trains through one compiled step (:func:`specxai_jax.training.train.train_models`: one model
per CPU device, or all of them vmapped on accelerators); each stops at its own accuracy cap.
Finished models and their explanations are stored under ``out/models/`` keyed by every setting that
changes their numbers, so an interrupted or repeated sweep skips what is done (``fresh=True`` recomputes).
Outputs (:mod:`specxai_jax.sweep.report`): results.csv, history.csv, spectra.csv, config.json, four figures, report.md.
With ``matched_epochs`` N (and a cap), the β grid is trained a second time for exactly N epochs without the cap
(its own store entries, so it resumes too): matched_results.csv, and the report's training-length controls.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import math
import sys
from pathlib import Path

import jax
import numpy as np
from tqdm.auto import tqdm

from specxai_jax import plots, stats
from specxai_jax.configs import SweepConfig
from specxai_jax.data import load_dataset
from specxai_jax.errors import UsageError
from specxai_jax.models import check_image_fits, init_variables, stack_variables
from specxai_jax.ops import activations
from specxai_jax.pipeline import summarize_saliency
from specxai_jax.results import ModelResult
from specxai_jax.storage.store import ResultStore, StoreBusy, config_key, skip_message
from specxai_jax.storage.store import model_settings as store_settings
from specxai_jax.sweep import report as sweep_report
from specxai_jax.sweep.models import load_model, sweep_model  # noqa: F401 (public: load_model)
from specxai_jax.training import distributed
from specxai_jax.training.sharding import model_mesh
from specxai_jax.training.train import TrainConfig, train_models

STORE_FORMAT = 2  # bump when a code change alters stored numbers, so old entries are not reused
N_EXAMPLES = 6    # saliency maps kept per model for fig_saliency.png
MAX_PARAMETERS = 2**28  # per model (1 GiB of float32 weights, ×4 with Adam and gradients while training)
MODEL_SETTINGS = ("img_size", "max_train", "max_test", "model", "activation", "depth", "width", "dense", "lr",
                  "lr_decay", "batch_size", "acc_cap", "max_epochs", "input_noise")
"""The settings that change a trained model's numbers (besides its β, seed and data): its store key."""
EXPLAIN_SETTINGS = ("n_explain", "explain_noise", "explain_samples")
"""The settings that change a model's explanation record: its key within the model's store entry."""
RECORD_FORMAT = 2  # of an explanation record (2: with ef_raw); part of its key, so older records are recomputed


@dataclasses.dataclass(frozen=True)
class ModelJob:
    """One model of the sweep: its β, seed, store key and EF-penalty weight λ (0: plain training)."""

    beta: float
    seed: int
    key: str
    ef_penalty: float = 0.0


def resolve(config: SweepConfig) -> SweepConfig:
    """``config`` as the sweep runs it: β and seeds as tuples of float and int; one β (inf) for an
    activation without β (ReLU, GELU); one explanation sample when ``explain_noise`` is 0.

    Raises ValueError when ``depth`` poolings do not fit ``img_size``, an EF-penalty weight is negative, or
    for ``matched_epochs`` without a cap or below 1.
    """
    check_image_fits(config.img_size, config.depth)
    if not config.ef_penalty or not all(math.isfinite(w) and w >= 0 for w in config.ef_penalty):
        raise ValueError(f"ef_penalty needs finite weights λ ≥ 0, got {list(config.ef_penalty)}")
    if config.matched_epochs is not None:
        if config.acc_cap is None:
            raise ValueError("`matched_epochs` needs an accuracy cap: without one every model already trains "
                             "`max_epochs` epochs")
        if config.matched_epochs < 1:
            raise ValueError(f"`matched_epochs` {config.matched_epochs}: give at least 1")
    smoothed = config.activation in activations.SMOOTHED
    return dataclasses.replace(
        config, betas=tuple(map(float, config.betas)) if smoothed else (math.inf,),
        seeds=tuple(map(int, config.seeds)), ef_penalty=tuple(map(float, config.ef_penalty)),
        explain_samples=1 if config.explain_noise == 0.0 else config.explain_samples)


def model_settings(config: SweepConfig, dataset) -> dict:
    """Every setting that changes a trained model's numbers (not β and seed), in the store's one key scheme
    (:func:`~specxai_jax.storage.store.model_settings`: with the dataset's content fingerprint)."""
    return store_settings(dataset.fingerprint, STORE_FORMAT, {name: getattr(config, name) for name in MODEL_SETTINGS})


def matched_config(config: SweepConfig) -> SweepConfig:
    """The matched-epoch run of ``config``: no cap, exactly ``matched_epochs`` epochs; ValueError without them."""
    if config.matched_epochs is None:
        raise ValueError("no `matched_epochs` to train")
    return dataclasses.replace(config, acc_cap=None, max_epochs=config.matched_epochs)


def model_jobs(config: SweepConfig, dataset) -> list[ModelJob]:
    """The sweep's models (λ-major, then β, then seed) with their store keys; λ joins a key only when non-zero,
    so the keys of plain training are those of sweeps made before EF-regularized training existed."""
    base = model_settings(config, dataset)
    return [ModelJob(beta, seed, config_key({**base, "beta": beta, "seed": seed,
                                             **({"ef_penalty": weight} if weight else {})}), weight)
            for weight in config.ef_penalty for beta in config.betas for seed in config.seeds]


def explain_key(config: SweepConfig) -> str:
    """Key of the explanation settings (a model's results under other settings sit beside)."""
    return config_key({**{name: getattr(config, name) for name in EXPLAIN_SETTINGS}, "record_format": RECORD_FORMAT})


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
    values = [_number(record[name], nan_ok=True) for name in ("ef", "ef_std", "ef_ref", "ef_raw")]
    if diverged != (not all(map(math.isfinite, values))):
        raise ValueError(f"EF {values[0]} does not match diverged={diverged}")
    _count(record["n_images"]), _count(record["dead_maps"])


def device_mesh(count: int | None):
    """A mesh over ``count`` local devices (all by default), or None for a single device."""
    count = len(jax.local_devices()) if count is None else count
    try:
        return model_mesh(count) if count > 1 else None
    except ValueError as error:
        raise UsageError(f"`devices` {count}: {error}") from None


def check_model_size(config: SweepConfig) -> None:
    """UsageError, before any data is loaded, for a model too large to hold (counted with 1 channel and
    2 classes: a lower bound, as the dense layer dominates)."""
    model = sweep_model(config, 2)
    shape = (1, config.img_size, config.img_size, 1)
    shapes = jax.eval_shape(lambda: init_variables(model, jax.random.key(0), 1.0, shape))
    size = sum(math.prod(leaf.shape) for leaf in jax.tree.leaves(shapes))
    if size > MAX_PARAMETERS:
        raise UsageError(f"the model would have {size:,} parameters (more than {MAX_PARAMETERS:,}) at "
                                    f"`img_size` {config.img_size} and `depth` {config.depth}; "
                                    "use smaller images, more depth or a narrower `dense`")


def check_trainable(config: SweepConfig, dataset) -> None:
    """UsageError, before anything is trained, for a training set smaller than one batch."""
    count, batch = dataset.x_train.shape[0], config.batch_size
    if count < batch:
        raise UsageError(f"{dataset.name} has {count} training images, fewer than one batch of "
                                    f"`batch_size` {batch}; use `batch_size` {count} or less, or more images")


def _train_missing(model, jobs: list[ModelJob], dataset, config: SweepConfig, store: ResultStore | distributed.SpoolStore, progress: bool,
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
    for weight in dict.fromkeys(job.ef_penalty for job in todo):  # one training program per λ
        trained.update(_train_jobs(model, [job for job in todo if job.ef_penalty == weight], dataset, config, store,
                                   progress, mesh))
    return trained


def _train_jobs(model, todo: list[ModelJob], dataset, config: SweepConfig, store: ResultStore | distributed.SpoolStore, progress: bool,
                mesh=None) -> dict:
    """Train ``todo`` (all of one EF-penalty weight λ) at once, checkpointing each as it stops.

    Returns {key: (variables, metadata)}.
    """
    trained = {}
    shape = (1, *dataset.image_shape)
    stacked = stack_variables([init_variables(model, jax.random.key(job.seed), job.beta, shape) for job in todo])
    train_config = TrainConfig(lr=config.lr, batch_size=config.batch_size, lr_decay=config.lr_decay,
                               acc_cap=config.acc_cap, max_epochs=config.max_epochs, input_noise=config.input_noise,
                               ef_penalty=todo[0].ef_penalty)
    saving: dict[str, tuple[dict, concurrent.futures.Future]] = {}
    histories: dict[int, list] = {index: [] for index in range(len(todo))}

    def finished(index: int, variables: dict, accuracy: float, epochs: int) -> None:
        job = todo[index]
        reached = config.acc_cap is not None and accuracy >= config.acc_cap
        metadata = {"beta": job.beta, "seed": job.seed, "test_accuracy": accuracy, "epochs": epochs,
                    "reached_cap": reached, "train_seconds": sum(record.seconds for record in histories[index]),
                    "diverged": not stats.weights_finite(variables),
                    "history": [dataclasses.asdict(record) for record in histories[index]]}
        for _, done in saving.values():  # a failed save stops the sweep at the next model, not at the end
            if done.done():
                done.result()
        saving[job.key] = (variables, saver.submit(store.save_checkpoint, job.key, variables, metadata))

    # Checkpoints are written beside the training (about 0.1 s each); leaving the block waits for every one.
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="checkpoint") as saver:
        train_models(model.apply, stacked, dataset, [job.seed for job in todo], train_config, on_finished=finished,
                     on_epoch=lambda index, record: histories[index].append(record), progress=progress, mesh=mesh)
    for key, (variables, saved) in saving.items():
        trained[key] = (variables, saved.result())
    return trained


def _explain_missing(model, jobs: list[ModelJob], trained: dict, images: np.ndarray, config: SweepConfig,
                     store: ResultStore | distributed.SpoolStore, progress: bool, mesh=None) -> dict:
    """EF statistics of the jobs without a stored result, all models at once, stored per model.

    Returns {key: (record, arrays)} of every job, computed now or loaded.
    """
    ekey = explain_key(config)
    results = {job.key: store.load_result(job.key, explain_key=ekey, check=check_record) for job in jobs}
    todo = [job for job in jobs if results[job.key] is None]
    if len(todo) < len(jobs):
        print(skip_message("explaining", len(jobs) - len(todo), len(jobs), store.root))
    if not todo:
        return results
    stacked = stack_variables([trained[job.key][0] for job in todo])
    bar = tqdm(total=len(images) * len(todo), desc=f"explaining {len(todo)} models", unit="map",
               disable=not progress)
    summary = summarize_saliency(model.apply, stacked, images, batch_size=config.explain_batch,
                                 noise_std=config.explain_noise, samples=config.explain_samples,
                                 n_examples=N_EXAMPLES, progress=bar.update, mesh=mesh)
    bar.close()
    labels = [f"{config.activation} {plots.beta_label(job.beta)} seed {job.seed}" for job in todo]
    dead = stats.warn_dead_maps(summary.dead_maps, summary.n_images, labels)
    for index, job in enumerate(todo):
        arrays = {"spectrum": summary.mean_spectrum[index], "examples": summary.examples[index]}
        ef = (summary.ef_mean[index], summary.ef_std[index], summary.ef_authors[index], summary.ef_raw_mean[index])
        diverged = (trained[job.key][1]["diverged"] or not np.isfinite(ef).all()
                    or not stats.all_finite(arrays))
        if diverged:  # a diverged network's maps have no meaningful spectrum
            ef, arrays["spectrum"] = (math.nan,) * 4, np.full_like(arrays["spectrum"], np.nan)
        record = {"ef": ef[0], "ef_std": ef[1], "ef_ref": ef[2], "ef_raw": ef[3], "n_images": summary.n_images,
                  "dead_maps": dead[index], "diverged": bool(diverged)}
        results[job.key] = (store.save_result(job.key, record, arrays, explain_key=ekey), arrays)
    return results


def _collect(jobs: list[ModelJob], config: SweepConfig, trained: dict, results: dict) -> list[dict]:
    """One row per model: the fields of its :class:`~specxai_jax.results.ModelResult` (training metadata +
    explanation record) + its arrays ``spectrum`` and ``examples``."""
    rows = []
    for job in jobs:
        metadata, (record, arrays) = trained[job.key][1], results[job.key]
        result = ModelResult(
            activation=config.activation, beta=job.beta, seed=job.seed,
            test_accuracy=_number(metadata["test_accuracy"], nan_ok=True), epochs=metadata["epochs"],
            ef=_number(record["ef"], nan_ok=True), ef_std=_number(record["ef_std"], nan_ok=True),  # null: NaN
            ef_ref=_number(record["ef_ref"], nan_ok=True), n_images=record["n_images"],
            train_seconds=metadata["train_seconds"], reached_cap=metadata["reached_cap"],
            dead_maps=record["dead_maps"], diverged=record["diverged"], store_key=job.key,
            score=sweep_report.SCORE, ef_raw=_number(record["ef_raw"], nan_ok=True), ef_penalty=job.ef_penalty)
        rows.append({**dataclasses.asdict(result), "history": metadata.get("history", []),
                     "spectrum": arrays["spectrum"], "examples": arrays["examples"]})
    return rows


def run(config: SweepConfig, out: Path, *, fresh: bool = False, progress: bool = True,
        devices: int | None = None) -> list[dict]:
    """The whole sweep of ``config`` (made :func:`resolve`-d); writes every output into ``out``.

    Returns one row per model (β-major, then seed): the results.csv columns plus ``spectrum`` (K,) and
    ``examples`` (N_EXAMPLES, H, W). ``devices``: local devices the models are spread over (all by default).
    Raises :class:`~specxai_jax.errors.UsageError` for settings that cannot run, before any training.
    """
    try:
        config = resolve(config)
    except ValueError as error:
        raise UsageError(str(error)) from None
    out = Path(out)
    mesh = device_mesh(devices)
    check_model_size(config)
    dataset = load_dataset(config.dataset, img_size=config.img_size, seed=0, max_train=config.max_train,
                           max_test=config.max_test, data_dir=config.data_dir, split=config.split)
    print(f"dataset {dataset.name}: {dataset.x_train.shape[0]} train / {dataset.x_test.shape[0]} test images "
          f"{dataset.image_shape}, {dataset.num_classes} classes; {1 if mesh is None else mesh.size} "
          f"{jax.devices()[0].platform} device(s)")
    jobs = model_jobs(config, dataset)
    model = sweep_model(config, dataset.num_classes)
    check_trainable(config, dataset)
    if config.n_explain > dataset.x_test.shape[0]:
        print(f"note: --n-explain {config.n_explain} is more than the {dataset.x_test.shape[0]} test images; "
              f"explaining all {dataset.x_test.shape[0]}", file=sys.stderr)
        config = dataclasses.replace(config, n_explain=dataset.x_test.shape[0])
    store = ResultStore(out)
    images = dataset.x_test[: config.n_explain]
    try:
        with distributed.main_holds(store.lock):
            if fresh and distributed.is_main():
                store.clear()
            # Multi-process: each process trains and explains its share into the store; process 0 reads them all below.
            if not distributed.each_does_its_share(jobs, store, lambda share, own: _explain_missing(
                    model, share, _train_missing(model, share, dataset, config, own, progress, mesh), images,
                    config, own, progress, mesh)):
                return []
            trained = _train_missing(model, jobs, dataset, config, store, progress, mesh)
            results = _explain_missing(model, jobs, trained, images, config, store, progress, mesh)
            rows = _collect(jobs, config, trained, results)
            matched_rows = None
            if config.matched_epochs is not None:
                matched = matched_config(config)
                print(f"training length control: the β grid again, {matched.max_epochs} epochs without the cap")
                matched_jobs = model_jobs(matched, dataset)
                matched_trained = _train_missing(model, matched_jobs, dataset, matched, store, progress, mesh)
                matched_results = _explain_missing(model, matched_jobs, matched_trained, images, matched, store,
                                                   progress, mesh)
                matched_rows = _collect(matched_jobs, matched, matched_trained, matched_results)
            diverged = [f"{config.activation} {plots.beta_label(row['beta'])} seed {row['seed']}"
                        for row in rows if row["diverged"]]
            if diverged:
                print(f"warning: diverged (non-finite weights or saliency maps): {', '.join(diverged)}; their EF is "
                      "NaN and their rows say diverged=True; lower --lr or change β", file=sys.stderr)
            sweep_report.write_outputs(out, rows, config, images[:N_EXAMPLES],
                                       labels=[f"class {c}" for c in dataset.y_test[:N_EXAMPLES]],
                                       matched_rows=matched_rows)
    except StoreBusy as error:
        raise UsageError(str(error)) from None
    return rows
