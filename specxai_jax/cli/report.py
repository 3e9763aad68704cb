"""One report of several runs: ``python -m experiments.report --runs DIR... [--out DIR]``.

Writes ``report.md`` and a self-contained ``report.html`` (see :mod:`specxai_jax.reproduction.report`).
Every run's JSON files are checked first; a corrupt one is named in one line.
"""

from __future__ import annotations

import json
import numbers
import sys
from pathlib import Path
from typing import Sequence

from specxai_jax.cli import validation
from specxai_jax.errors import UsageError
from specxai_jax.reproduction.report import CONFIG_FILES, inside, write_report

TARGET_FIELDS = {"title": str, "claim": str, "checks": list, "quick": bool, "seconds": numbers.Real,
                 "environment": dict, "figures": list, "tables": list}
"""The fields of target.json the report reads, and their JSON types (as experiments.reproduce writes them)."""
OPTIONAL_LISTS = ("notes", "markdown")
CHECK_FIELDS = {"claim": str, "measured": str}


def read_json(directory: Path, name: str) -> dict | None:
    """The JSON object in ``directory/name`` (None if absent); UsageError if it is not readable JSON or not an object."""
    path = inside(directory, name)
    if path is None:
        return None
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise UsageError(f"{path} is not readable JSON ({type(error).__name__}: {error}); rerun the command that "
                         "wrote it, or leave this run out") from None
    if not isinstance(value, dict):
        raise UsageError(f"{path} holds a JSON {type(value).__name__}, not an object; rerun the command that wrote it")
    return value


def check_run_files(directory: Path) -> None:
    """Raise UsageError naming the file and field when a run's target.json, lemma1.json or config.json cannot
    be read as experiments.reproduce, sweep_beta, explanation_gap or verify_lemma1 write them."""
    values = {name: read_json(directory, name) for name in CONFIG_FILES}
    record = values["target.json"]
    if record is not None:
        where = directory / "target.json"
        for field, kind in TARGET_FIELDS.items():
            value = record.get(field)
            if isinstance(value, bool) and kind is not bool or not isinstance(value, kind):
                raise UsageError(f"{where}: field {field!r} is missing or not a {kind.__name__}; rerun the target")
        if not isinstance(record["environment"].get("platform"), str):
            raise UsageError(f"{where}: field 'environment' lacks its 'platform'; rerun the target")
        for field in ("figures", "tables", *OPTIONAL_LISTS):
            if not all(isinstance(item, str) for item in record.get(field, [])) or not isinstance(record.get(field, []), list):
                raise UsageError(f"{where}: field {field!r} must be a list of names; rerun the target")
        for check in record["checks"]:
            if not (isinstance(check, dict) and all(isinstance(check.get(f), t) for f, t in CHECK_FIELDS.items())
                    and check.get("holds") in (True, False, None)):
                raise UsageError(f"{where}: every entry of 'checks' must hold claim, holds (true, false or null) and "
                                 "measured; rerun the target")


def build_parser() -> validation.OneLineArgumentParser:
    parser = validation.OneLineArgumentParser(prog="python -m experiments.report", description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", nargs="+", type=Path, required=True, help="run directories to report")
    parser.add_argument("--out", type=validation.writable_dir, default=Path("report"),
                        help="where report.md and report.html go")
    parser.add_argument("--title", default="Reproduction report", help="the report's title")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    for directory in args.runs:
        check_run_files(directory)
    markdown, page = write_report(args.runs, args.out, args.title)
    count = len(args.runs)
    print(f"wrote {markdown} and {page} ({count} run{'' if count == 1 else 's'})")
    return 0


if __name__ == "__main__":
    validation.cli_entry(main, sys.argv[1:])
