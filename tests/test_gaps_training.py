"""Training and data numbers against references computed here: the epoch order from default_rng([seed, epoch]),
test accuracy with a padded last batch against a plain argmax, the cap reached exactly (>=), and a data
fingerprint that covers the test split."""

from __future__ import annotations

import dataclasses
import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from specxai_jax.data import Dataset
from specxai_jax.training.train import TrainConfig, epoch_permutations, train_models

RNG = np.random.default_rng(0)
N_TEST = 60      # not a multiple of eval_batch = 32: the last batch is padded with 4 rows
DIM, CLASSES = 16, 3


def test_epoch_order_is_default_rng_of_seed_and_epoch():
    got = epoch_permutations([3, 4], 2, 10, 3)
    for row, seed in enumerate((3, 4)):
        golden = np.random.default_rng([seed, 2]).permutation(10)[:9].reshape(3, 3)
        np.testing.assert_array_equal(got[row], golden)
    assert not np.array_equal(got[0], got[1])  # two seeds, two orders
    assert not np.array_equal(epoch_permutations([3], 1, 10, 3), epoch_permutations([3], 2, 10, 3))


def linear(variables, x):
    return x.reshape(x.shape[0], -1) @ variables["params"]["w"] + variables["params"]["b"]


@pytest.fixture(scope="module")
def problem():
    """A linear model that predicts class 0 on the all-zero padding rows, test labels that are never 0, and an
    Adam rate so small that training leaves the predictions as they are."""
    w = RNG.normal(0, 10, (DIM, CLASSES)).astype(np.float32)
    b = np.array([5.0, 0.0, 0.0], np.float32)
    x_test = RNG.uniform(size=(N_TEST, 4, 4, 1)).astype(np.float32)
    y_test = (RNG.integers(1, CLASSES, N_TEST)).astype(np.int32)
    data = types.SimpleNamespace(x_train=RNG.uniform(size=(32, 4, 4, 1)).astype(np.float32),
                                 y_train=RNG.integers(0, CLASSES, 32).astype(np.int32), x_test=x_test, y_test=y_test)
    variables = {"params": {"w": w[None], "b": b[None]}}
    accuracy = float(np.mean(np.argmax(x_test.reshape(N_TEST, -1) @ w + b, -1) == y_test))
    return data, variables, accuracy


@pytest.mark.parametrize("engine", ["per_device", "vectorized"])
def test_accuracy_with_a_padded_last_batch_is_a_plain_argmax(problem, engine):
    data, variables, _ = problem
    result = train_models(linear, variables, data, [0], TrainConfig(lr=1e-12, batch_size=16, acc_cap=None,
                                                                     max_epochs=1, eval_batch=32),
                          progress=False, engine=engine)
    trained = {"params": {name: jnp.asarray(leaf[0]) for name, leaf in result.variables["params"].items()}}
    plain = float(np.mean(np.argmax(np.asarray(linear(trained, data.x_test)), -1) == data.y_test))
    assert result.test_accuracy[0] == pytest.approx(plain, abs=1e-12)


def test_a_cap_equal_to_the_reached_accuracy_stops_the_model(problem):
    data, variables, accuracy = problem
    assert 0 < accuracy < 1
    cap = int(round(accuracy * N_TEST)) / N_TEST
    result = train_models(linear, variables, data, [0], TrainConfig(lr=1e-12, batch_size=16, acc_cap=cap,
                                                                     max_epochs=3, eval_batch=32), progress=False)
    assert result.epochs[0] == 1 and result.test_accuracy[0] == cap


def dataset(**replace) -> Dataset:
    rng = np.random.default_rng(1)
    arrays = dict(x_train=rng.uniform(size=(6, 4, 4, 1)).astype(np.float32), y_train=np.array([0, 1] * 3, np.int32),
                  x_test=rng.uniform(size=(4, 4, 4, 1)).astype(np.float32), y_test=np.array([0, 1, 1, 0], np.int32))
    arrays.update(replace)
    return Dataset("d", num_classes=2, **arrays)


def test_fingerprint_covers_the_test_split():
    base = dataset()
    x_test = base.x_test.copy()
    x_test[0, 0, 0, 0] = 0.5 if x_test[0, 0, 0, 0] != 0.5 else 0.25
    fingerprints = {base.fingerprint, dataset(x_test=x_test).fingerprint,
                    dataset(y_test=np.array([1, 1, 1, 0], np.int32)).fingerprint}
    assert len(fingerprints) == 3
    assert dataset().fingerprint == base.fingerprint


def reference_noisy_training(variables, data, seed: int, config: TrainConfig):
    """Adam (lr × lr_decay per epoch) on batches in default_rng([seed, epoch]) order, each input plus
    input_noise · N(0, 1) drawn here from the documented key: split(fold_in(key(seed), epoch), steps)[step]."""
    import optax

    steps = data.x_train.shape[0] // config.batch_size
    params = jax.tree.map(lambda leaf: jnp.asarray(leaf[0]), variables)["params"]
    optimizer = optax.adam(optax.exponential_decay(config.lr, steps, config.lr_decay, staircase=True))
    state = optimizer.init(params)
    for epoch in range(config.max_epochs):
        order = np.random.default_rng([seed, epoch]).permutation(data.x_train.shape[0])
        keys = jax.random.split(jax.random.fold_in(jax.random.key(seed), epoch), steps)
        for step in range(steps):
            index = order[step * config.batch_size:(step + 1) * config.batch_size]
            x = data.x_train[index] + config.input_noise * jax.random.normal(keys[step], data.x_train[index].shape)
            y = data.y_train[index]
            grads = jax.grad(lambda p: optax.softmax_cross_entropy_with_integer_labels(
                linear({"params": p}, x), y).mean())(params)
            updates, state = optimizer.update(grads, state, params)
            params = optax.apply_updates(params, updates)
    return params


def test_noisy_training_matches_a_loop_that_draws_its_own_noise(problem):
    data, variables, _ = problem
    config = TrainConfig(lr=0.05, batch_size=8, acc_cap=None, max_epochs=2, input_noise=0.5, eval_batch=32)
    result = train_models(linear, variables, data, [3], config, progress=False, engine="per_device")
    expected = reference_noisy_training(variables, data, 3, config)
    for name in ("w", "b"):
        np.testing.assert_allclose(np.asarray(result.variables["params"][name][0]), expected[name], rtol=2e-4, atol=2e-5)
    clean = reference_noisy_training(variables, data, 3, dataclasses.replace(config, input_noise=0.0))
    assert not np.allclose(clean["w"], expected["w"], atol=1e-3)  # the noise matters at this scale
