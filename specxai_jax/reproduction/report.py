"""One report of several runs (the library side of ``python -m experiments.report``).

Writes ``report.md`` (figures linked by relative path) and ``report.html`` (the same, self-contained:
figures embedded as base64 PNG). Each run directory may be a reproduction target (target.json, from
python -m experiments.reproduce), a β-sweep (results.csv + config.json), an explanation-gap run (gap.csv) or a
Lemma 1 check (lemma1.json). Checks are read as data: a target's from target.json, a sweep's and a gap
run's from checks.json, Lemma 1's from lemma1.json; a claim is shown as holding only where a check computed
it. The report leads with every run's checks of the paper's claims in one
table, the paper's own number beside ours where it gives one; then, per run (in the order of the
reproduction targets): the paper's claim and published numbers, our checks of the claim, every figure
(in the run's own order), every table (long CSVs are listed, not inlined) and the configuration.
Only files inside the given run directories are read: a path (or link) that leads outside is left out
with a note, wherever it is named (target.json, an image line of an included markdown file).
"""

from __future__ import annotations

import csv
import json
import math
import os
import re
from pathlib import Path
from typing import Sequence

from specxai_jax import spectral
from specxai_jax.errors import DataError, UsageError
from specxai_jax.reproduction import html as repro_html
from specxai_jax.reproduction import paper_values
from specxai_jax.results import CHECKS_FILE, Check, read_checks, verdict
from specxai_jax.storage import atomic

MAX_TABLE_ROWS = 40   # a longer CSV is summarized, not inlined
CONFIG_FILES = ("target.json", "config.json", "lemma1.json")
TARGET_ORDER = ("fig2", "fig3", "fig5", "fig6", "fig7", "fig8", "fig9", "fig11", "tab1", "tab2", "tab4", "theorem1",
                "plane", "faithfulness", "regularized")
"""The reproduction targets (specxai_jax.reproduction.targets) in their order (a test keeps the two equal);
the report's sections follow it."""
PLAIN_TARGET = {"sweep": "fig3", "gap": "tab1", "lemma1": "fig11"}
"""The paper's figure or table that a run which is not a reproduction target speaks to."""
PLAIN_FIGURES = {"gap": ("fig_maps.png", "fig_gap_vs_sigma.png")}
"""Figure order of plain runs (explanation_gap writes them so); a sweep's report.md names its own order."""
IMAGE_LINE = re.compile(r"^!\[(?P<alt>[^\]]*)\]\((?P<path>[^)]+)\)$")


def inside(directory: Path, name: str) -> Path | None:
    """``directory / name`` if it is a file that lies inside ``directory`` once links are followed, else None."""
    path = directory / str(name)
    try:
        if path.resolve().is_relative_to(directory.resolve()) and path.is_file():
            return path
    except (OSError, ValueError):
        pass
    return None


def left_out(name: str) -> str:
    return f"*`{name}` left out: not a file inside the run directory.*"


def included_markdown(directory: Path, path: Path, out: Path) -> list[str]:
    """A run's markdown file, demoted; its image links point from ``out`` into the run, or are left out."""
    lines = []
    for line in demote(path.read_text()):
        image = IMAGE_LINE.match(line.strip())
        if image:
            target = inside(directory, image.group("path"))
            line = (f"![{image.group('alt')}]({Path(os.path.relpath(target, out)).as_posix()})" if target
                    else left_out(image.group("path")))
        lines.append(line)
    return lines


def run_kind(directory: Path) -> str:
    """'target', 'sweep', 'gap' or 'lemma1'; UsageError when ``directory`` is none of them."""
    if not directory.is_dir():
        raise UsageError(f"run directory {str(directory)!r} does not exist")
    for kind, marker in (("target", "target.json"), ("sweep", "results.csv"), ("gap", "gap.csv"),
                         ("lemma1", "lemma1.json")):
        if inside(directory, marker):
            return kind
    raise UsageError(f"{str(directory)!r} is not a run directory (no target.json, results.csv, gap.csv "
                                "or lemma1.json); run experiments.reproduce or experiments.sweep_beta into it first")


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


def cell(text) -> str:
    """Text for one cell of a pipe table (a "|" inside it would split the cell)."""
    return str(text).replace("|", "∣").replace("\n", " ")


