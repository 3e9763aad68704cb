"""The store never returns numbers that are not its entry's: entries are tied to their job, records are
complete, --fresh removes only what the store wrote, and nothing outside the store is read."""

from __future__ import annotations

import json
import math
import shutil
import warnings

import numpy as np
import pytest

from specxai_jax import sweep
from specxai_jax.cli import validation
from specxai_jax.errors import SpecxaiWarning
from specxai_jax.storage import atomic
from specxai_jax.storage.store import ResultStore, StoreBusy, config_key

KEY_A, KEY_B = config_key({"beta": 1.0, "seed": 0}), config_key({"beta": math.inf, "seed": 0})
METADATA = {"beta": 1.0, "seed": 0, "test_accuracy": 0.5, "epochs": 1, "reached_cap": False, "train_seconds": 1.0,
            "diverged": False}
RECORD = {"ef": 0.01, "ef_std": 0.001, "ef_ref": 0.001, "ef_raw": 0.1, "n_images": 8, "dead_maps": 0, "diverged": False}


def weights(value: float) -> dict:
    return {"params": {"w": np.full(3, value, np.float32)}}


def filled_store(root) -> ResultStore:
    """Two entries, each with a checkpoint and a result (with arrays)."""
    store = ResultStore(root)
    for key, value in ((KEY_A, 1.0), (KEY_B, 2.0)):
        store.save_checkpoint(key, weights(value), {**METADATA, "beta": value})
        store.save_result(key, {**RECORD, "ef": value / 100}, {"spectrum": np.full(4, value)})
    return store


def load(store, key):
    return (store.load_checkpoint(key, check=sweep.check_metadata),
            store.load_result(key, check=sweep.check_record))


