"""specxai_jax.cli.report: one self-contained HTML page and a markdown report of several run directories."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from specxai_jax import results
from specxai_jax.cli import report as report_cli
from specxai_jax.cli import validation  # noqa: E402
from specxai_jax.errors import UsageError
from specxai_jax.gap import report as gap_report
from specxai_jax.reproduction import (
    paper_values,  # noqa: E402
    report,  # noqa: E402
)
from specxai_jax.storage import atomic  # noqa: E402


def figure(path: Path, colour: str) -> None:
    fig, ax = plt.subplots(figsize=(2, 2))
    ax.plot([0, 1], [0, 1], color=colour)
    fig.savefig(path)
    plt.close(fig)


def target_run(directory: Path) -> Path:
    """A tab4 target directory as specxai_jax.cli.reproduce writes it (with made-up numbers)."""
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
    assert report_cli.main(["--runs", *map(str, runs), "--out", str(tmp_path / "out")]) == 0
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
            validation.cli_entry(report_cli.main, ["--runs", str(good), str(run), "--out", str(tmp_path / "out")])
        error = capsys.readouterr().err
        assert exit_info.value.code == 2
        assert error.startswith("error:") and len(error.strip().splitlines()) == 1 and str(run) in error
    assert not (tmp_path / "out" / "report.html").exists()


def test_long_csv_is_listed_not_inlined(tmp_path):
    path = tmp_path / "spectra.csv"
    atomic.write_csv(path, [{"k": k, "power": 1.0 / (k + 1)} for k in range(report.MAX_TABLE_ROWS + 1)], ["k", "power"])
    lines = report.csv_markdown(path)
    assert "41 rows" in lines[0] and not any(line.startswith("|") for line in lines)


def test_config_json_keeps_unicode_and_writes_relu_as_inf():
    text = report.configuration_text("target.json", {"target": "fig2", "runs": [{"betas": [1.0, float("inf")],
                                                                                 "label": "β-sweep"}],
                                                     "checks": ["not configuration"]})
    assert "Infinity" not in text and "checks" not in text and "β-sweep" in text
    assert json.loads(text)["runs"][0]["betas"] == [1.0, "inf"]  # standard JSON, β = ∞ as the project writes it
    assert json.loads(text)["target"] == "fig2"


SECRET = "TOP-SECRET-4f1c"


def secrets(tmp_path: Path) -> dict:
    """Files outside every run directory that a hostile run directory points to."""
    outside = tmp_path / "private"
    outside.mkdir()
    (outside / "secret.md").write_text(f"# {SECRET}\n")
    atomic.write_csv(outside / "secret.csv", [{"secret": SECRET}], ["secret"])
    figure(outside / "secret.png", "black")
    (outside / "config.json").write_text(json.dumps({"secret": SECRET}))
    return {"dir": outside, "png": (outside / "secret.png").read_bytes()}


def hostile_target_run(directory: Path, outside: Path) -> Path:
    """A target run naming absolute and ../ paths, with links that lead out of the run directory."""
    target_run(directory)
    record = json.loads((directory / "target.json").read_text())
    record["markdown"] += [str(outside / "secret.md"), "../private/secret.md", "link.md"]
    record["figures"] += [str(outside / "secret.png"), "../private/secret.png", "link.png"]
    record["tables"] += [str(outside / "secret.csv"), "link.csv"]
    (directory / "target.json").write_text(json.dumps(record))
    for name, target in (("link.md", "secret.md"), ("link.png", "secret.png"), ("link.csv", "secret.csv")):
        (directory / name).symlink_to(outside / target)
    with open(directory / "comparison.md", "a") as stream:
        stream.write(f"\n![leak]({outside / 'secret.png'})\n![leak](../private/secret.png)\n![ok](fig_maps.png)\n")
    return directory


def hostile_gap_run(directory: Path, outside: Path) -> Path:
    directory.mkdir(parents=True)
    atomic.write_csv(directory / "gap.csv", [{"model": "m", "ef": 0.1}], ["model", "ef"])
    (directory / "table.md").write_text(f"| a |\n|---|\n| 1 |\n\n![leak]({outside / 'secret.png'})\n"
                                        "![leak](../private/secret.png)\n")
    (directory / "fig_link.png").symlink_to(outside / "secret.png")
    (directory / "spectra.csv").symlink_to(outside / "secret.csv")
    (directory / "config.json").symlink_to(outside / "config.json")
    return directory


def test_report_reads_nothing_outside_its_runs(tmp_path):
    outside = secrets(tmp_path)
    runs = [hostile_target_run(tmp_path / "tab4", outside["dir"]), hostile_gap_run(tmp_path / "gap", outside["dir"])]
    report_cli.main(["--runs", *map(str, runs), "--out", str(tmp_path / "out")])
    markdown = (tmp_path / "out" / "report.md").read_text()
    page = (tmp_path / "out" / "report.html").read_text()
    assert SECRET not in markdown and SECRET not in page
    assert base64.b64encode(outside["png"]).decode() not in page
    embedded = [base64.b64decode(s.split(",", 1)[1]) for s in re.findall(r'src="data:image/png;base64,([^"]*)"', page)
                for s in [f"x,{s}"]]
    assert outside["png"] not in embedded and (runs[0] / "fig_maps.png").read_bytes() in embedded
    assert markdown.count("left out") >= 8  # every refused path is named, not silently dropped


def sweep_with_claims(directory: Path) -> Path:
    """A β-sweep directory with its checks.json; its report.md names its figures in its own order."""
    sweep_run(directory)
    figure(directory / "fig_accuracy.png", "orange")
    results.write_checks(directory, [
        results.Check("seed 0: EF rises with β among capped models (Spearman ρ ≥ 0.9)", True,
                      "ρ = 1.000 over 2 of 2 models"),
        results.Check("ReLU has the heaviest spectral tail", False, "ReLU 0.1; heaviest: β=1 0.2")])
    (directory / "report.md").write_text(
        "# β-sweep\n\n## Figures\n\n"
        "![EF](fig_ef_vs_beta.png)\n\n![spectra](fig_spectra.png)\n\n![accuracy](fig_accuracy.png)\n")
    return directory


def gap_run(directory: Path) -> Path:
    """An explanation-gap directory of vit-relu at 16 px (EF 0.12: EF/K ×10⁴ = 100 with K = 12 radial bins,
    ⌊√(8² + 8²)⌋ + 1), where GradCAM's ΔEF is the largest."""
    directory.mkdir(parents=True)
    figure(directory / "fig_maps.png", "purple")
    figure(directory / "fig_gap_vs_sigma.png", "cyan")
    atomic.write_csv(directory / "gap.csv", [
        {"model": "vit-relu", "method": "vanilla_grad", "ef": 0.12, "delta_ef": 0.0, "diverged": False},
        {"model": "vit-relu", "method": "gradcam", "ef": 0.06, "delta_ef": 0.06, "diverged": False},
        {"model": "vit-relu", "method": "smooth_grad", "ef": 0.10, "delta_ef": 0.02, "diverged": False}],
        ["model", "method", "ef", "delta_ef", "diverged"])
    results.write_checks(directory, [results.Check("vit-relu: GradCAM has the largest ΔEF", True,
                                                   "largest: gradcam (0.0600)")])
    atomic.write_json(directory / "config.json", {"img_size": 16})
    return directory


