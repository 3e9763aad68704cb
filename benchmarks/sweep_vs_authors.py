"""The main job as a user waits for it: ``python -m experiments.sweep_beta`` against the authors' approach.

    python -m benchmarks.sweep_vs_authors [--size 32 --channels 1 --depth 3 --betas 0.5,1,...,relu --epochs 4]

Both sides run as whole processes (start-up, imports, compilation, training, explanation, outputs) on
the same npz of the default synthetic data: ours is the sweep's command line, theirs the PyTorch
re-creation in :func:`benchmarks.authors.train_and_explain` (one model after another, then VanillaGrad
and per-image SciPy/NumPy EF). Modes:

- ``same_work``: no cap, every model trains ``--epochs`` epochs on both sides; ours with an empty
  compilation cache (a first run);
- ``same_work_warm``: the same, ours with the cache the previous run filled (a rerun, ``--fresh``);
- ``cap``: the default job with its accuracy cap: time to result (the two sides' inits differ, so
  they need different numbers of epochs).

Prints one JSON object as the last line: per mode and side, wall seconds, model-epochs,
model-epochs/s and (ours) XLA programs compiled, programs loaded from the persistent cache, and
seconds spent on both; and ``authors / ours`` ratios. ``--repeat N`` runs every mode N times, the
sides alternating, and reports each figure's median and every run's ratio (this machine's speed
drifts by 10–15 % between minutes).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks import environment

MODES = ("same_work", "same_work_warm", "cap")
COMPILE_EVENT = "/jax/core/compile/backend_compile_duration"   # compiled, or loaded from the persistent cache
CACHE_HIT_EVENT = "/jax/compilation_cache/cache_retrieval_time_sec"


def parse_args(argv=None) -> argparse.Namespace:
    # argparse's own parser: importing specxai_jax (and with it JAX) would add to the timed children's start-up
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--channels", type=int, default=1)
    parser.add_argument("--depth", type=int, default=3)
    parser.add_argument("--betas", default="0.5,1,2,3,5,7,10,20,50,100,relu")
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--epochs", type=int, default=4, help="epochs per model in the same-work modes")
    parser.add_argument("--n-train", type=int, default=2000)
    parser.add_argument("--n-test", type=int, default=500)
    parser.add_argument("--n-explain", type=int, default=500)
    parser.add_argument("--modes", default=",".join(MODES), help=f"comma list of {', '.join(MODES)}")
    parser.add_argument("--repeat", type=int, default=1,
                        help="run every mode this many times, the two sides interleaved; medians reported")
    parser.add_argument("--device", default="cpu", help="where the authors' PyTorch side runs (cpu, cuda, cuda:1 …)")
    parser.add_argument("--child", choices=("ours", "authors"), help=argparse.SUPPRESS)
    parser.add_argument("--npz", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--cap", action="store_true", help=argparse.SUPPRESS)
    argv = list(sys.argv[1:] if argv is None else argv)
    split = argv.index("--") if "--" in argv else len(argv)
    args = parser.parse_args(argv[:split])
    args.rest = argv[split + 1:]          # the sweep's own flags (ours child)
    return args


def parse_betas(text: str) -> list[float]:
    return [float("inf") if item == "relu" else float(item) for item in text.split(",")]


def ours_child(sweep_argv: list[str]) -> None:
    """Run the sweep's main in this process, counting XLA compilations; last line: the counts as JSON.

    It first re-runs itself as ``python -m experiments.sweep_beta`` would (glibc malloc on huge pages).
    """
    from specxai_jax.cli import launch

    launch.rerun_with_huge_pages()
    import jax

    events = []
    jax.monitoring.register_event_duration_secs_listener(lambda event, seconds, **_: events.append((event, seconds)))
    from specxai_jax.cli import sweep_beta

    code = sweep_beta.main(sweep_argv)
    programs = [seconds for event, seconds in events if event == COMPILE_EVENT]
    loaded = sum(event == CACHE_HIT_EVENT for event, _ in events)
    print(json.dumps({"exit": code, "compile_count": len(programs) - loaded, "programs_from_cache": loaded,
                      "compile_seconds": sum(programs)}))


def authors_child(args) -> None:
    """Run the authors' sweep on ``args.npz``; last line: its rows as JSON."""
    from benchmarks import authors
    from specxai_jax.configs import SweepConfig

    data, ours = dict(np.load(args.npz)), SweepConfig()  # the sweep's default training settings
    rows = authors.train_and_explain(data, parse_betas(args.betas), [int(s) for s in args.seeds.split(",")],
                                     depth=args.depth, lr=ours.lr, lr_decay=ours.lr_decay, batch_size=ours.batch_size,
                                     acc_cap=ours.acc_cap if args.cap else None,
                                     max_epochs=ours.max_epochs if args.cap else args.epochs, n_explain=args.n_explain,
                                     device=args.device)
    print(json.dumps({"rows": rows}))


