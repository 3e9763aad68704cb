"""β-sweep: train plain conv nets with SoftPlus(β) for a grid of β, explain them, measure EF.

    python -m experiments.sweep_beta [--preset NAME] [--dataset SPEC] [--betas 0.5,1,3,relu] ... --out DIR

Flags → a :class:`specxai_jax.configs.SweepConfig` (a preset's, or the defaults, with the flags given
replacing its fields) → :func:`specxai_jax.sweep.run`. Reproduces the paper's Figs. 2, 3 and 5; an
interrupted or repeated sweep resumes from ``DIR/models/`` (``--fresh`` recomputes). Outputs: results.csv,
spectra.csv, config.json, fig_ef_vs_beta.png, fig_spectra.png, fig_accuracy.png, fig_saliency.png and report.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
from pathlib import Path
from typing import Sequence

from specxai_jax import sweep
from specxai_jax.cli import runtime, validation
from specxai_jax.configs import PRESETS, SweepConfig
from specxai_jax.data.load import MAX_IMG_SIZE
from specxai_jax.models.registry import CONV_VARIANTS
from specxai_jax.ops import activations
from specxai_jax.sweep import report as sweep_report
from specxai_jax.training import distributed

DEFAULTS = SweepConfig()


def _shown(value) -> str:
    """A setting as typed on the command line (β = inf as relu, tuples comma-separated)."""
    if isinstance(value, tuple):
        return ",".join(map(_shown, value))
    if isinstance(value, float):
        return "relu" if math.isinf(value) else f"{value:g}"
    return str(value)


def build_parser() -> validation.OneLineArgumentParser:
    """The command line: one flag per :class:`SweepConfig` field (``img_size`` ↔ ``--img-size``), each None
    unless given, so a preset can fill it; ``--help`` shows the default run's values."""
    parser = validation.OneLineArgumentParser(
        prog="python -m experiments.sweep_beta", description=__doc__.split("\n\n")[0],
        epilog=f"presets: {', '.join(PRESETS)}. A flag not given takes the preset's value, else its default.")

    def setting(name: str, help: str | None = None, unset: str = "", **options) -> None:
        """``--NAME`` of the SweepConfig field ``name``; ``unset`` says what its default None means."""
        value = getattr(DEFAULTS, name)
        default = f"default: {unset if value is None else _shown(value)}"
        parser.add_argument(f"--{name.replace('_', '-')}", help=f"{help} ({default})" if help else default, **options)

    parser.add_argument("--preset", choices=list(PRESETS), help="a named setup from the paper's Tab. 3")
    setting("dataset", "synthetic[:size=..,classes=..,channels=..], tfds:NAME, npz:PATH or folder:PATH",
            type=validation.dataset_spec)
    setting("data_dir", "where TFDS keeps prepared datasets", unset="TFDS's own")
    setting("split", "tfds: the test split (EVAL) or both (TRAIN,EVAL), e.g. validation or train[:90%%],train[90%%:]",
            unset="the dataset's own")
    setting("activation", "activation family", choices=list(activations.ACTIVATIONS))
    setting("betas", "β grid, e.g. 0.5,1,3,10,relu (relu = inf)", type=validation.beta_list)
    setting("seeds", "seeds, e.g. 0,1,2 (each seed: its own init and data order)", type=validation.seed_list)
    setting("model", "plain conv net, or with skip connections and/or batch norm (Fig. 9)", choices=list(CONV_VARIANTS))
    setting("depth", "conv blocks L", type=validation.int_in_range(1, validation.MAX_DEPTH, " (each halves the image)"))
    setting("width", "channels of the first conv block (doubles per block)", type=validation.positive_int)
    setting("dense", "units of the hidden dense layer", type=validation.positive_int)
    setting("img_size", "resize images to this many pixels per side", type=validation.int_in_range(1, MAX_IMG_SIZE))
    setting("lr", "Adam learning rate", type=validation.positive_float)
    setting("lr_decay", "learning-rate factor per epoch", type=validation.fraction)
    setting("batch_size", type=validation.positive_int)
    setting("acc_cap", "stop a model once its test accuracy reaches this", type=validation.fraction)
    parser.add_argument("--no-cap", action="store_true", help="train every model for --max-epochs (Figs. 5–6)")
    setting("max_epochs", type=validation.positive_int)
    setting("matched_epochs", "control for training length: also train the β grid exactly this many epochs "
            "without the cap, and report ρ(β, EF) on those models", unset="off", type=validation.positive_int)
    setting("input_noise", "std of Gaussian noise on training inputs (App. B)", type=validation.nonnegative_float)
    setting("max_train", "use at most this many training images", unset="all", type=validation.positive_int)
    setting("max_test", "use at most this many test images", unset="all", type=validation.positive_int)
    setting("n_explain", "test images explained per model", type=validation.positive_int)
    setting("explain_noise", "std of the tiny input noise averaged over for VanillaGrad (authors: √1e-5 ≈ 0.0032; "
            "0: exact)", type=validation.nonnegative_float)
    setting("explain_samples", "noisy copies averaged when --explain-noise > 0", type=validation.positive_int)
    setting("explain_batch", "images per explanation batch (memory, not numbers)", type=validation.positive_int)
    setting("ef_penalty", "λ grid of EF-regularized training, λ·EF_raw(VanillaGrad map) added to the loss, "
            "e.g. 0,0.3,1 (0: plain cross-entropy)", type=validation.penalty_list)
    add = parser.add_argument
    add("--devices", type=validation.positive_int,
        help="spread the models over this many local devices (default: all; on CPU the host is split into "
             "this many devices, one model training on each; default one per core, at most 8)")
    add("--fresh", action="store_true", help="recompute everything instead of resuming from DIR/models")
    add("--no-progress", action="store_true", help="hide progress bars")
    add("--out", type=validation.writable_dir, default=Path("runs/sweep_beta"),
        help="output directory (default: %(default)s)")
    # Multi-process runs (specxai_jax.training.distributed; JAX's jax.distributed conventions).
    add("--coordinator", help="host:port of process 0, to run over several processes sharing --out")
    add("--num-processes", type=validation.positive_int, help="processes in the multi-process run")
    add("--process-id", type=validation.nonnegative_int, help="this process's index in the multi-process run")
    add("--distributed", action="store_true",
        help="join a multi-process run whose settings JAX detects (SLURM, TPU pod slices, Open MPI)")
    return parser


