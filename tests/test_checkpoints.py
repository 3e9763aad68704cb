"""Checkpoints: exact round trips, and every kind of damage detected instead of loaded."""

import math
import os
import signal
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from specxai_jax.errors import CorruptCheckpoint, SpecxaiWarning
from specxai_jax.storage import checkpoints
from specxai_jax.storage.store import ResultStore, config_key

REPO = Path(__file__).resolve().parents[1]


def cnn_like_variables(seed=0, beta=3.0):
    rng = np.random.default_rng(seed)
    return {
        "params": {
            "conv_0": {"kernel": jnp.asarray(rng.standard_normal((3, 3, 1, 16)), jnp.float32),
                       "bias": jnp.asarray(rng.standard_normal(16) * 1e-30, jnp.float32)},
            "dense_0": {"kernel": jnp.asarray(rng.standard_normal((64, 10)), jnp.bfloat16)},
        },
        "constants": {"beta": jnp.asarray(beta, jnp.float32)},
        "batch_stats": {"count": jnp.asarray(rng.integers(0, 1000, 4), jnp.int32)},
    }


def assert_trees_identical(a, b):
    assert jax.tree.structure(a) == jax.tree.structure(b)
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        x, y = np.asarray(x), np.asarray(y)
        assert x.dtype == y.dtype and x.shape == y.shape
        assert x.tobytes() == y.tobytes()  # bit for bit, including inf and denormals


def files_of(path):
    return sorted(p for p in Path(path).rglob("*") if p.is_file() and p.name != checkpoints.MANIFEST)


@pytest.fixture
def saved(tmp_path):
    path = tmp_path / "model" / "checkpoint"
    metadata = {"beta": math.inf, "seed": 0, "epochs": 3, "test_accuracy": 0.9375, "activation": "softplus"}
    checkpoints.save_variables(path, cnn_like_variables(beta=math.inf), metadata)
    return path, metadata


def test_round_trip_is_exact(saved):
    path, metadata = saved
    variables, loaded_metadata = checkpoints.load_variables(path)
    assert_trees_identical(variables, cnn_like_variables(beta=math.inf))
    assert loaded_metadata == metadata
    assert isinstance(variables["params"]["conv_0"]["kernel"], jax.Array)


def test_saving_again_replaces_and_leaves_no_staging(saved):
    path, _ = saved
    checkpoints.save_variables(path, cnn_like_variables(seed=1), {"epochs": 5})
    variables, metadata = checkpoints.load_variables(path)
    assert_trees_identical(variables, cnn_like_variables(seed=1))
    assert metadata == {"epochs": 5}
    assert [p.name for p in path.parent.iterdir()] == ["checkpoint"]


def truncate(file):
    file.write_bytes(file.read_bytes()[: file.stat().st_size // 2])


def flip_last_byte(file):
    data = bytearray(file.read_bytes())
    data[-1] ^= 0xFF
    file.write_bytes(bytes(data))


@pytest.mark.parametrize("damage", ["truncate_each", "flip_byte", "delete_file", "extra_file", "no_manifest"])
def test_damage_is_detected(saved, damage):
    path, _ = saved
    targets = files_of(path) if damage == "truncate_each" else [files_of(path)[-1]]
    for target in targets:
        if damage == "truncate_each":
            original = target.read_bytes()
            truncate(target)
        elif damage == "flip_byte":
            flip_last_byte(target)
        elif damage == "delete_file":
            target.unlink()
        elif damage == "extra_file":
            (path / "state" / "stray.bin").write_bytes(b"x")
        else:
            (path / checkpoints.MANIFEST).unlink()
        with pytest.raises(CorruptCheckpoint) as caught:
            checkpoints.load_variables(path)
        assert str(path) in str(caught.value)
        if damage == "truncate_each":
            target.write_bytes(original)
    if damage == "truncate_each":  # restoring every byte makes it valid again
        assert_trees_identical(checkpoints.load_variables(path)[0], cnn_like_variables(beta=math.inf))


def test_missing_checkpoint_is_not_corrupt(tmp_path):
    with pytest.raises(FileNotFoundError):
        checkpoints.load_variables(tmp_path / "absent")


def test_store_recomputes_a_truncated_checkpoint(tmp_path):
    store = ResultStore(tmp_path / "sweep")
    k1, k2 = config_key({"seed": 1}), config_key({"seed": 2})
    store.save_checkpoint(k1, cnn_like_variables(seed=1), {"seed": 1})
    store.save_result(k1, {"ef": 0.25})
    store.save_checkpoint(k2, cnn_like_variables(seed=2), {"seed": 2})
    truncate(files_of(store.checkpoint_path(k1))[-1])
    with pytest.warns(SpecxaiWarning, match=r"corrupt checkpoint .*recomputed"):
        assert store.load_checkpoint(k1) is None
    assert not store.entry(k1).exists() and not store.has_result(k1)  # its result went with it
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert_trees_identical(store.load_checkpoint(k2)[0], cnn_like_variables(seed=2))
        store.save_checkpoint(k1, cnn_like_variables(seed=1), {"seed": 1})  # the recomputation
        variables, metadata = store.load_checkpoint(k1)
    assert_trees_identical(variables, cnn_like_variables(seed=1)) and metadata == {"seed": 1}


def test_sigkill_during_saves_leaves_a_loadable_checkpoint_or_none(tmp_path):
    path = tmp_path / "checkpoint"
    script = textwrap.dedent(f"""
        import numpy as np
        from specxai_jax.storage import checkpoints
        big = {{"params": {{"w": np.full((512, 1024), 1.0, np.float32)}}}}
        for i in range(1000):
            big["params"]["w"][:] = i
            checkpoints.save_variables({str(path)!r}, big, {{"i": i}})
            print(i, flush=True)
    """)
    process = subprocess.Popen([sys.executable, "-c", script], cwd=REPO, stdout=subprocess.PIPE,
                               env={**os.environ, "PYTHONPATH": str(REPO)})
    process.stdout.readline()  # one save has finished
    time.sleep(0.15)
    process.send_signal(signal.SIGKILL)
    process.wait()
    variables, metadata = checkpoints.load_variables(path)
    np.testing.assert_array_equal(variables["params"]["w"], np.full((512, 1024), metadata["i"], np.float32))
    checkpoints.save_variables(path, {"w": np.zeros(2)}, {})  # stale staging from the kill is cleared
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint"]


def test_staging_of_a_live_save_is_left_alone(tmp_path):
    path = tmp_path / "checkpoint"
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        live = tmp_path / f".checkpoint{checkpoints.atomic.TEMP_MARKER}{sleeper.pid}-{'a' * 32}"
        dead = tmp_path / f".checkpoint{checkpoints.atomic.TEMP_MARKER}{2**22 + 7}-{'b' * 32}"
        live.mkdir(), dead.mkdir()
        checkpoints.save_variables(path, {"w": np.zeros(2)}, {})
        assert live.is_dir() and not dead.exists()  # another process's save in progress is not deleted
    finally:
        sleeper.kill()
        sleeper.wait()