def test_intact_entries_load_without_warnings(tmp_path):
    store = filled_store(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        (variables, metadata), (record, arrays) = load(store, KEY_B)
    assert metadata["beta"] == 2.0 and record["ef"] == 0.02 and arrays["spectrum"][0] == 2.0


@pytest.mark.parametrize("copied", ["result", "checkpoint", "entry"])
def test_files_copied_from_another_entry_are_detected_and_discarded(tmp_path, copied):
    store = filled_store(tmp_path)
    source, target = store.entry(KEY_A), store.entry(KEY_B)
    if copied == "result":
        for name in ("result.json", "result.npz"):
            shutil.copy(source / name, target / name)
    elif copied == "checkpoint":
        shutil.rmtree(target / "checkpoint")
        shutil.copytree(source / "checkpoint", target / "checkpoint")
    else:
        shutil.rmtree(target)
        shutil.copytree(source, target)
    with pytest.warns(SpecxaiWarning, match="recomputed"):
        checkpoint, result = load(store, KEY_B)
    assert result is None  # a result of another entry or another checkpoint is never returned
    assert checkpoint is None  # a result naming another checkpoint makes this one suspect too: recomputed
    assert load(store, KEY_A)[1][0]["ef"] == 0.01  # the source is untouched


def test_result_of_a_replaced_checkpoint_is_stale(tmp_path):
    store = filled_store(tmp_path)
    store.save_checkpoint(KEY_A, weights(5.0), METADATA)  # retrained: the old explanation no longer applies
    assert store.load_result(KEY_A) is None and store.load_checkpoint(KEY_A) is not None


def rewrite_record(store, key, change):
    """Edit a stored record and give it a valid checksum and seal (every piece rewritten together), so that
    what is tested is the check of the record's fields."""
    path = store.entry(key) / "result.json"
    content = json.loads(path.read_text())
    change(content["record"])
    content["sha256"] = atomic.sha256_text(json.dumps(content["record"], sort_keys=True))
    path.write_text(json.dumps(content))
    (store.entry(key) / "result.seal").write_text(atomic.sha256_file(path))


@pytest.mark.parametrize("change", [
    lambda r: r.pop("ef"), lambda r: r.update(ef="abc"), lambda r: r.update(ef=float("nan")),
    lambda r: r.update(ef=None), lambda r: r.update(diverged="no"), lambda r: r.update(n_images=-1),
    lambda r: r.update(diverged=True), lambda r: r.pop("diverged"),
], ids=["ef missing", "ef abc", "ef NaN", "ef null", "diverged str", "n_images<0", "finite but diverged",
        "diverged missing"])
def test_incomplete_or_inconsistent_records_are_recomputed(tmp_path, change):
    store = filled_store(tmp_path)
    rewrite_record(store, KEY_A, change)
    with pytest.warns(SpecxaiWarning, match="corrupt result"):
        assert store.load_result(KEY_A, check=sweep.check_record) is None
    assert store.load_checkpoint(KEY_A, check=sweep.check_metadata) is not None


def test_diverged_record_reads_back_with_nan_ef(tmp_path):
    store = ResultStore(tmp_path)
    store.save_checkpoint(KEY_A, weights(float("nan")), {**METADATA, "diverged": True})
    store.save_result(KEY_A, {**RECORD, "ef": math.nan, "ef_std": math.nan, "ef_ref": math.nan, "ef_raw": math.nan,
                                "diverged": True})
    record, _ = store.load_result(KEY_A, check=sweep.check_record)
    assert record["diverged"] is True
    assert record["ef"] is None or math.isnan(record["ef"])  # JSON null or NaN, both read as NaN
    rewrite_record(store, KEY_A, lambda r: r.update(ef=None, ef_std=None, ef_ref=None))
    assert store.load_result(KEY_A, check=sweep.check_record) is not None


@pytest.mark.parametrize("change", [lambda m: m.pop("test_accuracy"), lambda m: m.update(epochs="1"),
                                    lambda m: m.update(reached_cap=1), lambda m: m.pop("diverged")])
def test_checkpoint_with_unusable_metadata_is_retrained(tmp_path, change):
    store = ResultStore(tmp_path)
    metadata = dict(METADATA)
    change(metadata)
    store.save_checkpoint(KEY_A, weights(1.0), metadata)
    with pytest.warns(SpecxaiWarning, match="unusable metadata"):
        assert store.load_checkpoint(KEY_A, check=sweep.check_metadata) is None
    assert not store.entry(KEY_A).exists()


def test_entry_that_is_a_file_is_replaced(tmp_path):
    store = ResultStore(tmp_path)
    store.models.mkdir()
    store.entry(KEY_A).write_text("not an entry")
    assert store.load_checkpoint(KEY_A) is None and store.load_result(KEY_A) is None
    with pytest.warns(SpecxaiWarning, match="not a directory"):
        store.save_checkpoint(KEY_A, weights(1.0), METADATA)
    assert store.load_checkpoint(KEY_A)[1]["epochs"] == 1


def test_store_never_reads_a_file_a_record_points_to(tmp_path, monkeypatch):
    secret = tmp_path / "secret.npz"
    np.savez(secret, spectrum=np.zeros(3))
    store = filled_store(tmp_path / "out")
    path = store.entry(KEY_A) / "result.json"
    content = json.loads(path.read_text())
    content["arrays"] = {"file": str(secret), "sha256": atomic.sha256_file(secret)}
    path.write_text(json.dumps(content))
    read = []
    original = atomic.sha256_file
    monkeypatch.setattr(atomic, "sha256_file", lambda p: read.append(str(p)) or original(p))
    with pytest.warns(SpecxaiWarning, match="corrupt result"):
        assert store.load_result(KEY_A) is None
    assert str(secret) not in read and secret.exists()


def test_links_out_of_the_store_are_not_followed(tmp_path):
    outside = filled_store(tmp_path / "elsewhere")
    store = ResultStore(tmp_path / "out")
    store.models.mkdir(parents=True)
    store.entry(KEY_A).symlink_to(outside.entry(KEY_A), target_is_directory=True)
    with pytest.warns(SpecxaiWarning):
        assert store.load_checkpoint(KEY_A) is None
    assert outside.load_result(KEY_A)[0]["ef"] == 0.01  # the linked entry is still there


def test_fresh_removes_only_what_the_store_wrote(tmp_path):
    store = filled_store(tmp_path)
    foreign = store.models / "weights" / "resnet50.pth"
    foreign.parent.mkdir()
    foreign.write_bytes(b"weights")
    look_alike = store.models / ("0" * 16)
    look_alike.mkdir()
    (look_alike / "notes.txt").write_text("mine")
    stray = store.entry(KEY_B) / "extra.txt"
    stray.write_text("mine too")
    with pytest.warns(SpecxaiWarning, match="did not write"):
        kept = store.clear()
    assert not store.entry(KEY_A).exists()
    assert foreign.read_bytes() == b"weights" and (look_alike / "notes.txt").exists() and stray.exists()
    assert set(kept) == {foreign.parent, look_alike, store.entry(KEY_B)}


def test_fresh_on_a_directory_without_a_store_touches_nothing(tmp_path):
    (tmp_path / "models").write_text("a file the user named models")
    ResultStore(tmp_path).clear()
    with pytest.raises(StoreBusy, match="not a directory"):
        ResultStore(tmp_path).lock().__enter__()
    assert (tmp_path / "models").read_text() == "a file the user named models"


def test_a_second_process_cannot_take_the_lock(tmp_path):
    store = ResultStore(tmp_path)
    import subprocess
    import sys
    code = ("import sys; from specxai_jax.storage.store import ResultStore, StoreBusy\n"
            "try:\n    ResultStore(sys.argv[1]).lock().__enter__()\nexcept StoreBusy as e:\n    print(e); sys.exit(3)")
    with store.lock():
        done = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True)
    assert done.returncode == 3 and "another process" in done.stdout
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert StoreBusy.__mro__[1] is Exception