def lemma1_run(directory: Path) -> Path:
    directory.mkdir(parents=True)
    figure(directory / "fig_ntk_eigendecay.png", "gray")
    atomic.write_json(directory / "lemma1.json", {"settings": {"quick": True}, "passed": True, "checks": {
        "relu_vs_neural_tangents": {"error": 1e-6, "tolerance": 1e-4, "passed": True}}})
    return directory


@pytest.fixture
def every_kind(tmp_path, capsys):
    """One run of each kind, given out of the paper's order."""
    runs = [target_run(tmp_path / "tab4"), gap_run(tmp_path / "gap"), lemma1_run(tmp_path / "lemma1"),
            sweep_with_claims(tmp_path / "sweep")]
    assert report_cli.main(["--runs", *map(str, runs), "--out", str(tmp_path / "out")]) == 0
    capsys.readouterr()
    return (tmp_path / "out" / "report.md").read_text(), (tmp_path / "out" / "report.html").read_text()


CHECKS = {  # every run's checks, with the verdict each should show
    "seed 0: EF rises with β among capped models (Spearman ρ ≥ 0.9)": "yes",
    "ReLU has the heaviest spectral tail": "<strong>no</strong>",
    "relu vs neural tangents": "yes",
    "vit-relu: GradCAM has the largest ΔEF": None,  # the tab4 target says no, the gap run yes
}


def test_report_leads_with_every_claim_checked_in_markdown_and_html(every_kind):
    markdown, page = every_kind
    sections = [line for line in markdown.splitlines() if line.startswith("## ")]
    assert sections[0] == "## The paper's claims, checked"
    first_table = page[page.index("<table>"):page.index("</table>")]
    assert page.index("<table>") < page.index("<h2>β-sweep")
    for claim, shown in CHECKS.items():
        assert claim in first_table
        if shown:
            assert re.search(re.escape(claim) + r"</td><td>" + re.escape(shown) + "</td>", first_table)
    verdicts = re.findall(r"vit-relu: GradCAM has the largest ΔEF</td><td>([^<]*(?:<strong>no</strong>)?)</td>",
                          first_table)
    assert sorted(verdicts) == ["<strong>no</strong>", "yes"]
    assert "3 of 5 checks hold (2 fail, 0 inconclusive)" in markdown
    for claim in (paper_values.CLAIMS["fig3"], paper_values.CLAIMS["tab4"], paper_values.CLAIMS["fig11"]):
        assert claim in first_table


