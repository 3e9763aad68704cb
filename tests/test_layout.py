"""The package's shape: no import cycles, the library never imports its command line, importing it loads no
TensorFlow and changes no process state, only ``specxai_jax`` is installed, and the linters pass."""

import ast
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "specxai_jax"
DATASET_EXTRA = {"specxai_jax.data.tfds_source", "specxai_jax.cli.prepare"}  # TFDS: the "datasets" extra


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = sorted(module_name(path) for path in PACKAGE.rglob("*.py"))


def imports_of(path: Path) -> set[str]:
    """Every specxai_jax module ``path`` imports, at any depth (function-level imports included)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("specxai_jax"):
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                found.add(full if full in MODULES else node.module)
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("specxai_jax")}
    return found


GRAPH = {module_name(path): imports_of(path) & set(MODULES) for path in PACKAGE.rglob("*.py")}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The graph's strongly connected components with more than one module (Tarjan), or self-loops."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in graph[node]:
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while not component or component[-1] != node:
                component.append(stack.pop())
                on_stack.discard(component[-1])
            if len(component) > 1 or node in graph[node]:
                found.append(sorted(component))

    for node in graph:
        if node not in index:
            visit(node)
    return found


def test_the_cycle_finder_finds_a_planted_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles_between_the_package_modules():
    assert cycles(GRAPH) == []


def test_the_library_never_imports_the_command_line():
    offenders = {module: sorted(dep for dep in deps if dep.startswith("specxai_jax.cli"))
                 for module, deps in GRAPH.items() if not module.startswith("specxai_jax.cli")}
    assert {module: deps for module, deps in offenders.items() if deps} == {}


PROBE = """
import os, sys, warnings, logging, importlib
import jax, scipy.special, scipy.stats  # third-party imports that set their own warning filters
before = (dict(os.environ), list(warnings.filters), dict(jax.config.values), logging.getLogger().level,
          list(sys.argv), sys.getrecursionlimit())
for name in sys.argv[1:]:
    importlib.import_module(name)
after = (dict(os.environ), list(warnings.filters), dict(jax.config.values), logging.getLogger().level,
         list(sys.argv), sys.getrecursionlimit())
changed = [label for label, a, b in zip(("environ", "warnings", "jax.config", "logging", "argv", "recursion"),
                                        before, after) if a != b]
print("CHANGED", changed, "TF", "tensorflow" in sys.modules)
"""


def test_importing_the_library_loads_no_tensorflow_and_changes_no_process_state():
    library = [name for name in MODULES if name not in DATASET_EXTRA]
    done = subprocess.run([sys.executable, "-c", PROBE, *library], capture_output=True, text=True, timeout=300,
                          cwd=ROOT, env={**os.environ, "JAX_PLATFORMS": "cpu"})
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split()[-4:] == ["CHANGED", "[]", "TF", "False"], done.stdout


def test_only_the_library_is_installed_and_every_console_script_exists():
    setuptools = pytest.importorskip("setuptools")
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    include = config["tool"]["setuptools"]["packages"]["find"]["include"]
    packages = setuptools.find_packages(str(ROOT), include=include)
    assert packages and all(name == "specxai_jax" or name.startswith("specxai_jax.") for name in packages)
    assert {"experiments", "ntk", "benchmarks", "tests"}.isdisjoint(packages)
    for script, target in config["project"]["scripts"].items():
        module, _, function = target.partition(":")
        assert module in MODULES and callable(getattr(__import__(module, fromlist=[function]), function)), script


def test_the_lean_install_needs_no_tensorflow():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    core = " ".join(config["project"]["dependencies"]).lower()
    assert "tensorflow" not in core and "torch" not in core


@pytest.mark.skipif(shutil.which("ruff") is None and not (Path(sys.executable).parent / "ruff").exists(),
                    reason="ruff is a test extra")
def test_ruff_passes():
    ruff = shutil.which("ruff") or str(Path(sys.executable).parent / "ruff")
    done = subprocess.run([ruff, "check", "--no-cache", "."], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:]


def test_without_tensorflow_datasets_a_tfds_spec_names_the_extra_to_install(tmp_path):
    """The lean install (no "datasets" extra): tfds: specs and specxai-prepare answer with the install command."""
    shadow = tmp_path / "shadow"
    (shadow / "tensorflow_datasets").mkdir(parents=True)
    (shadow / "tensorflow_datasets" / "__init__.py").write_text("raise ModuleNotFoundError(\"No module named "
                                                                "'tensorflow_datasets'\", name='tensorflow_datasets')\n")
    code = ("import sys\nfrom specxai_jax.cli import prepare, validation\nfrom specxai_jax.data import load_dataset\n"
            "try:\n    load_dataset('tfds:mnist')\nexcept Exception as error:\n    print(type(error).__name__, error)\n"
            "validation.cli_entry(prepare.main, ['mnist'])\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": os.pathsep.join([str(shadow), str(ROOT)])})
    assert done.stdout.startswith("DataError") and "pip install 'specxai-jax[datasets]'" in done.stdout, done.stdout
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "[datasets]" in done.stderr, done.stderr


@pytest.mark.skipif(shutil.which("mypy") is None and not (Path(sys.executable).parent / "mypy").exists(),
                    reason="mypy is a test extra")
def test_mypy_passes_on_the_library(tmp_path):
    mypy = shutil.which("mypy") or str(Path(sys.executable).parent / "mypy")
    done = subprocess.run([mypy, "--cache-dir", str(tmp_path)], capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:]
