"""Images per second for saliency → EF on one model: the fused JAX pipeline against the authors' way.

    python -m benchmarks.ef_pipeline --size 64 --channels 3 --depth 5 --n 512

The network is the paper's plain conv net with SoftPlus(3), random weights, random inputs. Methods:
``ours`` (saliency, rank normalization, FFT, radial binning and EF in one compiled program per batch),
``authors`` (PyTorch input gradients, then per-image SciPy rankdata + NumPy FFT + radial mean),
``jax_then_numpy`` (our jit-compiled saliency, then the same per-image post-processing), and each
saliency alone. ``--cpu-devices 2`` splits each batch of ``ours`` over two XLA CPU devices, one per
core (XLA's own threading keeps a 2-core CPU only ~80 % busy on these small convolutions).
Prints one JSON object as the last line; times are medians of interleaved runs.
"""

from __future__ import annotations

import argparse
import json

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import PartitionSpec

from benchmarks import authors, environment
from specxai_jax.cli import validation
from specxai_jax.models import PlainCNN, init_variables, stack_variables
from specxai_jax.pipeline import make_batch_statistics, saliency_maps
from specxai_jax.training import sharding

BETA = 3.0


def parse_args(argv=None) -> argparse.Namespace:
    parser = validation.OneLineArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=28, help="image height and width (px)")
    parser.add_argument("--channels", type=int, default=1)
    parser.add_argument("--depth", type=int, default=3, help="conv blocks")
    parser.add_argument("--n", type=int, default=512, help="images per timed run")
    parser.add_argument("--batch", type=int, default=128, help="images per compiled call")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per method (median reported)")
    parser.add_argument("--no-torch", action="store_true", help="skip the PyTorch baselines")
    parser.add_argument("--cpu-devices", type=int, default=1,
                        help="split each batch of ours over this many XLA CPU devices (one per core)")
    return parser.parse_args(argv)


def torch_available() -> bool:
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def run(args: argparse.Namespace) -> dict:
    model = PlainCNN(depth=args.depth)
    variables = init_variables(model, jax.random.key(0), BETA, (1, args.size, args.size, args.channels))
    stacked = stack_variables([variables])
    images = np.random.default_rng(0).uniform(size=(args.n, args.size, args.size, args.channels)).astype(np.float32)
    batches = [images[i:i + args.batch] for i in range(0, args.n, args.batch)]
    if len(batches[-1]) < args.batch:
        raise SystemExit(f"--n ({args.n}) must be a multiple of --batch ({args.batch})")

    mesh = None
    if args.cpu_devices > 1:
        mesh = sharding.model_mesh(batch_shards=args.cpu_devices)
        stacked = sharding.put(stacked, mesh, PartitionSpec(sharding.MODELS))
    statistics = make_batch_statistics(model.apply, mesh=mesh)
    key = jax.random.key(0)
    indices = [jnp.arange(i, i + args.batch, dtype=jnp.int32) for i in range(0, args.n, args.batch)]
    jax_saliency = jax.jit(lambda v, x: saliency_maps(model.apply, v, x))
    results = {}

    def ours():
        sums = [statistics(stacked, batch, index, key)[0] for batch, index in zip(batches, indices)]
        results["ef_ours"] = float(np.sum([np.asarray(s)[0] for s in sums]) / args.n)

    def jax_then_numpy():
        maps = [np.asarray(jax_saliency(variables, batch)) for batch in batches]
        results["ef_jax_then_numpy"] = float(authors.per_image_ef(np.concatenate(maps)).mean())

    def jax_saliency_only():
        for batch in batches:
            jax_saliency(variables, batch).block_until_ready()

    runs = {"ours": ours, "jax_then_numpy": jax_then_numpy, "jax_saliency": jax_saliency_only}
    note = None
    if args.no_torch or not torch_available():
        note = "PyTorch not installed (or --no-torch): authors' baseline skipped"
    else:
        torch_net = authors.torch_model(variables, args.depth, BETA)

        def authors_way():
            maps = np.concatenate([authors.torch_saliency(torch_net, batch) for batch in batches])
            results["ef_authors"] = float(authors.per_image_ef(maps).mean())

        def torch_saliency_only():
            for batch in batches:
                authors.torch_saliency(torch_net, batch)

        runs.update(authors=authors_way, torch_saliency=torch_saliency_only)
    for run_once in runs.values():           # compile and warm up
        run_once()
    seconds = environment.median_seconds(runs, args.repeats)
    rates = {name: args.n / environment.median(times) for name, times in seconds.items()}
    report = {
        "benchmark": "ef_pipeline",
        **environment.describe(),
        "config": {"size": args.size, "channels": args.channels, "depth": args.depth, "beta": BETA,
                   "n": args.n, "batch": args.batch, "repeats": args.repeats, "cpu_devices": args.cpu_devices},
        "images_per_second": rates["ours"],
        "baselines_images_per_second": {name: rate for name, rate in rates.items() if name != "ours"},
        "speedup_vs_authors": rates["ours"] / rates["authors"] if "authors" in rates else None,
        "speedup_vs_jax_then_numpy": rates["ours"] / rates["jax_then_numpy"],
        "seconds": seconds,
        **results,
    }
    if note:
        report["note"] = note
    return report


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.cpu_devices < 1 or args.batch % args.cpu_devices:
        raise SystemExit(f"--cpu-devices ({args.cpu_devices}) must be ≥ 1 and divide --batch ({args.batch})")
    if args.cpu_devices > 1:
        jax.config.update("jax_num_cpu_devices", args.cpu_devices)   # before the backend starts
    print(json.dumps(run(args)))


if __name__ == "__main__":
    main()