def test_paper_number_stands_beside_ours(every_kind):
    markdown, page = every_kind
    # Tab. 4 prints GradCAM's ΔEF for ReLU-ViT as .051, the largest of its row; VanillaGrad's EF as .239.
    assert markdown.count("GradCAM ΔEF 0.051, the largest") == 2  # tab4 target and gap run
    assert "| vit-relu | VanillaGrad | 100.000 | 0.239 | 0.000 | 0.000 |" in markdown
    assert "<td>100.000</td><td>0.239</td>" in page


def test_sections_follow_the_targets_and_figures_their_run(every_kind):
    markdown, _ = every_kind
    titles = [line.split(" — ")[0] for line in markdown.splitlines() if line.startswith("## ") and " — " in line]
    assert titles == ["## β-sweep", "## Lemma 1 (NTK eigen-decay)", "## Explanation gap", "## Tab. 4: ViT"]
    figures = [Path(link).name for link in re.findall(r"^!\[[^\]]*\]\(([^)]+)\)$", markdown, re.MULTILINE)]
    assert figures == ["fig_ef_vs_beta.png", "fig_spectra.png", "fig_accuracy.png", "fig_ntk_eigendecay.png",
                       "fig_maps.png", "fig_gap_vs_sigma.png", "fig_maps.png"]


def test_target_order_is_the_reproduction_targets_order():
    from specxai_jax.reproduction import targets

    assert report.TARGET_ORDER == tuple(targets.TARGETS)


@pytest.mark.parametrize("count,says", [(1, "(1 run)"), (2, "(2 runs)")])
def test_run_count_is_pluralised(tmp_path, capsys, count, says):
    runs = [sweep_run(tmp_path / f"sweep{i}") for i in range(count)]
    report_cli.main(["--runs", *map(str, runs), "--out", str(tmp_path / "out")])
    assert capsys.readouterr().out.strip().endswith(says)


def test_a_claim_is_shown_holding_only_where_a_check_computed_it(tmp_path):
    """A report.md that says "yes" is not a check; an undecided check reads "inconclusive", never "yes"."""
    claim = "seed 0: EF rises with β among capped models (Spearman ρ ≥ 0.9)"
    old = sweep_run(tmp_path / "old")  # a sweep without checks.json: its markdown is never parsed for verdicts
    (old / "report.md").write_text(f"# β-sweep\n\n## The paper's claims on this run\n\n| claim | holds | measured |\n"
                                   f"|---|---|---|\n| {claim} | yes | ρ = 1 |\n")
    undecided = sweep_run(tmp_path / "undecided")
    results.write_checks(undecided, [results.Check(claim, None, "too few β", inconclusive="too few β")])
    report.write_report([old, undecided], tmp_path / "out")
    markdown = (tmp_path / "out" / "report.md").read_text()
    table = markdown[:markdown.index("\n## β-sweep")]
    assert "0 of 1 checks hold (0 fail, 1 inconclusive)" in table
    assert "| no check recorded | inconclusive |" in table and f"| {claim} | inconclusive | too few β |" in table
    assert "| yes |" not in table


def test_the_report_marks_post_hoc_methods_lower_ef_as_not_holding_when_a_method_raises_ef(tmp_path):
    directory = gap_run(tmp_path / "gap")
    rows = [{"model": "vit-relu", "method": method, "ef": ef, "ef_change": ef - 0.73, "delta_ef": abs(ef - 0.73)}
            for method, ef in (("vanilla_grad", 0.73), ("smooth_grad", 0.76), ("gradcam", 0.5))]
    results.write_checks(directory, [gap_report.lowers_ef_check("vit-relu", rows)])
    report.write_report([directory], tmp_path / "out")
    markdown = (tmp_path / "out" / "report.md").read_text()
    assert re.search(r"\| vit-relu: every post-hoc method lowers EF [^|]* \| \*\*no\*\* \| 1 of 2 methods lower EF; "
                     r"not lowered by smooth_grad \(\+3\.00e-02\) \|", markdown)


def test_a_malformed_checks_file_is_a_one_line_error(tmp_path):
    directory = sweep_run(tmp_path / "sweep")
    (directory / results.CHECKS_FILE).write_text('[{"claim": "x", "holds": "yes", "measured": ""}]')
    with pytest.raises(UsageError, match="not a check record"):
        report.write_report([directory], tmp_path / "out")