def paper_number(run: dict, claim: str) -> str:
    """The paper's published number behind one of our checks of ``run``, or "–" where the paper gives none
    (of its tables only Tab. 4 survives with numbers, see paper_values; its figures carry none)."""
    target = run["target"]
    table = paper_values.TAB4 if target == "tab4" or run["kind"] == "gap" else None
    model = claim.split(":")[0]
    if table and model in table and "GradCAM has the largest ΔEF" in claim:
        delta = {method: value[1] for method, value in table[model].items() if value is not None}
        largest = max(delta, key=delta.__getitem__)
        rank = "the largest" if largest == "gradcam" else \
            f"the largest is {paper_values.METHOD_NAMES[largest]}'s, {delta[largest]:.3f}"
        return f"Tab. 4 (EF/K ×10⁴): GradCAM ΔEF {delta['gradcam']:.3f}, {rank}"
    gelu, relu = (paper_values.TAB4[name]["vanilla_grad"] for name in ("vit-gelu", "vit-relu"))
    if target == "tab4" and claim.startswith("GELU-ViT's VanillaGrad EF") and gelu is not None and relu is not None:
        return f"Tab. 4 (EF/K ×10⁴): GELU {gelu[0]:.3f}, ReLU {relu[0]:.3f}"
    return "–"


def as_float(text) -> float:
    """A CSV cell as a float; NaN when it is not a number."""
    try:
        return float(text)
    except (TypeError, ValueError):
        return math.nan


def gap_rows(directory: Path) -> list[dict]:
    """The rows of a gap run's gap.csv that have the columns the report reads (model, method, ef, delta_ef)."""
    with open(directory / "gap.csv", newline="") as stream:
        return [row for row in csv.DictReader(stream) if all(row.get(name) for name in ("model", "method", "ef"))
                and "delta_ef" in row]


def run_checks(directory: Path, kind: str, record: dict | None) -> list[Check]:
    """A run's computed checks of the paper's claims: a target's from target.json, a sweep's and a gap run's
    from checks.json (none when it has none), Lemma 1's from lemma1.json. UsageError for a malformed record."""
    try:
        if kind == "target":
            return [Check.from_json(check) for check in (record or {}).get("checks", [])]
        if kind in ("sweep", "gap"):
            path = inside(directory, CHECKS_FILE)
            return read_checks(path) if path else []
    except DataError as error:
        raise UsageError(f"{directory}: {error}") from None
    checks = json.loads((directory / "lemma1.json").read_text()).get("checks")
    checks = {name: check for name, check in (checks.items() if isinstance(checks, dict) else ())
              if isinstance(check, dict)}
    return [Check(name.replace("_", " "), check.get("passed") if isinstance(check.get("passed"), bool) else None,
                  f"error {as_float(check.get('error')):.3g}, tolerance {as_float(check.get('tolerance')):.3g}")
            for name, check in checks.items()]


def claims_table(runs: Sequence[dict]) -> list[str]:
    """The report's opening table: every run's checks of the paper's claims, the paper's number beside ours."""
    checks = [(run, check) for run in runs for check in run["checks"]]
    held = sum(check.holds is True for _, check in checks)
    lines = ["## The paper's claims, checked", "",
             f"{held} of {len(checks)} checks hold ({sum(c.holds is False for _, c in checks)} fail, "
             f"{sum(c.holds is None for _, c in checks)} inconclusive). The paper's number is given where it "
             "publishes one (its figures carry none).", "",
             "| run | the paper's claim | our check | holds | measured | the paper's number |",
             "|---|---|---|---|---|---|"]
    for run in runs:
        first = True
        for check in run["checks"] or [Check("no check recorded", None, "–", inconclusive="no check recorded")]:
            claim = f"{run['claim']}" if first else "″"
            lines.append(f"| {cell(run['title'] if first else '″')} | {cell(claim)} | {cell(check.claim)} | "
                         f"{verdict(check)} | {cell(check.measured)} | {cell(paper_number(run, check.claim))} |")
            first = False
    return lines + [""]


