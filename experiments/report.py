"""One report of several runs: ``python -m experiments.report --runs DIR... [--out DIR]``.

Writes ``report.md`` (figures linked by relative path) and ``report.html`` (the same, self-contained:
figures embedded as base64 PNG). Each run directory may be a reproduction target (target.json, from
experiments.reproduce), a β-sweep (results.csv + config.json), an explanation-gap run (gap.csv) or a
Lemma 1 check (lemma1.json). Per run: the paper's claim and published numbers where it gives them, our
checks of the claim, every figure, every table (long CSVs are listed, not inlined) and the configuration.
"""

from __future__ import annotations

import csv
import json
import math
import os
import sys
from pathlib import Path
from typing import Sequence

from experiments import paper_values, repro_html
from specxai_jax import atomic, validation

MAX_TABLE_ROWS = 40   # a longer CSV is summarized, not inlined
CONFIG_FILES = ("target.json", "config.json", "lemma1.json")


def run_kind(directory: Path) -> str:
    """'target', 'sweep', 'gap' or 'lemma1'; UsageError when ``directory`` is none of them."""
    if not directory.is_dir():
        raise validation.UsageError(f"run directory {str(directory)!r} does not exist")
    for kind, marker in (("target", "target.json"), ("sweep", "results.csv"), ("gap", "gap.csv"),
                         ("lemma1", "lemma1.json")):
        if (directory / marker).is_file():
            return kind
    raise validation.UsageError(f"{str(directory)!r} is not a run directory (no target.json, results.csv, gap.csv "
                                "or lemma1.json); run experiments.reproduce or sweep_beta into it first")


def number(text: str) -> str:
    """A CSV cell for display: floats to 4 significant digits, the rest as written."""
    try:
        value = float(text)
    except ValueError:
        return text
    if text.strip().lstrip("-").isdigit() or math.isinf(value) or math.isnan(value):
        return text
    return f"{value:.4g}"


def csv_markdown(path: Path) -> list[str]:
    """A CSV as a markdown table, or one line naming it when it is longer than MAX_TABLE_ROWS."""
    with open(path, newline="") as stream:
        rows = list(csv.reader(stream))
    if not rows:
        return [f"`{path.name}` is empty.", ""]
    header, body = rows[0], rows[1:]
    if len(body) > MAX_TABLE_ROWS:
        return [f"`{path.name}`: {len(body)} rows of {', '.join(header)} (the data behind the figures; "
                "not inlined).", ""]
    lines = [f"`{path.name}`:", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(number(cell) for cell in row) + " |" for row in body]
    return lines + [""]


def demote(markdown: str, levels: int = 2) -> list[str]:
    """A markdown file's lines with its headings ``levels`` deeper (to nest it in the report)."""
    return [("#" * levels + line) if line.startswith("#") else line for line in markdown.splitlines()] + [""]


def verdict(holds) -> str:
    return {True: "yes", False: "**no**", None: "n/a"}[holds]


def target_section(directory: Path, record: dict) -> tuple[list[str], list[str], list[str]]:
    """(lines before the figures, figure names, table names) of a reproduction target."""
    lines = [f"**Paper:** {record['claim']}", ""]
    lines += [f"> {note}" for note in record.get("notes", [])] + ([""] if record.get("notes") else [])
    mode = "quick (reduced, synthetic data)" if record["quick"] else "the paper's settings"
    lines += [f"Run with {mode}" + (f" on `{record['dataset']}`" if record.get("dataset") else "")
              + f"; {record['seconds']:.0f} s on {record['environment']['platform']}.", ""]
    if record["checks"]:
        lines += ["| our check of the claim | holds | measured |", "|---|---|---|"]
        lines += [f"| {c['claim']} | {verdict(c['holds'])} | {c['measured']} |" for c in record["checks"]]
        lines.append("")
    for name in record.get("markdown", []):
        if (directory / name).is_file():
            lines += demote((directory / name).read_text())
    return lines, record["figures"], record["tables"]


