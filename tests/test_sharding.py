"""The fused saliency→EF pipeline against a NumPy/SciPy reference, and 1-device == 8-device numbers.

Multi-device runs happen in a subprocess: the fake device count must be set before JAX starts.
"""

import json
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.stats import rankdata

from specxai_jax.attribution import vanilla_grad
from specxai_jax.models import PlainCNN, init_variables, stack_variables
from specxai_jax.ops import fast_forms
from specxai_jax.pipeline import summarize_saliency
from specxai_jax.training import sharding


def tiny_models(betas, size=12, channels=2):
    model = PlainCNN(depth=2, width=4, dense=16)
    variables = [init_variables(model, jax.random.key(i), beta, (1, size, size, channels))
                 for i, beta in enumerate(betas)]
    return model, stack_variables(variables)


def numpy_ef(saliency: np.ndarray) -> tuple[float, np.ndarray]:
    """Reference EF of one (H, W) map: SciPy average ranks, NumPy FFT, bincount radial mean."""
    height, width = saliency.shape
    ranked = rankdata(saliency.ravel(), method="average").reshape(height, width) / saliency.size
    power = np.abs(np.fft.fftshift(np.fft.fft2(ranked))) ** 2
    yy, xx = np.indices((height, width))
    radius = np.floor(np.hypot(yy - height // 2, xx - width // 2)).astype(int).ravel()
    radial = np.bincount(radius, power.ravel()) / np.bincount(radius)
    probs = radial / radial.sum()
    return float(probs @ (np.arange(len(probs)) / (len(probs) - 1))), probs


@pytest.mark.parametrize("fast, one_model_at_a_time", [
    pytest.param(True, True, marks=pytest.mark.slow), (True, False),   # CPU: argmax pooling, patch tangent; models alone or unrolled
    (False, None),                 # accelerators: every plain form, the models vmapped in one program
])
def test_pipeline_matches_numpy_scipy_reference(fast, one_model_at_a_time):
    model, variables = tiny_models([0.5, 3.0])
    images = np.random.default_rng(0).uniform(size=(7, 12, 12, 2)).astype(np.float32)
    with fast_forms.forced(fast):
        summary = summarize_saliency(model.apply, variables, images, batch_size=3, n_examples=5,
                                     one_model_at_a_time=one_model_at_a_time)
    for m in range(2):
        one = jax.tree.map(lambda leaf: leaf[m], variables)
        maps = np.asarray(jax.jit(vanilla_grad, static_argnums=0)(model.apply, one, images)).sum(axis=-1)
        efs, spectra = zip(*(numpy_ef(saliency) for saliency in maps))
        np.testing.assert_allclose(summary.ef_mean[m], np.mean(efs), rtol=1e-5)
        np.testing.assert_allclose(summary.ef_std[m], np.std(efs), rtol=1e-3, atol=1e-6)
        np.testing.assert_allclose(summary.mean_spectrum[m], np.mean(spectra, axis=0), rtol=1e-4, atol=1e-7)
        np.testing.assert_allclose(summary.examples[m], maps[:5], rtol=1e-4, atol=1e-7)
    assert summary.n_images == 7 and summary.dead_maps.tolist() == [0, 0]
    assert summary.examples.shape == (2, 5, 12, 12)   # gathered across batches of 3


@pytest.mark.parametrize("unrolled", [True, False])
def test_per_model_unrolled_and_vmapped_match_a_numpy_loop(unrolled):
    rng = np.random.default_rng(3)
    params = {"w": rng.normal(size=(3, 4, 2)).astype(np.float32), "b": rng.normal(size=(3, 2)).astype(np.float32)}
    x = rng.normal(size=(5, 4)).astype(np.float32)
    layer = lambda p, inputs: (jnp.tanh(inputs @ p["w"] + p["b"]), p["b"].sum())
    with fast_forms.forced(unrolled, "unrolled_models"):
        stacked = sharding.per_model(layer, in_axes=(0, None))
        program = str(jax.make_jaxpr(stacked)(params, x))
        outputs, sums = jax.jit(stacked)(params, x)
    assert program.count("dot_general") == (3 if unrolled else 1)      # M matmuls, or one batched matmul
    np.testing.assert_allclose(outputs, [np.tanh(x @ params["w"][m] + params["b"][m]) for m in range(3)],
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(sums, params["b"].sum(axis=1), rtol=1e-6)


def test_noisy_pipeline_does_not_depend_on_batch_size():
    model, variables = tiny_models([1.0])
    images = np.random.default_rng(1).uniform(size=(9, 12, 12, 2)).astype(np.float32)
    options = dict(noise_std=0.05, samples=3, seed=4)
    small = summarize_saliency(model.apply, variables, images, batch_size=2, **options)
    large = summarize_saliency(model.apply, variables, images, batch_size=16, **options)
    clean = summarize_saliency(model.apply, variables, images, batch_size=16)
    np.testing.assert_allclose(small.ef_mean, large.ef_mean, rtol=1e-6)
    np.testing.assert_allclose(small.mean_spectrum, large.mean_spectrum, rtol=1e-5, atol=1e-8)
    assert abs(float(small.ef_mean[0] - clean.ef_mean[0])) > 1e-6     # the noise does something


def test_model_mesh_shapes_and_errors():
    mesh = sharding.model_mesh()
    assert mesh.axis_names == (sharding.MODELS, sharding.BATCH)
    assert mesh.devices.shape == (len(jax.local_devices()), 1)
    with pytest.raises(ValueError):
        sharding.model_mesh(batch_shards=len(jax.local_devices()) + 1)
    with pytest.raises(ValueError):
        sharding.model_mesh(devices=len(jax.local_devices()) + 1)


LEADING_BLOCK = r"""
import jax, numpy as np
from jax.sharding import PartitionSpec
from specxai_jax.training import sharding

assert len(jax.devices()) == 4
values = np.arange(4 * 8 * 3, dtype=np.float32).reshape(4, 8, 3)
for batch_shards, spec in [(2, PartitionSpec("models", "batch")), (4, PartitionSpec(None, "batch")),
                           (1, PartitionSpec("models")), (2, PartitionSpec())]:
    array = sharding.put(values, sharding.model_mesh(batch_shards=batch_shards), spec)
    for block in [(1, 1), (3, 2), (4, 5), (2, 8), (4, 6, 2)]:
        pieces = sharding.leading_block(array, block)
        assert all(len(data.devices()) == 1 for *_, data in pieces), "a piece spans devices"
        full = (*block, *values.shape[len(block):])
        np.testing.assert_array_equal(sharding.assemble(full, values.dtype, pieces),
                                      values[tuple(slice(0, n) for n in block)])
print("SAME")
"""


def test_leading_block_of_a_sharded_array_comes_from_each_device_alone():
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=4", "JAX_PLATFORMS": "cpu"}
    proc = subprocess.run([sys.executable, "-c", LEADING_BLOCK], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and "SAME" in proc.stdout, proc.stderr[-3000:]


CHILD = r"""
import json
import jax, numpy as np
from specxai_jax.ops import fast_forms
from specxai_jax.training import sharding
from specxai_jax.data import Dataset
from specxai_jax.models import PlainCNN, init_variables, stack_variables
from specxai_jax.pipeline import make_batch_statistics, summarize_saliency
from specxai_jax.training.train import TrainConfig, train_models

assert len(jax.devices()) == 8
model = PlainCNN(depth=1, width=4, dense=8)
betas = [0.5, 1.0, 3.0, 10.0, float("inf")]
variables = stack_variables([init_variables(model, jax.random.key(i), b, (1, 8, 8, 2)) for i, b in enumerate(betas)])
images = np.random.default_rng(0).uniform(size=(11, 8, 8, 2)).astype(np.float32)
out = {}
for name, mesh, alone in [("one", None, True), ("models8", sharding.model_mesh(), True),
                          ("models8_stacked", sharding.model_mesh(), False),
                          ("grid2x4", sharding.model_mesh(batch_shards=4), False),
                          ("grid2x4_plain_forms", sharding.model_mesh(batch_shards=4), None)]:
    with fast_forms.forced(False if name.endswith("plain_forms") else None):
        s = summarize_saliency(model.apply, variables, images, batch_size=3, noise_std=0.05, samples=2, mesh=mesh,
                               one_model_at_a_time=alone)
    out[name] = dict(ef=s.ef_mean.tolist(), std=s.ef_std.tolist(), spectrum=s.mean_spectrum.tolist(),
                     examples=s.examples.tolist())
grid = sharding.model_mesh(batch_shards=4)
program = str(jax.make_jaxpr(make_batch_statistics(model.apply, mesh=grid))(
    jax.tree.map(lambda leaf: leaf[:2], variables), images[:8], np.arange(8, dtype=np.int32), jax.random.key(0)))
out["collectives"] = [name for name in ("psum", "all_gather", "all_to_all", "ppermute") if name in program]
rng = np.random.default_rng(1)
data = Dataset("random", rng.uniform(size=(64, 8, 8, 2)).astype(np.float32), (np.arange(64) % 3).astype(np.int32),
               rng.uniform(size=(32, 8, 8, 2)).astype(np.float32), (np.arange(32) % 3).astype(np.int32), 3)
config = TrainConfig(lr=3e-3, batch_size=32, max_epochs=2, acc_cap=None)
seeds = [0, 1, 2]
train_vars = jax.tree.map(lambda leaf: leaf[:3], variables)
for name, mesh, engine in [("train_one", None, "per_device"), ("train8", sharding.model_mesh(), "per_device"),
                           ("train8_vectorized", sharding.model_mesh(), "vectorized")]:
    r = train_models(model.apply, train_vars, data, seeds, config, progress=False, mesh=mesh, engine=engine)
    out[name] = dict(acc=r.test_accuracy.tolist(), epochs=r.epochs.tolist(),
                     params=[np.asarray(l).tolist() for l in jax.tree.leaves(r.variables["params"])])
print("RESULT " + json.dumps(out))
"""


@pytest.fixture(scope="module")
def eight_device_run():
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=8", "JAX_PLATFORMS": "cpu"}
    proc = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")][-1]
    return json.loads(line[len("RESULT "):])


@pytest.mark.slow
@pytest.mark.parametrize("layout", ["models8", "models8_stacked", "grid2x4", "grid2x4_plain_forms"])
def test_pipeline_numbers_equal_on_one_and_eight_devices(eight_device_run, layout):
    one, many = eight_device_run["one"], eight_device_run[layout]
    for field in ("ef", "std", "spectrum", "examples"):
        np.testing.assert_allclose(many[field], one[field], rtol=1e-5, atol=1e-7, err_msg=field)


@pytest.mark.slow
def test_explanation_devices_never_wait_on_each_other(eight_device_run):
    """No collective in the explanation program: each device's batch sums come back on their own."""
    assert eight_device_run["collectives"] == []


@pytest.mark.slow
@pytest.mark.parametrize("layout", ["train8", "train8_vectorized"])
def test_training_equal_on_one_and_eight_devices(eight_device_run, layout):
    one, many = eight_device_run["train_one"], eight_device_run[layout]
    assert many["epochs"] == one["epochs"] == [2, 2, 2]
    np.testing.assert_allclose(many["acc"], one["acc"])
    for a, b in zip(many["params"], one["params"]):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6)
