"""A β-sweep's training, vectorized (one compiled program for all models) against one model at a time.

    python -m benchmarks.sweep --models 8 --size 28 --depth 3 --n-train 1024 --epochs 2

Both modes run the library's epoch (a jit-compiled, masked Adam step over stacked models, dispatched
once per batch) for the same models, data orders and number of epochs; ``sequential`` compiles it once for a single model and
loops over the models. Each mode runs in its own subprocess so its peak memory (max RSS) is its own.
``--cpu-devices 2`` splits the vectorized mode's models over two XLA CPU devices, one per core
(``train_models(..., mesh=)``'s shard_map); the sequential mode stays on one device.
Prints one JSON object as the last line; times are medians over ``--repeats`` runs.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks import environment
from specxai_jax import sharding
from specxai_jax.models import PlainCNN, init_variables, stack_variables
from specxai_jax.train import TrainConfig, epoch_keys, epoch_permutations, make_epoch_fn, make_optimizer

MODES = ("vectorized", "sequential")


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=8, help="models in the sweep (β values × seeds)")
    parser.add_argument("--size", type=int, default=28)
    parser.add_argument("--channels", type=int, default=1)
    parser.add_argument("--depth", type=int, default=3)
    parser.add_argument("--n-train", type=int, default=1024)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cpu-devices", type=int, default=1,
                        help="split the vectorized mode's models over this many XLA CPU devices")
    parser.add_argument("--mode", choices=MODES, help="run one mode in this process (used internally)")
    return parser.parse_args(argv)


def sweep_models(args) -> tuple[PlainCNN, list[dict], np.ndarray, np.ndarray]:
    """The sweep's models (β spread over the paper's grid), random images and labels."""
    model = PlainCNN(depth=args.depth)
    betas = np.geomspace(0.1, 100.0, args.models)
    variables = [init_variables(model, jax.random.key(i), float(beta), (1, args.size, args.size, args.channels))
                 for i, beta in enumerate(betas)]
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(args.n_train, args.size, args.size, args.channels)).astype(np.float32)
    y = rng.integers(0, 10, args.n_train).astype(np.int32)
    return model, variables, x, y


def trainer(model, config: TrainConfig, x, y, seeds: list[int], mesh=None):
    """Compiled epochs for len(seeds) stacked models: stacked variables → trained stacked variables."""
    steps = x.shape[0] // config.batch_size
    optimizer = make_optimizer(config, steps)
    run_epoch = make_epoch_fn(model.apply, optimizer, config, mesh)
    x, y = jnp.asarray(x), jnp.asarray(y)
    done = jnp.zeros(len(seeds), bool)

    def train(variables):
        opt_state = jax.vmap(optimizer.init)(variables["params"])
        for epoch in range(config.max_epochs):
            batches = jnp.asarray(epoch_permutations(seeds, epoch, x.shape[0], config.batch_size))
            keys = epoch_keys(seeds, epoch, steps)
            variables, opt_state = run_epoch(variables, opt_state, done, batches, x, y, keys)
        return jax.block_until_ready(variables)

    return train


def run_mode(args) -> dict:
    """Time one mode in this process: compile + first run, then ``repeats`` warm runs."""
    model, variables, x, y = sweep_models(args)
    config = TrainConfig(batch_size=args.batch, max_epochs=args.epochs, acc_cap=None)
    seeds = list(range(args.models))
    if args.mode == "vectorized":
        mesh = sharding.model_mesh() if jax.device_count() > 1 else None
        train = trainer(model, config, x, y, seeds, mesh)
        stacked = stack_variables(variables)
        if mesh is not None:
            stacked = sharding.put(stacked, mesh, sharding.all_axes(mesh))
        run_once = lambda: train(stacked)                                  # noqa: E731
    else:
        trains = [trainer(model, config, x, y, [seed]) for seed in seeds[:1]] * len(seeds)
        singles = [stack_variables([v]) for v in variables]
        run_once = lambda: [train(v) for train, v in zip(trains, singles)]  # noqa: E731
    start = time.perf_counter()
    run_once()
    first = time.perf_counter() - start
    seconds = environment.median_seconds({"train": run_once}, args.repeats)["train"]
    return {"mode": args.mode, "devices": jax.device_count(), "first_run_seconds": first, "seconds": seconds,
            "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.cpu_devices < 1 or args.models % args.cpu_devices:
        raise SystemExit(f"--cpu-devices ({args.cpu_devices}) must be ≥ 1 and divide --models ({args.models})")
    if args.mode:
        if args.cpu_devices > 1 and args.mode == "vectorized":
            jax.config.update("jax_num_cpu_devices", args.cpu_devices)   # before the backend starts
        print(json.dumps(run_mode(args)))
        return
    passed = [arg for arg in (argv if argv is not None else sys.argv[1:])]
    modes = {}
    for mode in MODES:
        proc = subprocess.run([sys.executable, "-m", "benchmarks.sweep", *passed, "--mode", mode],
                              capture_output=True, text=True, check=True)
        modes[mode] = json.loads(proc.stdout.strip().splitlines()[-1])
    for result in modes.values():
        result["median_seconds"] = environment.median(result["seconds"])
        result["models_per_second"] = args.models / result["median_seconds"]
    print(json.dumps({
        "benchmark": "sweep",
        **environment.describe(),
        "config": {"models": args.models, "size": args.size, "channels": args.channels, "depth": args.depth,
                   "n_train": args.n_train, "batch": args.batch, "epochs": args.epochs, "repeats": args.repeats,
                   "cpu_devices": args.cpu_devices},
        **modes,
        "speedup_vectorized_vs_sequential": modes["sequential"]["median_seconds"] / modes["vectorized"]["median_seconds"],
    }))


if __name__ == "__main__":
    main()
