"""The accelerator benchmark: sweep throughput, EF pipeline speed, memory and a CPU cross-check, on one device.

    PYTHONPATH=. python -m benchmarks.accelerator            # one GPU/TPU: at most ~8 minutes
    PYTHONPATH=. python -m benchmarks.accelerator --reduced  # a small version that runs on CPU

Needs only jax, flax, optax, orbax, torch, scipy, matplotlib and tqdm (no TFDS, no neural-tangents).
Prints one JSON object as the last line, with the device's name and:

1. ``sweep``: the same work three ways — CIFAR-10 scale synthetic data (50,000 train images, 32 px,
   3 channels), depth 4, the paper's β grid plus ReLU, 1 seed, 2 epochs, no cap — trained by the
   ``vectorized`` engine (all models stacked, one program per epoch), by one model at a time in JAX
   (``per_device`` engine on the one device), and by the authors' PyTorch loop on the same device:
   wall seconds, model-epochs/s, XLA programs compiled and their seconds;
2. ``ef_pipeline``: saliency → EF images/s of one model at 28, 64 and 224 px;
3. ``peak_bytes`` of each part (the device allocator's peak so far; PyTorch's own peak for its part);
4. ``cpu_check``: a 2-model sweep on this device and on the CPU (the CPU's fast forms and engine):
   the largest relative EF difference, and whether it is within :data:`EF_TOLERANCE`.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import time

import jax
import numpy as np

from benchmarks import authors, environment
from specxai_jax.configs import PAPER_BETAS
from specxai_jax.data import Dataset
from specxai_jax.models import PlainCNN, init_variables, stack_variables
from specxai_jax.ops import fast_forms
from specxai_jax.pipeline import summarize_saliency
from specxai_jax.training import sharding
from specxai_jax.training.train import TrainConfig, train_models

COMPILE_EVENT = "/jax/core/compile/backend_compile_duration"
EF_TOLERANCE = 0.02
"""Relative EF difference allowed between the device and the CPU after training: float32 on both, but
GPUs run float32 convolutions and matmuls in TF32 by default and the differences grow over the steps."""


@dataclasses.dataclass(frozen=True)
class Setup:
    """The sizes one run of the benchmark uses."""

    n_train: int = 50_000
    n_test: int = 10_000
    size: int = 32
    channels: int = 3
    depth: int = 4
    betas: tuple[float, ...] = PAPER_BETAS
    epochs: int = 2
    ef_sizes: tuple[tuple[int, int, int], ...] = ((28, 2, 8192), (64, 4, 4096), (224, 5, 1024))  # (px, depth, images)
    check_train: int = 2048
    check_explain: int = 256


REDUCED = Setup(n_train=256, n_test=64, size=16, channels=3, depth=2, betas=(1.0, math.inf), epochs=1,
                ef_sizes=((28, 2, 32), (64, 4, 16)), check_train=128, check_explain=16)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reduced", action="store_true", help="small sizes that run on a CPU in under 2 minutes")
    parser.add_argument("--skip", default="", help="comma list of parts to leave out: sweep, authors, ef, check")
    args = parser.parse_args(argv)
    unknown = set(filter(None, args.skip.split(","))) - {"sweep", "authors", "ef", "check"}
    if unknown:
        parser.error(f"--skip: unknown part(s) {', '.join(sorted(unknown))}; choose from sweep, authors, ef, check")
    return args


def synthetic(setup: Setup, n_train: int, seed: int = 0) -> Dataset:
    """Random uint8-coded images (as a uint8 source loads) with 10 classes."""
    rng = np.random.default_rng(seed)

    def images(count):
        return rng.integers(0, 256, size=(count, setup.size, setup.size, setup.channels), dtype=np.uint8)

    def labels(count):
        return (np.arange(count) % 10).astype(np.int32)

    scale = lambda codes: codes.astype(np.float32) / np.float32(255.0)  # noqa: E731
    return Dataset("synthetic", scale(images(n_train)), labels(n_train), scale(images(setup.n_test)),
                   labels(setup.n_test), 10)


class Compilations:
    """XLA compilations (count, seconds) while the block runs."""

    def __enter__(self):
        self.durations = []
        self.listener = lambda event, duration, **_: event == COMPILE_EVENT and self.durations.append(duration)
        jax.monitoring.register_event_duration_secs_listener(self.listener)
        return self

    def __exit__(self, *exc):
        jax._src.monitoring.unregister_event_duration_listener(self.listener)


def peak_bytes() -> int | None:
    stats = jax.local_devices()[0].memory_stats() if hasattr(jax.local_devices()[0], "memory_stats") else None
    return None if not stats else int(stats.get("peak_bytes_in_use", 0)) or None


def sweep_models(setup: Setup, dataset: Dataset, seeds=(0,)):
    model = PlainCNN(depth=setup.depth)
    shape = (1, setup.size, setup.size, setup.channels)
    jobs = [(beta, seed) for beta in setup.betas for seed in seeds]
    variables = stack_variables([init_variables(model, jax.random.key(seed), beta, shape) for beta, seed in jobs])
    return model, variables, [seed for _, seed in jobs]


def time_engine(setup: Setup, dataset: Dataset, engine: str) -> dict:
    model, variables, seeds = sweep_models(setup, dataset)
    config = TrainConfig(acc_cap=None, max_epochs=setup.epochs)
    mesh = sharding.model_mesh() if engine == "vectorized" and len(jax.local_devices()) > 1 else None
    with Compilations() as compiled:
        start = time.perf_counter()
        result = train_models(model.apply, variables, dataset, seeds, config, progress=False, engine=engine, mesh=mesh)
        jax.block_until_ready(result.variables)
        wall = time.perf_counter() - start
    epochs = int(result.epochs.sum())
    return {"wall_seconds": wall, "model_epochs": epochs, "model_epochs_per_second": epochs / wall,
            "compile_count": len(compiled.durations), "compile_seconds": sum(compiled.durations),
            "peak_bytes": peak_bytes()}


def time_authors(setup: Setup, dataset: Dataset) -> dict:
    import torch

    device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    data = {name: getattr(dataset, name) for name in ("x_train", "y_train", "x_test", "y_test")}
    start = time.perf_counter()
    rows = authors.train_and_explain(data, setup.betas, [0], depth=setup.depth, lr=TrainConfig.lr,
                                     lr_decay=TrainConfig.lr_decay, batch_size=TrainConfig.batch_size, acc_cap=None,
                                     max_epochs=setup.epochs, n_explain=1, device=device)
    if device == "cuda":
        torch.cuda.synchronize()
    wall = time.perf_counter() - start
    epochs = sum(row["epochs"] for row in rows)
    return {"device": device, "wall_seconds": wall, "model_epochs": epochs, "model_epochs_per_second": epochs / wall,
            "peak_bytes": int(torch.cuda.max_memory_allocated()) if device == "cuda" else None,
            "note": "explains 1 image per model after training (the authors' per-image EF)"}


def time_ef(size: int, depth: int, count: int) -> dict:
    model = PlainCNN(depth=depth)
    variables = stack_variables([init_variables(model, jax.random.key(0), 3.0, (1, size, size, 3))])
    images = np.random.default_rng(0).uniform(size=(count, size, size, 3)).astype(np.float32)
    batch = min(256, count)
    summarize_saliency(model.apply, variables, images[:batch], batch_size=batch)     # compiles
    start = time.perf_counter()
    summary = summarize_saliency(model.apply, variables, images, batch_size=batch)
    wall = time.perf_counter() - start
    return {"size": size, "depth": depth, "images": count, "images_per_second": count / wall,
            "ef": float(summary.ef_mean[0]), "peak_bytes": peak_bytes()}


def cpu_check(setup: Setup) -> dict:
    """EF of a 2-model sweep trained and explained here and on the CPU (its fast forms and engine)."""
    dataset = synthetic(setup, setup.check_train, seed=1)
    check = dataclasses.replace(setup, betas=(3.0, math.inf))
    model, variables, seeds = sweep_models(check, dataset)
    config = TrainConfig(acc_cap=None, max_epochs=1)
    images = dataset.x_test[:setup.check_explain]

    def sweep(mesh, fast):
        with fast_forms.forced(fast):
            result = train_models(model.apply, variables, dataset, seeds, config, progress=False, mesh=mesh,
                                  engine="per_device" if fast else "vectorized")
            return summarize_saliency(model.apply, result.variables, images, batch_size=64, mesh=mesh).ef_mean

    here = sweep(None, False if jax.default_backend() == "cpu" else None)
    cpu = sweep(sharding.model_mesh(jax.devices("cpu")[:1]), True)
    difference = float(np.max(np.abs(here - cpu) / np.abs(cpu)))
    return {"ef_here": here.tolist(), "ef_cpu": cpu.tolist(), "max_relative_difference": difference,
            "tolerance": EF_TOLERANCE, "within_tolerance": difference <= EF_TOLERANCE}


def run(args: argparse.Namespace) -> dict:
    setup = REDUCED if args.reduced else Setup()
    skip = set(filter(None, args.skip.split(",")))
    device = jax.local_devices()[0]
    report = {"benchmark": "accelerator", "reduced": args.reduced, **environment.describe(),
              "device": device.device_kind, "platform": device.platform, "setup": dataclasses.asdict(setup)}
    report["setup"]["betas"] = [("relu" if math.isinf(beta) else beta) for beta in setup.betas]
    if "sweep" not in skip:
        dataset = synthetic(setup, setup.n_train)
        sweep = {"vectorized": time_engine(setup, dataset, "vectorized"),
                 "one_model_at_a_time": time_engine(setup, dataset, "per_device")}
        if "authors" not in skip:
            sweep["authors_pytorch"] = time_authors(setup, dataset)
        ours = sweep["vectorized"]["model_epochs_per_second"]
        sweep["speedup_vs_one_at_a_time"] = ours / sweep["one_model_at_a_time"]["model_epochs_per_second"]
        if "authors_pytorch" in sweep:
            sweep["speedup_vs_authors"] = ours / sweep["authors_pytorch"]["model_epochs_per_second"]
        report["sweep"] = sweep
    if "ef" not in skip:
        report["ef_pipeline"] = [time_ef(*sizes) for sizes in setup.ef_sizes]
    if "check" not in skip:
        report["cpu_check"] = cpu_check(setup)
    report["peak_bytes"] = peak_bytes()
    return report


def main(argv=None) -> None:
    print(json.dumps(run(parse_args(argv))))


if __name__ == "__main__":
    main()
