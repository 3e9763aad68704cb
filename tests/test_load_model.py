"""A sweep's trained models as a product: ``load_model`` gives back the very model each results.csv row
was computed from, history.csv has every model's epochs, train_seconds is each model's own time."""

from __future__ import annotations

import csv
import time

import numpy as np
import optax
import pytest

from specxai_jax import sweep
from specxai_jax.configs import SweepConfig
from specxai_jax.data import load_dataset
from specxai_jax.errors import UsageError
from specxai_jax.models import stack_variables
from specxai_jax.pipeline import summarize_saliency

CONFIG = SweepConfig(dataset="synthetic:n_train=128,n_test=32", img_size=16, depth=2, width=4, dense=16,
                     betas=(1.0, 10.0), seeds=(0, 1), batch_size=32, max_epochs=3, acc_cap=0.5, n_explain=16,
                     lr=3e-3)


def read_csv(path):
    with open(path, newline="") as stream:
        return list(csv.DictReader(stream))


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    out = tmp_path_factory.mktemp("sweep")
    start = time.perf_counter()
    sweep.run(CONFIG, out, progress=False)
    return out, time.perf_counter() - start, read_csv(out / "results.csv")


def test_load_model_recomputes_the_ef_of_results_csv(swept):
    out, _, rows = swept
    dataset = load_dataset(CONFIG.dataset, img_size=CONFIG.img_size, seed=0)
    images = dataset.x_test[:CONFIG.n_explain]
    assert len(rows) == 4 and {row["score"] for row in rows} == {"log_prob"}
    for row in rows:
        model, variables = sweep.load_model(out, beta=float(row["beta"]), seed=int(row["seed"]))
        summary = summarize_saliency(model.apply, stack_variables([variables]), images, n_examples=1)
        np.testing.assert_allclose(summary.ef_mean[0], float(row["ef"]), rtol=1e-6)
        hits = (np.asarray(model.apply(variables, dataset.x_test)).argmax(-1) == dataset.y_test).mean()
        assert hits == pytest.approx(float(row["test_accuracy"]))


def test_history_has_one_row_per_epoch_per_model(swept):
    out, _, rows = swept
    history = read_csv(out / "history.csv")
    steps = 128 // CONFIG.batch_size
    schedule = optax.exponential_decay(CONFIG.lr, steps, CONFIG.lr_decay, staircase=True)
    for row in rows:
        mine = [h for h in history if (h["beta"], h["seed"], h["store_key"]) == (row["beta"], row["seed"], row["store_key"])]
        assert [int(h["epoch"]) for h in mine] == list(range(1, int(row["epochs"]) + 1))
        assert {h["activation"] for h in mine} == {CONFIG.activation}
        np.testing.assert_allclose([float(h["learning_rate"]) for h in mine],
                                   [schedule((int(h["epoch"]) - 1) * steps) for h in mine], rtol=1e-6)
        assert float(mine[-1]["test_accuracy"]) == float(row["test_accuracy"])
        losses = [float(h["train_loss"]) for h in mine]   # mean cross-entropy of an epoch: finite, positive
        assert all(np.isfinite(losses)) and min(losses) > 0
    assert list(history[0])[-1] == "train_loss"
    assert len(history) == sum(int(row["epochs"]) for row in rows)


def test_train_seconds_are_each_models_own(swept):
    """Each model's time is the sum of its own epochs' shares (history.csv), not the time since the sweep
    started: the models' times add up to less than the sweep's wall time. Two models that trained in
    exactly the same rounds may share a value."""
    out, wall, rows = swept
    history = read_csv(out / "history.csv")
    seconds = [float(row["train_seconds"]) for row in rows]
    for row, mine in zip(rows, seconds):
        epochs = [float(h["seconds"]) for h in history if h["store_key"] == row["store_key"]]
        assert mine > 0 and mine == pytest.approx(sum(epochs), rel=1e-6)
    assert sum(seconds) <= wall


def test_load_model_names_the_models_it_has(swept):
    out, _, _ = swept
    with pytest.raises(UsageError, match=r"no model .*β=2 seed 0 λ=0; its models: softplus β=1.0 seed 0"):
        sweep.load_model(out, beta=2.0, seed=0)
    with pytest.raises(UsageError, match="no results.csv"):
        sweep.load_model(out / "models", beta=1.0, seed=0)
