"""The README's two install commands, .ci/run and pyproject.toml agree; what they install is what runs here."""

import re
import tomllib
from importlib import metadata
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def readme_commands() -> list[str]:
    """The command lines of the README's "Set up and run" block."""
    section = (REPO / "README.md").read_text().split("## Set up and run")[1].split("\n## ")[0]
    block = section.split("```bash")[1].split("```")[0]
    return [line for line in block.splitlines() if line.startswith("python3 -m venv")]


def test_command_2_is_command_1_plus_test_extras_and_ci_runs_it():
    first, second = readme_commands()
    install_1, install_2 = first.rsplit(" && ", 1)[0], second.rsplit(" && ", 1)[0]
    assert install_2 == install_1.replace("pip install -q -e '.[all]'", "pip install -q -e '.[test]'")
    assert second.endswith("&& python -m pytest")
    assert second in (REPO / ".ci" / "run").read_text().splitlines()


def test_neural_tangents_is_installed_without_its_dependencies_at_the_pinned_version():
    first, _ = readme_commands()
    pin = re.search(r"pip install -q --no-deps neural-tangents==(\S+)", first).group(1)
    assert metadata.version("neural-tangents") == pin
    declared = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    extras = declared["optional-dependencies"]
    names = {re.split(r"[<>=!;\s\[]", r)[0].lower() for group in ("dependencies",) for r in declared[group]}
    names |= {re.split(r"[<>=!;\s\[]", r)[0].lower() for group in extras.values() for r in group}
    assert "neural-tangents" not in names and "tf2jax" not in names
    assert {"tensorflow-datasets", "importlib_resources"} <= {r.split(">")[0].lower() for r in extras["datasets"]}
    assert {"tensorflow", "tensorflow-cpu"} <= {re.split(r"[<>=]", r)[0] for r in extras["datasets"]}  # per platform
    assert any(r.startswith("frozendict") for r in extras["ntk"])
    assert "specxai-jax[all]" in extras["test"] and extras["all"] == ["specxai-jax[datasets,ntk,pretrained]"]
