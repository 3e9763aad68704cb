"""One report of several runs: ``python -m experiments.report --runs DIR... [--out DIR]``.

Writes ``report.md`` and a self-contained ``report.html`` (see :mod:`specxai_jax.reproduction.report`).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Sequence

from specxai_jax.cli import validation
from specxai_jax.reproduction.report import write_report


def build_parser() -> validation.OneLineArgumentParser:
    parser = validation.OneLineArgumentParser(prog="python -m experiments.report", description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", nargs="+", type=Path, required=True, help="run directories to report")
    parser.add_argument("--out", type=validation.writable_dir, default=Path("report"),
                        help="where report.md and report.html go")
    parser.add_argument("--title", default="Reproduction report", help="the report's title")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    markdown, page = write_report(args.runs, args.out, args.title)
    count = len(args.runs)
    print(f"wrote {markdown} and {page} ({count} run{'' if count == 1 else 's'})")
    return 0


if __name__ == "__main__":
    validation.cli_entry(main, sys.argv[1:])