def sweep_config(args: argparse.Namespace) -> SweepConfig:
    """The preset's config (the defaults without ``--preset``) with every flag given replacing its field;
    ``--no-cap`` sets ``acc_cap`` to None."""
    config = DEFAULTS if args.preset is None else PRESETS[args.preset]
    given = {field.name: getattr(args, field.name) for field in dataclasses.fields(SweepConfig)
             if field.name != "preset" and getattr(args, field.name) is not None}
    given.update({name: tuple(value) for name, value in given.items() if isinstance(value, list)})
    if args.no_cap:
        given["acc_cap"] = None
    return dataclasses.replace(config, **given)


def check_conflicts(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Refuse flags that contradict each other or would be dropped without a word."""
    if args.no_cap and args.acc_cap is not None:
        parser.error(f"--acc-cap {args.acc_cap:g} and --no-cap contradict each other; give one of them")
    activation = args.activation or (PRESETS[args.preset] if args.preset else DEFAULTS).activation
    if args.betas is not None and activation not in activations.SMOOTHED:
        parser.error(f"--betas applies to the smoothed activations ({', '.join(activations.SMOOTHED)}); "
                     f"--activation {activation} has no β, so drop --betas")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    check_conflicts(parser, args)
    runtime.use_compile_cache()
    distributed.initialize(distributed.Launch(args.coordinator, args.num_processes, args.process_id, args.distributed))
    runtime.use_cpu_devices(args.devices)   # before JAX starts; only the CPU backend reads it
    config = sweep_config(args)
    rows = sweep.run(config, args.out, fresh=args.fresh, progress=not args.no_progress, devices=args.devices)
    if not distributed.is_main():   # multi-process: process 0 wrote the outputs
        return 0
    print(sweep_report.summary_line(rows, config))
    print(f"wrote {args.out}/results.csv, spectra.csv, checks.json, config.json, figures and report.md")
    return 0


if __name__ == "__main__":
    validation.cli_entry(main, sys.argv[1:])
