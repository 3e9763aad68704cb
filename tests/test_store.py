"""Result store: keys that change exactly when a number-changing setting does, and skip/resume logic."""

import json
import math
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from specxai_jax.errors import SpecxaiWarning
from specxai_jax.storage.store import ResultStore, canonical_settings, config_key, skip_message

REPO = Path(__file__).resolve().parents[1]

SETTINGS = {
    "dataset": "synthetic:size=16,n_train=256,n_test=128",
    "activation": "softplus",
    "beta": 3.0,
    "seed": 0,
    "depth": 2,
    "img_size": 16,
    "lr": 1e-3,
    "batch_size": 64,
    "acc_cap": 0.9,
    "max_epochs": 3,
    "explain": {"method": "vanilla_grad", "n_explain": 32, "noise_std": 0.0},
}


def leaves(settings, prefix=()):
    for name, value in settings.items():
        if isinstance(value, dict):
            yield from leaves(value, prefix + (name,))
        else:
            yield prefix + (name,), value


def with_value(settings, path, value):
    changed = json.loads(json.dumps(settings))
    node = changed
    for name in path[:-1]:
        node = node[name]
    node[path[-1]] = value
    return changed


def test_key_is_insensitive_to_order_and_number_spelling():
    key = config_key(SETTINGS)
    reordered = dict(reversed(list(SETTINGS.items())))
    reordered["explain"] = dict(reversed(list(SETTINGS["explain"].items())))
    assert config_key(reordered) == key
    for three in (3, 3.0, np.int64(3), np.float32(3.0)):
        assert config_key({**SETTINGS, "beta": three}) == key
    assert config_key({**SETTINGS, "seed": 0.0, "depth": np.int32(2)}) == key
    assert len(key) == 16 and int(key, 16) >= 0


def test_changing_any_setting_changes_the_key():
    key = config_key(SETTINGS)
    keys = set()
    for path, value in leaves(SETTINGS):
        if isinstance(value, str):
            other = value + "x"
        else:
            other = value * 1.0000001 + 1e-12 if isinstance(value, float) else value + 1
        keys.add(config_key(with_value(SETTINGS, path, other)))
    assert key not in keys and len(keys) == len(list(leaves(SETTINGS)))
    assert config_key({**SETTINGS, "beta": 3.0000000000000004}) != key  # next float after 3


def test_inf_has_one_spelling_and_nan_is_refused():
    relu = config_key({**SETTINGS, "beta": math.inf})
    assert config_key({**SETTINGS, "beta": np.float32(np.inf)}) == relu
    assert config_key({**SETTINGS, "beta": "inf"}) == relu
    assert canonical_settings({"b": [math.inf, -math.inf, (1.5, 2.0)]}) == {"b": ["inf", "-inf", [1.5, 2]]}
    assert config_key({**SETTINGS, "beta": -math.inf}) != relu
    with pytest.raises(ValueError, match="NaN"):
        config_key({**SETTINGS, "beta": math.nan})
    with pytest.raises(TypeError):
        config_key({**SETTINGS, "beta": object()})


def test_key_is_the_same_in_another_process():
    code = f"from specxai_jax.storage.store import config_key; print(config_key({SETTINGS!r}))"
    keys = {
        subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True,
                       env={**os.environ, "PYTHONPATH": str(REPO), "PYTHONHASHSEED": seed}).stdout.strip()
        for seed in ("1", "2")
    }
    assert keys == {config_key(SETTINGS)}


def fake_sweep(store, betas, log):
    """The sweep's flow with a trivial 'model': train what is missing, explain what is missing."""
    keys = {beta: config_key({**SETTINGS, "beta": beta}) for beta in betas}
    variables = {}
    for beta, key in keys.items():
        stored = store.load_checkpoint(key)
        if stored is None:
            log.append(("train", beta))
            store.save_checkpoint(key, {"params": {"w": np.full(4, beta, np.float32)}}, {"beta": beta})
            stored = store.load_checkpoint(key)
        variables[beta] = stored[0]
    rows = []
    for beta, key in keys.items():
        stored = store.load_result(key)
        if stored is None:
            log.append(("explain", beta))
            w = np.asarray(variables[beta]["params"]["w"])
            store.save_result(key, {"beta": beta, "ef": float(w.sum()) / 7}, {"spectrum": np.cumsum(np.minimum(w, 100.0))})
            stored = store.load_result(key)
        rows.append(stored)
    return rows


