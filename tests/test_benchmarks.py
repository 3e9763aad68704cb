"""Tiny runs of the benchmarks: one JSON object on the last line, and every method's EF agrees."""

import json
import subprocess
import sys

import jax
import numpy as np
import pytest

from benchmarks import authors, ef_pipeline
from specxai_jax.models import PlainCNN, init_variables


def last_json_line(text: str) -> dict:
    return json.loads(text.strip().splitlines()[-1])


def test_torch_mirror_computes_the_flax_logits():
    torch = pytest.importorskip("torch")
    model = PlainCNN(depth=2, width=4, dense=8)
    variables = init_variables(model, jax.random.key(0), 3.0, (1, 8, 8, 2))
    x = np.random.default_rng(0).uniform(size=(3, 8, 8, 2)).astype(np.float32)
    mirror = authors.torch_model(variables, depth=2, beta=3.0)
    theirs = mirror(torch.from_numpy(x.transpose(0, 3, 1, 2).copy())).detach().numpy()
    np.testing.assert_allclose(theirs, np.asarray(model.apply(variables, x)), rtol=1e-4, atol=1e-5)


def test_ef_pipeline_smoke(capsys):
    pytest.importorskip("torch")
    ef_pipeline.main(["--size", "8", "--depth", "1", "--n", "8", "--batch", "4", "--repeats", "1"])
    report = last_json_line(capsys.readouterr().out)
    assert report["benchmark"] == "ef_pipeline" and report["images_per_second"] > 0
    assert report["speedup_vs_authors"] > 0 and "versions" in report and "device" in report
    assert set(report["baselines_images_per_second"]) == {"authors", "jax_then_numpy", "jax_saliency", "torch_saliency"}
    # Same network, same images: the fused pipeline and both per-image NumPy/SciPy paths agree.
    assert report["ef_ours"] == pytest.approx(report["ef_jax_then_numpy"], rel=1e-5)
    assert report["ef_ours"] == pytest.approx(report["ef_authors"], rel=1e-3)


def test_ef_pipeline_without_torch_says_so(capsys):
    ef_pipeline.main(["--size", "8", "--depth", "1", "--n", "4", "--batch", "4", "--repeats", "1", "--no-torch"])
    report = last_json_line(capsys.readouterr().out)
    assert report["speedup_vs_authors"] is None and "skipped" in report["note"]


def test_ef_pipeline_splits_batches_over_cpu_devices():
    """Two XLA CPU devices (set before the backend starts, so in a fresh process) give the same EF."""
    proc = subprocess.run([sys.executable, "-m", "benchmarks.ef_pipeline", "--size", "8", "--depth", "1", "--n", "8",
                           "--batch", "4", "--repeats", "1", "--no-torch", "--cpu-devices", "2"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    report = last_json_line(proc.stdout)
    assert report["device_count"] == 2 and report["config"]["cpu_devices"] == 2
    assert report["ef_ours"] == pytest.approx(report["ef_jax_then_numpy"], rel=1e-5)


@pytest.mark.slow
def test_sweep_vs_authors_smoke():
    pytest.importorskip("torch")
    proc = subprocess.run([sys.executable, "-m", "benchmarks.sweep_vs_authors", "--size", "16", "--depth", "1",
                           "--betas", "1,relu", "--epochs", "1", "--n-train", "128", "--n-test", "64",
                           "--n-explain", "8", "--modes", "same_work,same_work_warm", "--repeat", "2"],
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = last_json_line(proc.stdout)
    cold, warm = report["same_work"], report["same_work_warm"]
    for mode in (cold, warm):
        assert mode["ours"]["model_epochs"] == mode["authors"]["model_epochs"] == 2    # 2 models × 1 epoch
        assert mode["wall_ratio_authors_over_ours"] > 0 and len(mode["wall_ratio_per_run"]) == 2
    assert cold["ours"]["compile_count"] > 0 and warm["ours"]["programs_from_cache"] > 0
    assert warm["ours"]["compile_seconds"] < cold["ours"]["compile_seconds"]


def test_accelerator_benchmark_arguments():
    from benchmarks import accelerator

    args = accelerator.parse_args(["--reduced", "--skip", "authors,ef"])
    assert args.reduced and args.skip == "authors,ef"
    with pytest.raises(SystemExit) as stopped:
        accelerator.parse_args(["--skip", "sweep,bogus"])
    assert stopped.value.code == 2
    full = accelerator.Setup()   # the CIFAR-10 scale work: 50,000 × 32 px × 3, depth 4, 2 epochs
    assert (full.n_train, full.size, full.channels, full.depth, full.epochs) == (50_000, 32, 3, 4, 2)
    assert [size for size, _, _ in full.ef_sizes] == [28, 64, 224]


def test_accelerator_benchmark_reduced_runs_on_cpu_to_its_json_line():  # about a minute: the GPU script stays runnable
    pytest.importorskip("torch")
    proc = subprocess.run([sys.executable, "-m", "benchmarks.accelerator", "--reduced"], capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = last_json_line(proc.stdout)
    sweep = report["sweep"]
    for side in ("vectorized", "one_model_at_a_time", "authors_pytorch"):
        assert sweep[side]["model_epochs"] == 2 and sweep[side]["wall_seconds"] > 0     # 2 models × 1 epoch
    assert sweep["vectorized"]["compile_count"] > 0
    assert [part["size"] for part in report["ef_pipeline"]] == [28, 64]
    assert report["cpu_check"]["within_tolerance"], report["cpu_check"]
