"""Commands re-run themselves once with glibc's malloc on huge pages; imports never do."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from specxai_jax.cli import launch

MADVISE = "always [madvise] never"


def test_tunable_added_where_it_helps_and_nowhere_else():
    added = launch.huge_page_environment({"PATH": "/bin"}, MADVISE, "glibc 2.36")
    assert added == {"PATH": "/bin", "GLIBC_TUNABLES": "glibc.malloc.hugetlb=1"}
    merged = launch.huge_page_environment({"GLIBC_TUNABLES": "glibc.malloc.arena_max=2"}, MADVISE, "glibc 2.39")
    assert merged["GLIBC_TUNABLES"] == "glibc.malloc.arena_max=2:glibc.malloc.hugetlb=1"
    assert launch.huge_page_environment({"GLIBC_TUNABLES": "glibc.malloc.hugetlb=0"}, MADVISE, "glibc 2.36") is None
    assert launch.huge_page_environment({}, "[always] madvise never", "glibc 2.36") is None   # the kernel does it
    assert launch.huge_page_environment({}, "always madvise [never]", "glibc 2.36") is None
    assert launch.huge_page_environment({}, MADVISE, "glibc 2.31") is None                    # no such tunable yet
    assert launch.huge_page_environment({}, MADVISE, "") is None                              # not glibc


PROBE = "import os; print('TUNABLES', os.environ.get('GLIBC_TUNABLES'))"


@pytest.fixture()
def probe_package(tmp_path: Path) -> Path:
    """A command like experiments/sweep_beta.py: started, it re-runs itself first; it prints the environment."""
    package = tmp_path / "probe_commands"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "show.py").write_text("if __name__ == '__main__':\n    from specxai_jax.cli import launch\n"
                                     "    launch.rerun_with_huge_pages()\n" + PROBE + "\n")
    return tmp_path


def run(args: list[str], cwd: Path) -> str:
    env = {key: value for key, value in os.environ.items() if key != "GLIBC_TUNABLES"}
    env["PYTHONPATH"] = os.pathsep.join([str(cwd), *sys.path])
    proc = subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_a_command_reruns_once_with_the_tunable_and_an_import_never(probe_package):
    try:
        expected = launch.huge_page_environment({}, launch.THP_MODE.read_text(), os.confstr("CS_GNU_LIBC_VERSION") or "")
    except (OSError, ValueError):
        expected = None
    if expected is None or sys.platform != "linux":
        pytest.skip("this machine's kernel or libc gains nothing from the tunable: no re-run to observe")
    assert run(["-m", "probe_commands.show"], probe_package).split()[:2] == ["TUNABLES", "glibc.malloc.hugetlb=1"]
    assert run(["-c", "import probe_commands.show"], probe_package).split()[:2] == ["TUNABLES", "None"]