def timed(command: list[str], env: dict | None = None) -> tuple[float, dict]:
    """Wall seconds of a whole process, and the JSON object on its last stdout line."""
    start = time.perf_counter()
    proc = subprocess.run(command, capture_output=True, text=True, env={**os.environ, **(env or {})})
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{proc.stderr[-3000:]}")
    return seconds, json.loads(proc.stdout.strip().splitlines()[-1])


def run_mode(mode: str, args, npz: Path, work: Path) -> dict:
    """Both sides of one mode, ours first; their wall seconds and work."""
    cap = mode == "cap"
    out = work / f"ours-{mode}"
    sweep = ["--dataset", f"npz:{npz}", "--betas", args.betas, "--seeds", args.seeds, "--depth", str(args.depth),
             "--img-size", str(args.size), "--n-explain", str(args.n_explain), "--out", str(out), "--no-progress",
             "--fresh"]
    if not cap:
        sweep += ["--no-cap", "--max-epochs", str(args.epochs)]
    cache = work / ("cache-same_work" if mode == "same_work_warm" else f"cache-{mode}")   # warm: the one same_work filled
    me = [sys.executable, "-m", "benchmarks.sweep_vs_authors"]
    ours_seconds, counts = timed([*me, "--child", "ours", "--", *sweep], env={"SPECXAI_COMPILE_CACHE": str(cache)})
    with open(out / "results.csv") as handle:
        ours_epochs = sum(int(row["epochs"]) for row in csv.DictReader(handle))
    theirs = [*me, "--child", "authors", "--npz", str(npz), "--betas", args.betas, "--seeds", args.seeds,
              "--depth", str(args.depth), "--epochs", str(args.epochs), "--n-explain", str(args.n_explain), "--device", args.device]
    authors_seconds, report = timed(theirs + (["--cap"] if cap else []))
    authors_epochs = sum(row["epochs"] for row in report["rows"])
    side = lambda seconds, epochs: {"wall_seconds": seconds, "model_epochs": epochs,  # noqa: E731
                                    "model_epochs_per_second": epochs / seconds}
    ours = {**side(ours_seconds, ours_epochs), **{name: counts[name] for name in
                                                   ("compile_count", "programs_from_cache", "compile_seconds")}}
    authors = side(authors_seconds, authors_epochs)
    return {"ours": ours, "authors": authors,
            "wall_ratio_authors_over_ours": authors_seconds / ours_seconds,
            "per_work_ratio_ours_over_authors": ours["model_epochs_per_second"] / authors["model_epochs_per_second"]}


def median_of(runs: list[dict]) -> dict:
    """One mode's runs (:func:`run_mode` results) → the same fields, each side's figures the median over
    the runs, ratios of the medians, and every run's wall ratio."""
    sides = {}
    for side in ("ours", "authors"):
        sides[side] = {name: _median([run[side][name] for run in runs]) for name in runs[0][side]}
        sides[side]["model_epochs_per_second"] = sides[side]["model_epochs"] / sides[side]["wall_seconds"]
    return {**sides, "wall_ratio_authors_over_ours": sides["authors"]["wall_seconds"] / sides["ours"]["wall_seconds"],
            "per_work_ratio_ours_over_authors": (sides["ours"]["model_epochs_per_second"]
                                                 / sides["authors"]["model_epochs_per_second"]),
            "wall_ratio_per_run": [run["wall_ratio_authors_over_ours"] for run in runs]}


def _median(values: list):
    """The median, an int where every value and the median are whole (counts stay counts)."""
    middle = float(np.median(values))
    return int(middle) if all(isinstance(v, int) for v in values) and middle.is_integer() else middle


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.child == "ours":
        ours_child(args.rest)
        return
    if args.child == "authors":
        authors_child(args)
        return
    from specxai_jax.data.synthetic import generate

    modes = args.modes.split(",")
    if unknown := set(modes) - set(MODES):
        raise SystemExit(f"unknown modes {sorted(unknown)}; choose from {', '.join(MODES)}")
    if "same_work_warm" in modes and "same_work" not in modes[:modes.index("same_work_warm")]:
        raise SystemExit("same_work_warm reuses the cache of same_work: list same_work before it")
    if args.repeat < 1:
        raise SystemExit("--repeat must be at least 1")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        x_train, y_train, x_test, y_test = generate(size=args.size, channels=args.channels, n_train=args.n_train,
                                                    n_test=args.n_test)
        npz = work / "data.npz"
        np.savez(npz, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
        runs = {mode: [] for mode in modes}
        for repeat in range(args.repeat):      # each round with its own (empty) compilation caches
            (work / f"round{repeat}").mkdir()
            for mode in modes:
                runs[mode].append(run_mode(mode, args, npz, work / f"round{repeat}"))
        results = {mode: median_of(mode_runs) for mode, mode_runs in runs.items()}
    print(json.dumps({
        "benchmark": "sweep_vs_authors",
        **environment.describe(),
        "config": {"size": args.size, "channels": args.channels, "depth": args.depth, "betas": args.betas,
                   "seeds": args.seeds, "epochs": args.epochs, "n_train": args.n_train, "n_test": args.n_test,
                   "n_explain": args.n_explain, "repeat": args.repeat},
        **results,
    }))


if __name__ == "__main__":
    main()
