"""Atomic writers: exact round trips through independent readers, and no partial file after a kill."""

import csv
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.image
import matplotlib.pyplot as plt
import numpy as np
import pytest

from specxai_jax.ops.activations import parse_beta
from specxai_jax.storage import atomic

REPO = Path(__file__).resolve().parents[1]


def leftovers(directory):
    return [p.name for p in Path(directory).iterdir() if atomic.TEMP_MARKER in p.name]


def test_write_text_and_json_round_trip(tmp_path):
    atomic.write_text(tmp_path / "a" / "note.txt", "β sweep\n")
    assert (tmp_path / "a" / "note.txt").read_text(encoding="utf-8") == "β sweep\n"
    record = {"beta": np.float32(0.5), "seeds": np.arange(3), "inf": float("inf"), "path": tmp_path}
    atomic.write_json(tmp_path / "r.json", record)
    back = json.loads((tmp_path / "r.json").read_text())
    assert back == {"beta": 0.5, "seeds": [0, 1, 2], "inf": "inf", "path": str(tmp_path)}
    assert float(back["inf"]) == float("inf")
    assert leftovers(tmp_path) == []


def strict_loads(text: str):
    """json.loads that refuses the non-standard NaN / Infinity / -Infinity tokens."""

    def refuse(token):
        raise ValueError(f"non-standard JSON token {token}")

    return json.loads(text, parse_constant=refuse)


def test_json_is_standard_and_reads_back():
    nan, inf = float("nan"), float("inf")
    record = {"betas": [0.5, inf, np.float64(inf)], "low": -inf, "ef": nan, "arr": np.array([1.0, nan, -inf]),
              "nested": ({"x": np.float32(nan)},), "n": np.int64(3), "ok": np.bool_(True), "none": None}
    back = strict_loads(atomic.to_json(record))
    assert back == {"betas": [0.5, "inf", "inf"], "low": "-inf", "ef": None, "arr": [1.0, None, "-inf"],
                    "nested": [{"x": None}], "n": 3, "ok": True, "none": None}
    assert [parse_beta(b) for b in back["betas"]] == [0.5, inf, inf]  # how readers turn β back into a number
    assert float(back["low"]) == -inf
    with pytest.raises(TypeError, match="cannot write object as JSON"):
        atomic.to_json({"x": object()})


def test_csv_floats_read_back_bit_for_bit(tmp_path):
    rng = np.random.default_rng(0)
    values = rng.standard_normal(20) * 10.0 ** rng.integers(-12, 12, 20)
    rows = [{"beta": "inf" if i == 0 else i, "ef": float(v)} for i, v in enumerate(values)]
    atomic.write_csv(tmp_path / "results.csv", rows, ["beta", "ef"])
    with open(tmp_path / "results.csv", newline="") as stream:
        read = list(csv.DictReader(stream))
    assert list(read[0]) == ["beta", "ef"]
    np.testing.assert_array_equal([float(r["ef"]) for r in read], values)
    with pytest.raises(ValueError):
        atomic.write_csv(tmp_path / "bad.csv", [{"beta": 1, "extra": 2}], ["beta"])
    assert not (tmp_path / "bad.csv").exists() and leftovers(tmp_path) == []


def test_failed_write_keeps_the_old_file(tmp_path):
    target = tmp_path / "result.json"
    atomic.write_text(target, "old")
    with pytest.raises(RuntimeError):
        with atomic.atomic_open(target) as stream:
            stream.write("half of the new content")
            raise RuntimeError("killed mid-write")
    assert target.read_text() == "old"
    assert leftovers(tmp_path) == []


def test_sigkill_never_leaves_a_partial_file(tmp_path):
    """A writer alternating two 4 MB contents is killed at a random moment: the file is one of them, whole."""
    target = tmp_path / "big.bin"
    script = textwrap.dedent(f"""
        import sys
        from specxai_jax.storage import atomic
        contents = [b"a" * (4 << 20), b"b" * (4 << 20)]
        atomic.write_bytes({str(target)!r}, contents[0])
        print("ready", flush=True)
        i = 0
        while True:
            i += 1
            atomic.write_bytes({str(target)!r}, contents[i % 2])
    """)
    process = subprocess.Popen([sys.executable, "-c", script], cwd=REPO, stdout=subprocess.PIPE,
                               env={**os.environ, "PYTHONPATH": str(REPO)})
    assert process.stdout.readline().strip() == b"ready"
    time.sleep(0.3)
    process.send_signal(signal.SIGKILL)
    process.wait()
    data = target.read_bytes()
    assert len(data) == 4 << 20 and data in (b"a" * (4 << 20), b"b" * (4 << 20))


def test_save_figure_writes_a_readable_png(tmp_path):
    fig, ax = plt.subplots(figsize=(2, 1.5), dpi=50)
    ax.plot([0, 1], [1, 0])
    atomic.save_figure(fig, tmp_path / "fig_ef_vs_beta.png")
    plt.close(fig)
    path = tmp_path / "fig_ef_vs_beta.png"
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert matplotlib.image.imread(path).shape[:2] == (75, 100)
    assert leftovers(tmp_path) == []


def test_sha256_matches_the_published_test_vector(tmp_path):
    (tmp_path / "abc").write_bytes(b"abc")  # FIPS 180-2, appendix B.1
    assert atomic.sha256_file(tmp_path / "abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert atomic.sha256_text("abc") == atomic.sha256_file(tmp_path / "abc")


def test_sha256_tree_sees_every_byte_and_every_file(tmp_path):
    (tmp_path / "d" / "e").mkdir(parents=True)
    (tmp_path / "d" / "e" / "x.bin").write_bytes(b"\x00" * 100)
    (tmp_path / "m.json").write_text("{}")
    before = atomic.sha256_tree(tmp_path)
    assert sorted(before) == ["d/e/x.bin", "m.json"]
    assert list(atomic.sha256_tree(tmp_path, exclude=("m.json",))) == ["d/e/x.bin"]
    (tmp_path / "d" / "e" / "x.bin").write_bytes(b"\x00" * 99 + b"\x01")
    after = atomic.sha256_tree(tmp_path)
    assert after["m.json"] == before["m.json"] and after["d/e/x.bin"] != before["d/e/x.bin"]
