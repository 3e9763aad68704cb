"""neural-tangents is loaded on first use; without it the closed forms work and the NTK CLIs say what to install."""

import os
import subprocess
import sys

HIDE = "raise ModuleNotFoundError(\"No module named 'neural_tangents'\", name='neural_tangents')\n"


def run(code_or_module: list[str], tmp_path, *, hide: bool):
    """Run python with neural_tangents hidden (a module that fails as an absent one does) or not."""
    shadow = tmp_path / "shadow"
    shadow.mkdir(exist_ok=True)
    (shadow / "neural_tangents.py").write_text(HIDE)
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    if hide:
        env["PYTHONPATH"] = os.pathsep.join([str(shadow), env.get("PYTHONPATH", "")])
    return subprocess.run([sys.executable, *code_or_module], capture_output=True, text=True, env=env, timeout=300,
                          cwd=os.path.dirname(os.path.dirname(__file__)))


def test_importing_ntk_loads_nothing(tmp_path):
    code = ("import sys, specxai_jax.ntk as ntk, specxai_jax.ntk.analytic, specxai_jax.ntk.empirical, specxai_jax.ntk.spectrum\n"
            "assert 'neural_tangents' not in sys.modules and 'tensorflow' not in sys.modules\n"
            "print(ntk.neural_tangents.__version__, 'tensorflow' in sys.modules)\n")
    done = run(["-c", code], tmp_path, hide=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["0.6.5", "False"]


def test_closed_forms_work_without_neural_tangents(tmp_path):
    code = ("import numpy as np\nfrom specxai_jax.ntk import analytic\n"
            "k = analytic.dot_product_ntk(np.array([1.0, 0.0]), depth=1, activation='relu')\n"
            "print(np.all(np.isfinite(k)))\n"
            "from specxai_jax import ntk\n"
            "try:\n    ntk.neural_tangents\nexcept ImportError as error:\n    print('ERR', error)\n")
    done = run(["-c", code], tmp_path, hide=True)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.strip().splitlines()
    assert lines[0] == "True"
    assert lines[1].startswith("ERR ") and "pip install --no-deps neural-tangents==0.6.5" in lines[1]


def test_ntk_cli_without_neural_tangents_says_what_to_install(tmp_path):
    done = run(["-m", "ntk.verify_lemma1", "--quick", "--out", str(tmp_path / "out")], tmp_path, hide=True)
    assert done.returncode == 2, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and "pip install --no-deps neural-tangents==0.6.5" in last
