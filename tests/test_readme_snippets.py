"""Every ```python block of the README's "Using your own maps and models" section runs as written, each in a fresh namespace and an empty folder.

A block that needs an optional package (torch, captum, quantus) or the metrics package is skipped when it is
missing; any other error fails."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[1] / "README.md"
SECTION = "## Using your own maps and models"
OPTIONAL = {"torch", "captum", "captum.attr", "quantus", "specxai_jax.metrics"}


def blocks() -> list[tuple[str, str]]:
    """(heading above it, code) of each ```python block."""
    text = DOC.read_text().split(SECTION)[1].split("\n## ")[0]
    found = []
    for match in re.finditer(r"```python\n(.*?)```", text, re.DOTALL):
        heading = re.findall(r"^### (.+)$", text[:match.start()], re.MULTILINE)
        found.append((heading[-1] if heading else "top", match.group(1)))
    return found


def test_the_document_has_the_promised_snippets():
    headings = " | ".join(heading for heading, _ in blocks())
    for topic in ("Captum", "PAIR", "Quantus", "NNX", "sweep"):
        assert topic in headings


@pytest.mark.parametrize("heading, code", blocks(), ids=[heading for heading, _ in blocks()])
def test_snippet_runs(heading, code, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    try:
        exec(compile(code, f"{DOC.name}: {heading}", "exec"), {"__name__": "snippet"})
    except ModuleNotFoundError as error:
        if error.name not in OPTIONAL:
            raise
        pytest.skip(f"needs {error.name}")