def test_rerun_skips_what_is_stored(tmp_path):
    store = ResultStore(tmp_path)
    log = []
    first = fake_sweep(store, [1.0, 3.0, math.inf], log)
    assert log == [("train", 1.0), ("train", 3.0), ("train", math.inf),
                   ("explain", 1.0), ("explain", 3.0), ("explain", math.inf)]
    log.clear()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        second = fake_sweep(ResultStore(tmp_path), [1.0, 3.0, math.inf], log)
    assert log == []
    for (record_a, arrays_a), (record_b, arrays_b) in zip(first, second):
        assert record_a == record_b
        np.testing.assert_array_equal(arrays_a["spectrum"], arrays_b["spectrum"])
    assert first[0][0] == {"beta": 1.0, "ef": 4.0 / 7}
    fake_sweep(store, [1.0, 10.0], log)  # a new β only adds work for itself
    assert log == [("train", 10.0), ("explain", 10.0)]
    log.clear()
    store.clear()  # --fresh
    fake_sweep(store, [1.0], log)
    assert log == [("train", 1.0), ("explain", 1.0)]


def test_interrupted_between_phases_resumes_at_phase_two(tmp_path):
    store = ResultStore(tmp_path)
    key = config_key(SETTINGS)
    store.save_checkpoint(key, {"params": {"w": np.ones(4, np.float32)}}, {"beta": 3.0})
    assert store.has_checkpoint(key) and not store.has_result(key)
    log = []
    fake_sweep(store, [3.0], log)
    assert log == [("explain", 3.0)]


@pytest.mark.parametrize("damage", ["truncate_json", "edit_record", "edit_arrays"])
def test_corrupt_result_is_recomputed_but_its_checkpoint_kept(tmp_path, damage):
    store = ResultStore(tmp_path)
    fake_sweep(store, [3.0], [])
    key = config_key(SETTINGS)
    result = store.entry(key) / "result.json"
    if damage == "truncate_json":
        result.write_text(result.read_text()[:20])
    elif damage == "edit_record":
        result.write_text(result.read_text().replace('"ef": ', '"ef": 1'))
    else:
        arrays = result.with_suffix(".npz")
        data = bytearray(arrays.read_bytes())
        data[-1] ^= 0xFF
        arrays.write_bytes(bytes(data))
    with pytest.warns(SpecxaiWarning, match=r"corrupt result .*recomputed"):
        assert store.load_result(key) is None
    assert store.has_checkpoint(key) and not store.has_result(key)
    log = []
    rows = fake_sweep(store, [3.0], log)
    assert log == [("explain", 3.0)] and rows[0][0] == {"beta": 3.0, "ef": 12.0 / 7}


def test_results_for_other_explanation_settings_sit_beside(tmp_path):
    store = ResultStore(tmp_path)
    key = config_key(SETTINGS)
    store.save_result(key, {"ef": 0.1})
    store.save_result(key, {"ef": 0.2}, explain_key=config_key({"n_explain": 64}))
    assert store.load_result(key) == ({"ef": 0.1}, {})
    assert store.load_result(key, explain_key=config_key({"n_explain": 64})) == ({"ef": 0.2}, {})
    assert store.load_result(key, explain_key=config_key({"n_explain": 128})) is None


def test_arrays_named_like_savez_keywords_are_stored(tmp_path):
    store = ResultStore(tmp_path)
    key = config_key(SETTINGS)
    arrays = {"allow_pickle": np.arange(3.0), "file": np.eye(2, dtype=np.float32), "spectrum": np.ones(4)}
    store.save_result(key, {"ef": 0.1}, arrays)
    _, loaded = store.load_result(key)
    assert sorted(loaded) == sorted(arrays)
    for name, array in arrays.items():
        np.testing.assert_array_equal(loaded[name], array)
        assert loaded[name].dtype == array.dtype


def test_saved_records_are_returned_as_they_read_back(tmp_path):
    store = ResultStore(tmp_path)
    stored = {"beta": math.inf, "ef": np.float32(0.25), "epochs": np.int64(3), "shape": (2, 3)}
    key = config_key(SETTINGS)
    metadata = store.save_checkpoint(key, {"params": {"w": np.ones(2, np.float32)}}, stored)
    assert metadata == store.load_checkpoint(key)[1] == {"beta": math.inf, "ef": 0.25, "epochs": 3, "shape": [2, 3]}
    record = store.save_result(key, stored)
    assert record == store.load_result(key)[0] == metadata


def test_skip_message_counts():
    line = skip_message("training", 2, 3, "/tmp/out")
    assert line.startswith("skipped training 2 of 3 models") and "--fresh" in line and "\n" not in line
