"""experiments.report: one self-contained HTML page and a markdown report of several run directories."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from experiments import paper_values, report  # noqa: E402
from specxai_jax import atomic, validation  # noqa: E402


def figure(path: Path, colour: str) -> None:
    fig, ax = plt.subplots(figsize=(2, 2))
    ax.plot([0, 1], [0, 1], color=colour)
    fig.savefig(path)
    plt.close(fig)


def target_run(directory: Path) -> Path:
    """A tab4 target directory as experiments.reproduce writes it (with made-up numbers)."""
    directory.mkdir(parents=True)
    figure(directory / "fig_maps.png", "red")
    atomic.write_csv(directory / "comparison.csv", [{"model": "vit-relu", "method": "vanilla_grad", "ef": 0.123456789,
                                                     "paper_ef": 0.239}], ["model", "method", "ef", "paper_ef"])
    atomic.write_text(directory / "comparison.md", "# Tab. 4: ours beside the paper\n\n| model | paper EF |\n|---|---|\n"
                      "| vit-relu | 0.239 |\n")
    atomic.write_json(directory / "target.json", {
        "target": "tab4", "title": "Tab. 4: ViT", "claim": paper_values.CLAIMS["tab4"], "quick": True, "dataset": None,
        "seconds": 12.0, "runs": [{"label": "tab4", "dir": ".", "command": "python -m experiments.explanation_gap",
                                   "settings": {"img_size": 16, "beta": float("inf")}}],
        "checks": [{"claim": "vit-relu: GradCAM has the largest ΔEF", "holds": False, "measured": "largest: deeplift"}],
        "notes": ["a note to show"], "figures": ["fig_maps.png"], "tables": ["comparison.csv"],
        "markdown": ["comparison.md"], "environment": {"platform": "cpu"}})
    return directory


def sweep_run(directory: Path) -> Path:
    """A plain β-sweep output directory."""
    directory.mkdir(parents=True)
    figure(directory / "fig_ef_vs_beta.png", "blue")
    figure(directory / "fig_spectra.png", "green")
    atomic.write_csv(directory / "results.csv", [{"beta": 1.0, "ef": 0.5}, {"beta": float("inf"), "ef": 0.7}],
                     ["beta", "ef"])
    atomic.write_json(directory / "config.json", {"dataset": "synthetic", "acc_cap": 0.9})
    return directory


@pytest.fixture
def written(tmp_path):
    runs = [target_run(tmp_path / "tab4"), sweep_run(tmp_path / "sweep")]
    assert report.main(["--runs", *map(str, runs), "--out", str(tmp_path / "out")]) == 0
    out = tmp_path / "out"
    return out, (out / "report.md").read_text(), (out / "report.html").read_text(), runs


def test_html_embeds_every_figure_and_needs_no_other_file(written):
    _, _, page, runs = written
    sources = re.findall(r'src="([^"]*)"', page)
    assert len(sources) == 3 and all(s.startswith("data:image/png;base64,") for s in sources)
    embedded = {base64.b64decode(s.split(",", 1)[1]) for s in sources}
    on_disk = {p.read_bytes() for run in runs for p in run.glob("*.png")}
    assert embedded == on_disk
    assert "href=" not in page and "<link" not in page and "<script" not in page


def test_markdown_links_figures_relative_to_the_report(written):
    out, markdown, _, _ = written
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", markdown)
    assert len(links) == 3
    assert all((out / link).resolve().is_file() for link in links)


def test_report_shows_claims_paper_numbers_tables_checks_and_configuration(written):
    _, markdown, page, _ = written
    for text in (paper_values.CLAIMS["tab4"], "0.239", "0.1235", "GradCAM has the largest ΔEF", "**no**",
                 "a note to show", '"img_size": 16', '"acc_cap": 0.9', "python -m experiments.explanation_gap"):
        assert text in markdown
    assert "<table>" in page and "<details>" in page and "<blockquote>a note to show</blockquote>" in page
    assert "ΔEF" in page  # unicode kept, not escaped


def test_missing_or_foreign_run_directory_is_a_one_line_error(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    good = sweep_run(tmp_path / "good")
    for run in (tmp_path / "missing", tmp_path / "empty"):
        with pytest.raises(SystemExit) as exit_info:
            validation.cli_entry(report.main, ["--runs", str(good), str(run), "--out", str(tmp_path / "out")])
        error = capsys.readouterr().err
        assert exit_info.value.code == 2
        assert error.startswith("error:") and len(error.strip().splitlines()) == 1 and str(run) in error
    assert not (tmp_path / "out" / "report.html").exists()


def test_long_csv_is_listed_not_inlined(tmp_path):
    path = tmp_path / "spectra.csv"
    atomic.write_csv(path, [{"k": k, "power": 1.0 / (k + 1)} for k in range(report.MAX_TABLE_ROWS + 1)], ["k", "power"])
    lines = report.csv_markdown(path)
    assert "41 rows" in lines[0] and not any(line.startswith("|") for line in lines)


def test_config_json_keeps_unicode_and_infinity():
    text = report.configuration_text("target.json", {"target": "fig2", "runs": [{"betas": [1.0, float("inf")]}],
                                                     "checks": ["not configuration"]})
    assert "Infinity" in text and "checks" not in text and json.loads(text)["target"] == "fig2"
