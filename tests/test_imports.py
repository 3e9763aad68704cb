"""Importing the library changes no process-wide state: no matplotlib backend, no JAX setting."""

import json
import subprocess
import sys

CHILD = """
import pkgutil, importlib, json
import jax, matplotlib
settings = ("jax_num_cpu_devices", "jax_compilation_cache_dir", "jax_enable_x64", "jax_platforms")
before = (matplotlib.rcParams._get_backend_or_none(), {name: getattr(jax.config, name) for name in settings})
import specxai_jax, ntk
for package in (specxai_jax, ntk):
    for module in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        importlib.import_module(module.name)
after = (matplotlib.rcParams._get_backend_or_none(), {name: getattr(jax.config, name) for name in settings})
from jax._src import xla_bridge
print(json.dumps({"same": before == after, "before": str(before), "after": str(after),
                  "backend_started": xla_bridge.backends_are_initialized()}))
"""


def test_importing_every_module_changes_no_global_state():
    proc = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["same"], report
    assert not report["backend_started"], "importing should not start a JAX backend (entry points set devices first)"


def test_the_main_job_does_not_import_what_only_other_inputs_need():
    """TFDS (only tfds: datasets) and flax.nnx (only NNX models) each take a noticeable part of start-up."""
    child = "import sys; from experiments import sweep_beta; print(sorted({'tensorflow_datasets', 'flax.nnx'} & set(sys.modules)))"
    proc = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip().splitlines()[-1] == "[]"
