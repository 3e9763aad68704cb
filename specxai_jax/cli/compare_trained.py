"""``python -m ntk.compare_trained --run DIR`` / ``specxai-compare-ntk``: trained sweeps against NTK eigen-decay
(:mod:`specxai_jax.ntk.compare_trained`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

from specxai_jax.cli import validation
from specxai_jax.ntk.compare_trained import compare, plot, read_results
from specxai_jax.storage import atomic


def existing_run(text: str) -> Path:
    """argparse type: a directory holding a sweep's results.csv."""
    path = Path(text).expanduser()
    if not (path / "results.csv").is_file():
        raise argparse.ArgumentTypeError(f"no results.csv in {text!r}; pass the --out directory of "
                                         "python -m experiments.sweep_beta")
    return path


def build_parser() -> validation.OneLineArgumentParser:
    """The command line (errors are one line, exit status 2)."""
    parser = validation.OneLineArgumentParser(prog="python -m ntk.compare_trained", description="Relate each activation's NTK eigen-decay to the Expected Frequency measured on trained models.")
    parser.add_argument("--run", type=existing_run, required=True, help="sweep directory holding results.csv")
    parser.add_argument("--out", type=validation.writable_dir, default=None,
                        help="output directory (default: the run directory)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    groups = read_results(args.run / "results.csv")
    report = compare(groups)
    out = args.out or args.run
    atomic.write_json(out / "ntk_vs_ef.json", report)
    plot(report, out / "fig_ntk_vs_ef.png")
    for name, corr in report["spearman_tail_share_vs_ef"].items():
        rho = "n/a" if corr["rho"] is None else f"{corr['rho']:+.2f} (p = {corr['p_value']:.2g})"
        print(f"{name:>10}: Spearman ρ(tail share, EF) = {rho}, n = {corr['n']}")
    print(f"wrote {out / 'ntk_vs_ef.json'} and {out / 'fig_ntk_vs_ef.png'}")
    return 0



if __name__ == "__main__":
    validation.cli_entry(main, sys.argv[1:])