def target_section(directory: Path, record: dict, out: Path) -> tuple[list[str], list[str], list[str]]:
    """(lines between the checks and the figures, figure names, table names) of a reproduction target; names
    that do not lead to a file inside ``directory`` are left out with a note."""
    lines = [f"> {note}" for note in record.get("notes", [])] + ([""] if record.get("notes") else [])
    mode = "quick (reduced, synthetic data)" if record["quick"] else "the paper's settings"
    lines += [f"Run with {mode}" + (f" on `{record['dataset']}`" if record.get("dataset") else "")
              + f"; {record['seconds']:.0f} s on {record['environment']['platform']}.", ""]
    for name in record.get("markdown", []):
        path = inside(directory, name)
        lines += included_markdown(directory, path, out) if path else [left_out(name), ""]
    figures, tables = ([name for name in record[field] if inside(directory, name)] for field in ("figures", "tables"))
    lines += [left_out(name) for name in record["figures"] + record["tables"] if not inside(directory, name)]
    return lines, figures, tables


def checks_table(checks: Sequence[Check]) -> list[str]:
    """A run's checks of the paper's claim as a pipe table (none: no lines)."""
    if not checks:
        return []
    lines = ["| our check of the claim | holds | measured |", "|---|---|---|"]
    lines += [f"| {cell(c.claim)} | {verdict(c)} | {cell(c.measured)} |" for c in checks]
    return lines + [""]


def paper_comparison(directory: Path) -> list[str]:
    """An explanation-gap run's EF and ΔEF beside Tab. 4's, for its models that the paper's Tab. 4 has."""
    rows = [row for row in gap_rows(directory) if row["model"] in paper_values.TAB4]
    config = inside(directory, "config.json")
    size = json.loads(config.read_text()).get("img_size") if config else None
    if not rows or not isinstance(size, int):
        return []
    bins = int(spectral.radius_bins(size, size).max()) + 1
    lines = [f"Ours beside the paper's Tab. 4 (ViT-B16 on Imagenette; ours: this run's data at {size} px), in the "
             "convention the paper prints (EF/K ×10⁴):", "",
             "| model | method | EF/K ×10⁴ | paper EF | ΔEF/K ×10⁴ | paper ΔEF |", "|---|---|---|---|---|---|"]
    for row in rows:
        published = paper_values.TAB4[row["model"]].get(row["method"])
        ours = [f"{1e4 * as_float(row[name]) / bins:.3f}" if math.isfinite(as_float(row[name])) else "–"
                for name in ("ef", "delta_ef")]
        paper = [f"{value:.3f}" for value in published] if published else ["–", "–"]
        lines.append(f"| {row['model']} | {paper_values.METHOD_NAMES.get(row['method'], row['method'])} | "
                     f"{ours[0]} | {paper[0]} | {ours[1]} | {paper[1]} |")
    return lines + [""]


def figure_order(directory: Path, kind: str) -> list[str]:
    """The names a plain run's figures come in: a sweep's as its report.md shows them, a gap run's as
    explanation_gap writes them (PLAIN_FIGURES); any other after them, alphabetically."""
    named = list(PLAIN_FIGURES.get(kind, ()))
    own = inside(directory, "report.md")
    if kind == "sweep" and own:
        named = [image.group("path") for image in map(IMAGE_LINE.match, own.read_text().splitlines()) if image]
    found = sorted(path.name for path in directory.glob("*.png") if inside(directory, path.name))
    return [name for name in named if name in found] + [name for name in found if name not in named]


def plain_section(directory: Path, kind: str, out: Path) -> tuple[list[str], list[str], list[str]]:
    """(lines between the checks and the figures, figures, tables) of a run that is not a reproduction target."""
    lines = []
    if kind == "gap":
        lines += paper_comparison(directory)
        if inside(directory, "table.md"):
            lines += included_markdown(directory, directory / "table.md", out)
    tables = sorted(path.name for path in directory.glob("*.csv") if inside(directory, path.name))
    return lines, figure_order(directory, kind), tables


def configuration_text(name: str, config: dict) -> str:
    """The configuration part of a run's JSON file, readable: unicode kept, ±inf as "inf"/"-inf" and NaN as
    null, as the project writes JSON (``atomic.from_json`` reads it back)."""
    if name == "target.json":
        config = {key: config.get(key) for key in ("target", "quick", "dataset", "runs", "environment")}
    elif name == "lemma1.json":
        config = {"settings": config.get("settings"), "passed": config.get("passed")}
    return json.dumps(atomic.plain_json(config), indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False)


