"""Explanation gap of post-hoc methods (the paper's Tables 1, 2 and 4, Fig. 13).

    python -m experiments.explanation_gap --dataset synthetic --models cnn-relu,cnn-softplus:3 --out DIR

Flags → :class:`specxai_jax.configs.GapConfig` (``GAP_QUICK`` with --quick) → :func:`specxai_jax.gap.run`,
which writes gap.csv, gap_vs_sigma.csv, table.md, fig_maps.png, fig_gap_vs_sigma.png and config.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from typing import Sequence

from specxai_jax import gap
from specxai_jax.cli import flags, runtime, validation
from specxai_jax.configs import GAP_QUICK, GapConfig


def build_parser(base: GapConfig = GapConfig()) -> validation.OneLineArgumentParser:
    """The command line: every GapConfig field is the flag of the same name (:mod:`specxai_jax.cli.flags`),
    its --help default taken from ``base``."""
    parser = validation.OneLineArgumentParser(prog="python -m experiments.explanation_gap",
                                              description=__doc__.split("\n\n")[0])
    caps = parser.add_mutually_exclusive_group()   # --acc-cap and --no-cap contradict each other
    flags.add_config_file_flag(parser)
    flags.add_config_flags(parser, GapConfig, base, groups={"acc_cap": caps})
    caps.add_argument("--no-cap", action="store_true", help="train every model for --max-epochs")
    add = parser.add_argument
    add("--n-images", dest="n_explain", type=validation.positive_int, help=argparse.SUPPRESS)  # the former name
    add("--out", type=validation.writable_dir, required=True, help="output directory")
    add("--fresh", action="store_true", help="retrain every model instead of reusing those in --checkpoint-dir")
    add("--quick", action="store_true", help="small data, few epochs and images (minutes on CPU); "
                                             "--quick --help shows its defaults")
    add("--no-progress", action="store_true", help="hide the progress bar")
    return parser


def parse_args(argv: Sequence[str] | None = None) -> tuple[GapConfig, argparse.Namespace]:
    """(the run's GapConfig, the parsed flags): the ``--config`` file's settings, else GAP_QUICK's with
    --quick, else GapConfig's, with every flag given replacing its field; with --pretrained an unset
    --img-size takes the checkpoints' size."""
    pre = validation.OneLineArgumentParser(add_help=False)
    pre.add_argument("--quick", action="store_true")
    known, _ = pre.parse_known_args(argv)
    args = build_parser(GAP_QUICK if known.quick else GapConfig()).parse_args(argv)
    base = flags.base_config(args.config, GapConfig, GAP_QUICK if args.quick else GapConfig())
    given = flags.given(args, GapConfig)
    if args.no_cap:
        given["acc_cap"] = None
    if given.get("pretrained") and "img_size" not in given:
        given["img_size"] = None
    config = dataclasses.replace(base, **given)
    gap.check_config(config)
    return config, args


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the flags, apply the runtime settings, run; 0 on success."""
    config, args = parse_args(argv)
    runtime.use_compile_cache()
    gap.run(config, args.out, progress=not args.no_progress, fresh=args.fresh)
    print(f"wrote {args.out}/gap.csv, gap_vs_sigma.csv, table.md, fig_maps.png, fig_gap_vs_sigma.png, config.json")
    return 0


if __name__ == "__main__":
    validation.cli_entry(main, sys.argv[1:])