def test_full_disk_anywhere_in_the_chain_is_one_line(capsys):
    import errno

    def main(argv):
        try:
            raise OSError(errno.ENOSPC, "No space left on device", "/out/models/x")
        except OSError as error:
            raise RuntimeError("orbax: save failed") from error

    with pytest.raises(SystemExit) as stopped:
        validation.cli_entry(main, [])
    err = capsys.readouterr().err
    assert stopped.value.code == 2 and err.count("\n") == 1 and "No space left" in err


def test_full_disk_during_a_checkpoint_save_is_one_line_and_leaves_nothing(tmp_path, monkeypatch, capsys):
    from specxai_jax.storage import checkpoints

    class FullDisk:  # what orbax/tensorstore raise when the disk fills (seen on a 600 kB tmpfs)
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def save(self, path, tree):
            raise ValueError('RESOURCE_EXHAUSTED: Error writing "params.w/0.0": Failed to write 332354 bytes to '
                             "file 4: No space left on device [os_error_code='28']")

    monkeypatch.setattr(checkpoints, "_checkpointer", FullDisk)
    store = ResultStore(tmp_path)
    with pytest.raises(SystemExit) as stopped:
        validation.cli_entry(lambda argv: store.save_checkpoint(KEY_A, weights(1.0), METADATA), [])
    err = capsys.readouterr().err
    assert stopped.value.code == 2 and err.count("\n") == 1 and "No space left on device" in err, err
    assert list(store.entry(KEY_A).iterdir()) == []  # no staging directory left behind


def forge_metadata(entry, field: str, value) -> None:
    """Edit one field of a checkpoint's metadata and rewrite its manifest to match (a consistent forgery)."""
    checkpoint = entry / "checkpoint"
    metadata = json.loads((checkpoint / "metadata.json").read_text())
    metadata[field] = value
    (checkpoint / "metadata.json").write_text(json.dumps(metadata))
    manifest = json.loads((checkpoint / "manifest.json").read_text())
    manifest["files"] = atomic.sha256_tree(checkpoint, exclude=("manifest.json",))
    (checkpoint / "manifest.json").write_text(json.dumps(manifest))


@pytest.mark.parametrize("field,value", [("test_accuracy", 0.99), ("epochs", 7), ("reached_cap", True),
                                         ("train_seconds", 0.5), ("diverged", True), ("beta", 5.0)])
def test_checkpoint_metadata_forged_with_its_manifest_is_refused_by_its_results(tmp_path, field, value):
    """The result names the checkpoint manifest it was computed from, so a consistent edit of the
    checkpoint alone (metadata + manifest) no longer passes: the entry is discarded and recomputed."""
    store = filled_store(tmp_path)
    forge_metadata(store.entry(KEY_A), field, value)
    with pytest.warns(SpecxaiWarning, match="not the one its results were computed from"):
        assert store.load_checkpoint(KEY_A, check=sweep.check_metadata) is None
    assert not store.entry(KEY_A).exists() and load(store, KEY_B)[0][1]["beta"] == 2.0


def forge_result(entry, *, ef=None, spectrum=None) -> None:
    """Edit result.json's ``ef`` or result.npz's spectrum and recompute every checksum inside result.json
    (a consistent one-file forgery of the record, or of the arrays plus the record's hash of them)."""
    path = entry / "result.json"
    content = json.loads(path.read_text())
    if ef is not None:
        content["record"]["ef"] = ef
        content["sha256"] = atomic.sha256_text(json.dumps(content["record"], sort_keys=True))
    if spectrum is not None:
        np.savez(entry / "result.npz", spectrum=spectrum)
        content["arrays"]["sha256"] = atomic.sha256_file(entry / "result.npz")
    path.write_text(json.dumps(content))


@pytest.mark.parametrize("forgery", [{"ef": 0.5}, {"spectrum": np.full(4, 9.0)}])
def test_a_result_forged_with_recomputed_hashes_fails_its_seal(tmp_path, forgery):
    store = filled_store(tmp_path)
    forge_result(store.entry(KEY_A), **forgery)
    with pytest.warns(SpecxaiWarning, match="does not match its seal"):
        assert store.load_result(KEY_A, check=sweep.check_record) is None
    assert not (store.entry(KEY_A) / "result.json").exists() and not (store.entry(KEY_A) / "result.seal").exists()
    assert store.load_checkpoint(KEY_A, check=sweep.check_metadata) is not None  # only the explanation is redone
    assert load(store, KEY_B)[1][0]["ef"] == 0.02


def test_an_unforged_result_passes_its_seal_and_a_removed_seal_is_refused(tmp_path):
    store = filled_store(tmp_path)
    assert store.load_result(KEY_A, check=sweep.check_record)[0]["ef"] == 0.01
    (store.entry(KEY_A) / "result.seal").unlink()
    with pytest.warns(SpecxaiWarning, match="does not match its seal"):
        assert store.load_result(KEY_A, check=sweep.check_record) is None
