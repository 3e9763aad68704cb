"""``python -m ntk.verify_lemma1`` / ``specxai-verify-lemma1``: Lemma 1 checked numerically (:mod:`specxai_jax.ntk.verify_lemma1`)."""

from __future__ import annotations

import dataclasses
import math
import sys
from typing import Sequence

from specxai_jax.cli import validation
from specxai_jax.errors import UsageError
from specxai_jax.ntk.verify_lemma1 import Settings, failures, verify


def build_parser() -> validation.OneLineArgumentParser:
    """The command line (errors are one line, exit status 2)."""
    parser = validation.OneLineArgumentParser(prog="python -m ntk.verify_lemma1", description="Numerical check of Lemma 1: smoothing ReLU makes the NTK spectrum decay faster.")
    parser.add_argument("--out", type=validation.writable_dir, default="results/ntk", help="output directory")
    parser.add_argument("--quick", action="store_true", help="small sizes and a few β (for tests)")
    parser.add_argument("--betas", type=validation.beta_list,
                        help="finite β grid, at least two (default: the paper's 0.1 … 100; ReLU is always added)")
    return parser


def settings_from(args) -> Settings:
    """Settings of the parsed flags; raises UsageError for a β grid the checks cannot use."""
    settings = Settings.quick() if args.quick else Settings()
    if args.betas is None:
        return settings
    if any(math.isinf(beta) for beta in args.betas):
        raise UsageError("--betas takes finite β only; ReLU (β = inf) is always included as the reference")
    if len(args.betas) < 2:
        raise UsageError(f"--betas needs at least two β to check an ordering, got {args.betas}")
    return dataclasses.replace(settings, betas=tuple(sorted(args.betas)))



def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    report = verify(settings_from(args), args.out)
    failed = failures(report)
    print(f"{'PASSED' if not failed else 'FAILED'} in {report['seconds']:.0f}s; wrote {args.out}/lemma1.json and "
          f"fig_ntk_eigendecay.png")
    for name in failed:
        print(f"  failed: {name}", file=sys.stderr)
    return 0 if not failed else 1



if __name__ == "__main__":
    validation.cli_entry(main, sys.argv[1:])
