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
import sys
from pathlib import Path
from typing import Sequence

from specxai_jax import sweep
from specxai_jax.cli import flags, runtime, validation
from specxai_jax.configs import PRESETS, SweepConfig
from specxai_jax.ops import activations
from specxai_jax.sweep import report as sweep_report
from specxai_jax.training import distributed

DEFAULTS = SweepConfig()


def build_parser() -> validation.OneLineArgumentParser:
    """The command line: one flag per :class:`SweepConfig` field (``img_size`` ↔ ``--img-size``,
    :mod:`specxai_jax.cli.flags`), each None unless given, so a preset or a ``--config`` file can fill it;
    ``--help`` shows the default run's values."""
    parser = validation.OneLineArgumentParser(
        prog="python -m experiments.sweep_beta", description=__doc__.split("\n\n")[0],
        epilog=f"presets: {', '.join(PRESETS)}. A flag not given takes the --config file's or the preset's value, "
               "else its default.")
    flags.add_config_file_flag(parser)
    flags.add_config_flags(parser, SweepConfig, DEFAULTS)
    parser.add_argument("--no-cap", action="store_true", help="train every model for --max-epochs (Figs. 5–6)")
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


def base_of(args: argparse.Namespace) -> SweepConfig:
    """The ``--config`` file's settings, else the preset's config, else the defaults."""
    return flags.base_config(args.config, SweepConfig, DEFAULTS if args.preset is None else PRESETS[args.preset])


def sweep_config(args: argparse.Namespace) -> SweepConfig:
    """:func:`base_of` the flags with every flag given replacing its field; ``--no-cap`` sets ``acc_cap`` to None."""
    config = base_of(args)
    given = flags.given(args, SweepConfig)
    if args.no_cap:
        given["acc_cap"] = None
    return dataclasses.replace(config, **given)


def check_conflicts(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Refuse flags that contradict each other or would be dropped without a word."""
    if args.no_cap and args.acc_cap is not None:
        parser.error(f"--acc-cap {args.acc_cap:g} and --no-cap contradict each other; give one of them")
    activation = args.activation or base_of(args).activation
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
    print(f"wrote {args.out}/results.csv, history.csv, spectra.csv, checks.json, config.json, figures and report.md")
    return 0


if __name__ == "__main__":
    validation.cli_entry(main, sys.argv[1:])