def plain_section(directory: Path, kind: str) -> tuple[list[str], list[str], list[str]]:
    """(lines, figures, tables) of a run that is not a reproduction target."""
    claim = {"sweep": paper_values.CLAIMS["fig3"], "gap": paper_values.CLAIMS["tab1"],
             "lemma1": paper_values.CLAIMS["fig11"]}[kind]
    lines = [f"**Paper:** {claim}", ""]
    if kind == "gap" and (directory / "table.md").is_file():
        lines += demote((directory / "table.md").read_text())
    figures = sorted(path.name for path in directory.glob("*.png"))
    tables = sorted(path.name for path in directory.glob("*.csv"))
    return lines, figures, tables


def configuration_text(name: str, config: dict) -> str:
    """The configuration part of a run's JSON file, readable (unicode kept, inf as Infinity)."""
    if name == "target.json":
        config = {key: config.get(key) for key in ("target", "quick", "dataset", "runs", "environment")}
    elif name == "lemma1.json":
        config = {"settings": config.get("settings"), "passed": config.get("passed")}
    return json.dumps(config, indent=2, sort_keys=True, ensure_ascii=False, default=str)


def run_markdown(directory: Path, out: Path) -> list[str]:
    """The report section of one run directory (figure paths relative to ``out``)."""
    kind = run_kind(directory)
    if kind == "target":
        record = json.loads((directory / "target.json").read_text())
        title = record["title"]
        lines, figures, tables = target_section(directory, record)
    else:
        title = {"sweep": "β-sweep", "gap": "Explanation gap", "lemma1": "Lemma 1 (NTK eigen-decay)"}[kind]
        lines, figures, tables = plain_section(directory, kind)
    section = [f"## {title} — `{directory}`", "", *lines, "### Figures", ""]
    for name in figures:
        path = directory / name
        section += [f"![{name}]({Path(os.path.relpath(path, out)).as_posix()})", ""]
    section += ["### Tables", ""]
    for name in tables:
        if (directory / name).is_file():
            section += csv_markdown(directory / name)
    section += ["### Configuration", ""]
    for name in CONFIG_FILES:
        path = directory / name
        if path.is_file():
            section += [f"`{name}`:", "", "```json", configuration_text(name, json.loads(path.read_text())), "```", ""]
            break
    return section


def report_markdown(runs: Sequence[Path], out: Path, title: str) -> str:
    """The whole report.md."""
    lines = [f"# {title}", "",
             "Each section: the paper's claim (and its published numbers where it gives them), our checks of the "
             "claim, the figures, the tables behind them and the exact configuration. "
             f"EF convention: {paper_values.EF_CONVENTION}; ours is on the unit frequency scale unless a column "
             "says otherwise.", ""]
    for directory in runs:
        lines += run_markdown(Path(directory), out)
    return "\n".join(lines) + "\n"


def write_report(runs: Sequence[Path], out: Path, title: str = "Reproduction report") -> tuple[Path, Path]:
    """Write ``out/report.md`` and ``out/report.html``; returns their paths."""
    for directory in runs:
        run_kind(Path(directory))  # every run is checked before anything is written
    out = Path(out)
    markdown = report_markdown(runs, out, title)
    atomic.write_text(out / "report.md", markdown)
    atomic.write_text(out / "report.html", repro_html.to_html(markdown, out, title))
    return out / "report.md", out / "report.html"


def build_parser() -> validation.OneLineArgumentParser:
    parser = validation.OneLineArgumentParser(prog="python -m experiments.report", description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", nargs="+", type=Path, required=True, help="run directories to report")
    parser.add_argument("--out", type=validation.writable_dir, default=Path("report"),
                        help="where report.md and report.html go (default: ./report)")
    parser.add_argument("--title", default="Reproduction report", help="the report's title")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    markdown, page = write_report(args.runs, args.out, args.title)
    print(f"wrote {markdown} and {page} ({len(args.runs)} runs)")
    return 0


if __name__ == "__main__":
    validation.cli_entry(main, sys.argv[1:])
