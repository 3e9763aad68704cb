"""Stacked (vmapped, masked) training == each model trained alone by a plain optax loop."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from specxai_jax.data import Dataset
from specxai_jax.models import PlainCNN, init_variables, stack_variables
from specxai_jax.train import TrainConfig, epoch_permutations, make_epoch_fn, make_optimizer, train_models

MODEL = PlainCNN(depth=1, width=4, dense=16, num_classes=3)
BETAS = [0.5, 3.0, float("inf")]
SEEDS = [11, 12, 13]


@pytest.fixture(scope="module")
def dataset():
    """Three classes told apart by mean brightness, with noise: learnable in a few epochs."""
    rng = np.random.default_rng(0)

    def split(count):
        labels = (np.arange(count) % 3).astype(np.int32)
        images = np.clip(0.25 + 0.25 * labels[:, None, None, None] + 0.2 * rng.normal(size=(count, 8, 8, 1)), 0, 1)
        return images.astype(np.float32), labels

    return Dataset("brightness", *split(96), *split(60), 3)


LR, BATCH, EPOCHS, STEPS = 1e-2, 32, 4, 3
OPTIMIZER = optax.adam(optax.exponential_decay(LR, STEPS, TrainConfig.lr_decay, staircase=True))


@jax.jit
def plain_step(variables, opt_state, x, y):
    """One Adam step of one model, written directly with optax."""
    loss = lambda p: optax.softmax_cross_entropy_with_integer_labels(  # noqa: E731
        MODEL.apply({**variables, "params": p}, x), y).mean()
    updates, opt_state = OPTIMIZER.update(jax.grad(loss)(variables["params"]), opt_state, variables["params"])
    return {**variables, "params": optax.apply_updates(variables["params"], updates)}, opt_state


def one_model_alone(variables, seed, dataset, cap):
    """Reference: one model, batch by batch in a Python loop; stop once test accuracy ≥ cap.

    Returns (params, accuracy after every epoch run).
    """
    opt_state = OPTIMIZER.init(variables["params"])
    history = []
    for epoch in range(EPOCHS):
        for index in epoch_permutations([seed], epoch, len(dataset.x_train), BATCH)[0]:
            variables, opt_state = plain_step(variables, opt_state, dataset.x_train[index], dataset.y_train[index])
        logits = MODEL.apply(variables, dataset.x_test)
        history.append(float((np.argmax(logits, -1) == dataset.y_test).mean()))
        if cap is not None and history[-1] >= cap:
            break
    return variables["params"], history


def test_stacked_training_equals_models_trained_one_by_one(dataset):
    variables = [init_variables(MODEL, jax.random.key(i), beta, (1, 8, 8, 1)) for i, beta in enumerate(BETAS)]
    # A cap between the models' accuracies after epoch 1 stops some of them early, not all.
    first = sorted(one_model_alone(v, seed, dataset, None)[1][0] for v, seed in zip(variables, SEEDS))
    assert first[0] < first[-1], "models should differ after one epoch"
    cap = (first[0] + first[-1]) / 2
    config = TrainConfig(lr=LR, batch_size=BATCH, max_epochs=EPOCHS, acc_cap=cap, eval_batch=30)

    finished = {}
    result = train_models(MODEL.apply, stack_variables(variables), dataset, SEEDS, config, progress=False,
                          on_finished=lambda i, v, acc, ep: finished.setdefault(i, (v, acc, ep)))
    epochs = []
    for i, (v, seed) in enumerate(zip(variables, SEEDS)):
        params, history = one_model_alone(v, seed, dataset, cap)
        epochs.append(len(history))
        assert result.epochs[i] == len(history) and finished[i][2] == len(history)
        assert result.test_accuracy[i] == pytest.approx(history[-1], abs=1e-9)
        for ours, theirs in zip(jax.tree.leaves(result.variables["params"]), jax.tree.leaves(params)):
            np.testing.assert_allclose(np.asarray(ours[i]), np.asarray(theirs), rtol=2e-5, atol=2e-6)
        for ours, theirs in zip(jax.tree.leaves(finished[i][0]["params"]), jax.tree.leaves(params)):
            np.testing.assert_allclose(np.asarray(ours), np.asarray(theirs), rtol=2e-5, atol=2e-6)
    assert 1 in epochs and max(epochs) > 1, f"the cap should stop some models early: {epochs}"


def test_masked_model_stays_frozen_while_others_train(dataset):
    config = TrainConfig(lr=1e-2, batch_size=32, max_epochs=1, acc_cap=None)
    stacked = stack_variables([init_variables(MODEL, jax.random.key(i), 1.0, (1, 8, 8, 1)) for i in range(2)])
    optimizer = make_optimizer(config, 3)
    run_epoch = make_epoch_fn(MODEL.apply, optimizer, config)
    batches = jnp.asarray(epoch_permutations([0, 1], 0, 96, 32))
    keys = jax.vmap(lambda s: jax.random.split(jax.random.key(s), 3))(jnp.arange(2))
    new, _ = run_epoch(stacked, jax.vmap(optimizer.init)(stacked["params"]), jnp.asarray([True, False]), batches,
                       jnp.asarray(dataset.x_train), jnp.asarray(dataset.y_train), keys)
    kernel_before, kernel_after = stacked["params"]["head"]["kernel"], new["params"]["head"]["kernel"]
    np.testing.assert_array_equal(kernel_after[0], kernel_before[0])
    assert np.abs(np.asarray(kernel_after[1] - kernel_before[1])).max() > 1e-4
