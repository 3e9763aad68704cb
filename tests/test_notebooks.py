"""The notebooks run top to bottom on CPU in their tiny configuration, and are stored without outputs."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import matplotlib.image
import nbformat
import numpy as np
import pytest
from nbclient import NotebookClient

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))


def execute(name: str, cwd: Path, monkeypatch) -> nbformat.NotebookNode:
    """Run notebook ``name`` in a kernel whose cwd is ``cwd``, with the repo importable and tiny settings."""
    monkeypatch.setenv("SPECXAI_NOTEBOOK_TINY", "1")
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    monkeypatch.delenv("MPLBACKEND", raising=False)  # the kernel's inline backend shows the figures
    notebook = nbformat.read(REPO / "notebooks" / name, as_version=4)
    NotebookClient(notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(cwd)}}).execute()
    return notebook


def displayed_pngs(notebook) -> int:
    return sum("image/png" in output.get("data", {}) for cell in notebook.cells if cell.cell_type == "code"
               for output in cell.outputs)


def test_both_notebooks_exist():
    assert {path.name for path in NOTEBOOKS} >= {"colab_tpu_sweep.ipynb", "ntk_lemma1.ipynb"}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_stored_without_outputs(path):
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"{path.name}: clear the outputs"


def test_colab_notebook_is_conditional_on_colab():
    source = "\n".join(cell.source for cell in nbformat.read(REPO / "notebooks" / "colab_tpu_sweep.ipynb", 4).cells)
    assert "'google.colab' in sys.modules" in source.replace('"', "'")
    assert "--no-deps" in source and "neural-tangents" in source and "git+" in source
    assert "jax.devices()" in source and "PRESETS['fashion_mnist']" in source.replace('"', "'")
    assert "sweep.run(config" in source and "sweep_beta" not in source  # the library, not the command line


def setup_cell(path: Path) -> str:
    """Source of the notebook's setup cell (the one with the REPO_URL form field)."""
    return next(cell.source for cell in nbformat.read(path, 4).cells if cell.cell_type == "code" and "REPO_URL" in cell.source)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_colab_metadata_and_one_form_field(path):
    metadata = nbformat.read(path, 4).metadata
    assert metadata["accelerator"] == "TPU" and metadata["colab"]["gpuType"].startswith("V")
    fields = [line for line in setup_cell(path).splitlines() if "# @param" in line]
    assert [line.split("=")[0].strip() for line in fields] == ["REPO_URL", "USE_DRIVE"]
    source = setup_cell(path)
    assert "jax[tpu]" not in source and "-U" not in source.split()  # Colab's TPU jax is never upgraded
    assert '"jax", "jaxlib", "libtpu"' in source and "drive.mount" in source


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_colab_setup_stops_on_the_placeholder(path, monkeypatch):
    calls = []
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    monkeypatch.setattr("subprocess.run", lambda *args, **kwargs: calls.append(args))
    with pytest.raises(SystemExit, match="REPO_URL still holds the placeholder") as stopped:
        exec(setup_cell(path), {})
    assert "\n" not in str(stopped.value) and calls == []  # nothing installed


def test_colab_setup_installs_without_touching_jax(monkeypatch):
    from importlib import metadata

    calls = []
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    monkeypatch.setattr("subprocess.run", lambda command, **kwargs: calls.append(command))
    source = setup_cell(NOTEBOOKS[0]).replace("https://github.com/YOUR-ACCOUNT/specxai-jax.git", "https://example.org/x.git")
    exec(source, {})
    first, second = calls
    assert "--no-deps" in first and "git+https://example.org/x.git" in first and "neural-tangents==0.6.5" in first
    pins = Path(second[second.index("-c") + 1]).read_text().split()
    assert f"jax=={metadata.version('jax')}" in pins and f"jaxlib=={metadata.version('jaxlib')}" in pins
    assert any(r.startswith("tensorflow-datasets") for r in second)
    assert not any(r.startswith("tensorflow-cpu") for r in second)  # TensorFlow is there already (as in Colab)


def test_colab_sweep_notebook_runs_tiny(tmp_path, monkeypatch):
    """The TPU's code path (plain program forms, vectorized engine, models split over 2 devices) on CPU."""
    monkeypatch.setenv("XLA_FLAGS", "--xla_force_host_platform_device_count=2")
    monkeypatch.setenv("JAX_PLATFORMS", "cpu")
    notebook = execute("colab_tpu_sweep.ipynb", tmp_path, monkeypatch)
    out = tmp_path / "runs" / "colab_sweep"
    rows = (out / "results.csv").read_text().splitlines()
    assert len(rows) == 1 + 2  # header + β=2 and ReLU
    image = matplotlib.image.imread(out / "fig_spectra.png")
    assert np.ptp(image[..., :3]) > 0  # not a single colour
    assert displayed_pngs(notebook) == 4
    text = "".join(output.get("text", "") for cell in notebook.cells for output in cell.get("outputs", []))
    assert "2 cpu device(s)" in text.lower()


def test_ntk_notebook_runs_tiny(tmp_path, monkeypatch):
    notebook = execute("ntk_lemma1.ipynb", tmp_path, monkeypatch)
    assert displayed_pngs(notebook) == 1
    text = "".join(output.get("text", "") for cell in notebook.cells for output in cell.get("outputs", []))
    assert "tail share" in text and "skipping" in text