def read_run(directory: Path) -> dict:
    """What the report says of one run: its kind, target (the paper's figure or table it speaks to),
    title, the paper's claim, our checks of it and (for a target) its target.json record."""
    kind = run_kind(directory)
    if kind == "target":
        record = json.loads((directory / "target.json").read_text())
        return {"directory": directory, "kind": kind, "target": record.get("target"), "title": record["title"],
                "claim": record["claim"], "checks": run_checks(directory, kind, record), "record": record}
    title = {"sweep": "β-sweep", "gap": "Explanation gap", "lemma1": "Lemma 1 (NTK eigen-decay)"}[kind]
    return {"directory": directory, "kind": kind, "target": PLAIN_TARGET[kind], "title": title,
            "claim": paper_values.CLAIMS[PLAIN_TARGET[kind]], "checks": run_checks(directory, kind, None)}


def target_rank(run: dict) -> int:
    """Where a run's section goes: its target's place in TARGET_ORDER (an unknown target last)."""
    return TARGET_ORDER.index(run["target"]) if run["target"] in TARGET_ORDER else len(TARGET_ORDER)


def run_markdown(run: dict, out: Path) -> list[str]:
    """The report section of one run (figure paths relative to ``out``)."""
    directory, kind = run["directory"], run["kind"]
    if kind == "target":
        lines, figures, tables = target_section(directory, run["record"], out)
    else:
        lines, figures, tables = plain_section(directory, kind, out)
    section = [f"## {run['title']} — `{directory}`", "", f"**Paper:** {run['claim']}", "",
               *checks_table(run["checks"]), *lines, "### Figures", ""]
    for name in figures:
        path = directory / name
        section += [f"![{name}]({Path(os.path.relpath(path, out)).as_posix()})", ""]
    section += ["### Tables", ""]
    for name in tables:
        section += csv_markdown(directory / name)
    section += ["### Configuration", ""]
    for name in CONFIG_FILES:
        path = inside(directory, name)
        if path:
            section += [f"`{name}`:", "", "```json", configuration_text(name, json.loads(path.read_text())), "```", ""]
            break
    return section


def report_markdown(runs: Sequence[Path], out: Path, title: str) -> str:
    """The whole report.md."""
    lines = [f"# {title}", "",
             "First every check of the paper's claims, then one section per run in the order of the paper's "
             "figures and tables: the paper's claim (and its published numbers where it gives them), our checks "
             "of the claim, the figures, the tables behind them and the exact configuration. "
             f"EF convention: {paper_values.EF_CONVENTION}; ours is on the unit frequency scale unless a column "
             "says otherwise.", ""]
    ordered = sorted((read_run(Path(directory)) for directory in runs), key=target_rank)
    lines += claims_table(ordered)
    for run in ordered:
        lines += run_markdown(run, out)
    return "\n".join(confine_images(lines, runs, out)) + "\n"


def confine_images(lines: list[str], runs: Sequence[Path], out: Path) -> list[str]:
    """Every image line whose file (resolved from ``out``) is not inside one of ``runs`` is left out,
    so report.html embeds nothing from elsewhere."""
    kept = []
    for line in lines:
        image = IMAGE_LINE.match(line.strip())
        if image:
            target = Path(out) / image.group("path")
            if not any(inside(Path(run), os.path.relpath(target, run)) for run in runs):
                line = left_out(image.group("path"))
        kept.append(line)
    return kept


def write_report(runs: Sequence[Path], out: Path, title: str = "Reproduction report") -> tuple[Path, Path]:
    """Write ``out/report.md`` and ``out/report.html``; returns their paths."""
    for directory in runs:
        run_kind(Path(directory))  # every run is checked before anything is written
    out = Path(out)
    markdown = report_markdown(runs, out, title)
    atomic.write_text(out / "report.md", markdown)
    atomic.write_text(out / "report.html", repro_html.to_html(markdown, out, title, runs))
    return out / "report.md", out / "report.html"
