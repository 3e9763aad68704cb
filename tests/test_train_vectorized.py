"""Both training engines == each model trained alone by a plain optax loop; compiled once per sweep."""

import dataclasses
import os
import subprocess
import sys

import jax
import numpy as np
import optax
import pytest

from specxai_jax.data import Dataset
from specxai_jax.errors import UsageError
from specxai_jax.models import PlainCNN, init_variables, stack_variables
from specxai_jax.training import train
from specxai_jax.training.train import ENGINES, TrainConfig, epoch_permutations, plan_round, train_models

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
        history.append(float(np.mean(np.asarray(np.argmax(logits, -1)) == np.asarray(dataset.y_test), dtype=np.float64)))
        if cap is not None and history[-1] >= cap:
            break
    return variables["params"], history


@pytest.mark.parametrize("engine", ENGINES)
def test_training_equals_models_trained_one_by_one(dataset, engine):
    variables = [init_variables(MODEL, jax.random.key(i), beta, (1, 8, 8, 1)) for i, beta in enumerate(BETAS)]
    # A cap between the models' accuracies after epoch 1 stops some of them early, not all.
    first = sorted(one_model_alone(v, seed, dataset, None)[1][0] for v, seed in zip(variables, SEEDS))
    assert first[0] < first[-1], "models should differ after one epoch"
    cap = (first[0] + first[-1]) / 2
    config = TrainConfig(lr=LR, batch_size=BATCH, max_epochs=EPOCHS, acc_cap=cap, eval_batch=30)

    finished = {}
    result = train_models(MODEL.apply, stack_variables(variables), dataset, SEEDS, config, progress=False,
                          on_finished=lambda i, v, acc, ep: finished.setdefault(i, (v, acc, ep)), engine=engine)
    epochs = []
    for i, (v, seed) in enumerate(zip(variables, SEEDS)):
        params, history = one_model_alone(v, seed, dataset, cap)
        epochs.append(len(history))
        assert result.epochs[i] == len(history) and finished[i][2] == len(history)
        assert result.test_accuracy[i] == pytest.approx(history[-1], abs=1e-9)
        np.testing.assert_allclose(result.history[:len(history), i], history, atol=1e-9)
        assert np.isnan(result.history[len(history):, i]).all()
        for ours, theirs in zip(jax.tree.leaves(result.variables["params"]), jax.tree.leaves(params)):
            np.testing.assert_allclose(np.asarray(ours[i]), np.asarray(theirs), rtol=2e-5, atol=2e-6)
        for ours, theirs in zip(jax.tree.leaves(finished[i][0]["params"]), jax.tree.leaves(params)):
            np.testing.assert_allclose(np.asarray(ours), np.asarray(theirs), rtol=2e-5, atol=2e-6)
    assert 1 in epochs and max(epochs) > 1, f"the cap should stop some models early: {epochs}"


def backend_compiles(run) -> int:
    """Number of XLA compilations while ``run()`` executes."""
    events = []
    listener = lambda event, duration, **_: events.append(event)  # noqa: E731
    jax.monitoring.register_event_duration_secs_listener(listener)
    try:
        run()
    finally:
        jax._src.monitoring.unregister_event_duration_listener(listener)
    return events.count("/jax/core/compile/backend_compile_duration")


@pytest.mark.parametrize("engine", ENGINES)
def test_recorded_training_loss_is_the_mean_of_the_epochs_step_losses(dataset, engine):
    """Each epoch's train_loss == the mean of the cross-entropies a plain optax loop minimizes in that epoch."""
    variables = [init_variables(MODEL, jax.random.key(i), beta, (1, 8, 8, 1)) for i, beta in enumerate(BETAS[:2])]
    config = TrainConfig(lr=LR, batch_size=BATCH, acc_cap=None, max_epochs=2)
    records: dict[int, list] = {0: [], 1: []}
    train_models(MODEL.apply, stack_variables(variables), dataset, SEEDS[:2], config, progress=False, engine=engine,
                 on_epoch=lambda model, record: records[model].append(record))

    def cross_entropy(params, state, x, y):
        return optax.softmax_cross_entropy_with_integer_labels(MODEL.apply({**state, "params": params}, x), y).mean()

    for model, (state, seed) in enumerate(zip(variables, SEEDS)):
        opt_state, means = OPTIMIZER.init(state["params"]), []
        for epoch in range(config.max_epochs):
            losses = []
            for index in epoch_permutations([seed], epoch, len(dataset.x_train), BATCH)[0]:
                loss, grads = jax.value_and_grad(cross_entropy)(state["params"], state, dataset.x_train[index],
                                                                dataset.y_train[index])
                updates, opt_state = OPTIMIZER.update(grads, opt_state, state["params"])
                state = {**state, "params": optax.apply_updates(state["params"], updates)}
                losses.append(float(loss))
            means.append(np.mean(losses))
        assert means[1] < means[0]   # the model learns: the two epochs' losses differ
        np.testing.assert_allclose([record.train_loss for record in records[model]], means, rtol=1e-5)


@pytest.mark.parametrize("engine", ENGINES)
def test_compile_count_does_not_depend_on_models_or_when_they_stop(dataset, engine):
    """Six models stopping at different epochs compile exactly what two models do."""
    config = TrainConfig(lr=LR, batch_size=BATCH, max_epochs=3, acc_cap=None, eval_batch=30)

    models = [init_variables(MODEL, jax.random.key(i), 1.0 + i, (1, 8, 8, 1)) for i in range(6)]
    stacks = {count: jax.tree.map(np.asarray, stack_variables(models[:count])) for count in (1, 2, 6)}

    def sweep(count, cap):
        variables = stacks[count]
        stops = []
        result = train_models(MODEL.apply, variables, dataset, list(range(count)),
                              dataclasses.replace(config, acc_cap=cap), progress=False, engine=engine,
                              on_finished=lambda i, v, acc, ep: stops.append(ep))
        return result, stops

    sweep(1, None)          # compiles what every run shares
    two = backend_compiles(lambda: sweep(2, None))
    holder = {}
    six = backend_compiles(lambda: holder.setdefault("run", sweep(6, 0.6)))
    assert len(set(holder["run"][1])) > 1, f"the models should stop at different epochs: {holder['run'][1]}"
    assert six <= two, (six, two)
    assert six <= 2 + 2, f"training and evaluation compile once each, the optimizer state once: {six}"


def test_model_numbers_do_not_depend_on_its_companions(dataset):
    """Per-device engine: a model trained beside others equals the same model trained alone, bit for bit."""
    config = TrainConfig(lr=LR, batch_size=BATCH, max_epochs=2, acc_cap=None, eval_batch=30)
    variables = [init_variables(MODEL, jax.random.key(i), beta, (1, 8, 8, 1)) for i, beta in enumerate(BETAS)]
    together = train_models(MODEL.apply, stack_variables(variables), dataset, SEEDS, config, progress=False,
                            engine="per_device")
    alone = train_models(MODEL.apply, stack_variables(variables[2:]), dataset, SEEDS[2:], config, progress=False,
                         engine="per_device")
    for a, b in zip(jax.tree.leaves(together.variables), jax.tree.leaves(alone.variables)):
        np.testing.assert_array_equal(np.asarray(a)[2], np.asarray(b)[0])


@pytest.mark.parametrize("engine", ENGINES)
def test_without_a_cap_only_the_last_epoch_is_measured_and_it_equals_training_alone(dataset, engine):
    variables = [init_variables(MODEL, jax.random.key(i), beta, (1, 8, 8, 1)) for i, beta in enumerate(BETAS)]
    config = TrainConfig(lr=LR, batch_size=BATCH, max_epochs=2, acc_cap=None, eval_batch=30)
    result = train_models(MODEL.apply, stack_variables(variables), dataset, SEEDS, config, progress=False, engine=engine)
    for i, (v, seed) in enumerate(zip(variables, SEEDS)):
        history = one_model_alone(v, seed, dataset, None)[1][:2]
        assert result.test_accuracy[i] == pytest.approx(history[-1], abs=1e-9)
    assert np.isnan(result.history[0]).all() and not np.isnan(result.history[1]).any()


def rounds_to_train(models: int, epochs: int, slots: int) -> int:
    """Epoch rounds :func:`plan_round` takes for models that all run ``epochs`` epochs; checks each round."""
    left = [epochs] * models
    in_slot, idle, rounds = {}, list(range(models)), 0
    while any(left):
        unfinished = [m for m in range(models) if left[m]]
        planned = plan_round(in_slot, idle, left, slots)
        assert len(set(planned.values())) == len(planned) == min(slots, len(unfinished))
        assert set(planned.values()) <= set(unfinished) and set(planned) <= set(range(slots))
        kept = {slot: m for slot, m in in_slot.items() if planned.get(slot) == m}
        if len(unfinished) >= 2 * slots:   # first waves: nobody leaves a slot before its last epoch
            assert kept == in_slot
        for m in planned.values():
            left[m] -= 1
        in_slot = {slot: m for slot, m in planned.items() if left[m]}
        idle = [m for m in range(models) if left[m] and m not in in_slot.values()]
        rounds += 1
    return rounds


@pytest.mark.parametrize("models,epochs,slots", [(3, 3, 2), (5, 3, 2), (11, 4, 2), (7, 2, 3), (1, 4, 2),
                                                 (4, 3, 2), (9, 5, 4)])
def test_last_wave_leaves_no_slot_idle_before_the_last_round(models, epochs, slots):
    # The fewest rounds possible: all epochs spread over the slots, or one model's epochs in a row.
    assert rounds_to_train(models, epochs, slots) == max(epochs, -(-models * epochs // slots))


TWO_DEVICES = r"""
import jax, numpy as np
from specxai_jax.training import sharding
from specxai_jax.training import train
from specxai_jax.data import Dataset
from specxai_jax.models import PlainCNN, init_variables, stack_variables

assert len(jax.devices()) == 2
moves = []
unload = train.PerDeviceEngine.unload
train.PerDeviceEngine.unload = lambda self, slot: moves.append(slot) or unload(self, slot)
model = PlainCNN(depth=1, width=4, dense=8, num_classes=3)
variables = stack_variables([init_variables(model, jax.random.key(i), b, (1, 8, 8, 1)) for i, b in enumerate([0.5, 3.0, np.inf])])
rng = np.random.default_rng(0)
data = Dataset("random", rng.uniform(size=(64, 8, 8, 1)).astype(np.float32), (np.arange(64) % 3).astype(np.int32),
               rng.uniform(size=(30, 8, 8, 1)).astype(np.float32), (np.arange(30) % 3).astype(np.int32), 3)
config = train.TrainConfig(lr=3e-3, batch_size=32, max_epochs=3, acc_cap=None)
two = train.train_models(model.apply, variables, data, [0, 1, 2], config, progress=False, mesh=sharding.model_mesh(),
                         engine="per_device")
assert moves, "the last wave should move a model between devices"
one = train.train_models(model.apply, variables, data, [0, 1, 2], config, progress=False, engine="per_device")
assert list(two.epochs) == list(one.epochs) == [3, 3, 3], (two.epochs, one.epochs)
assert np.array_equal(two.test_accuracy, one.test_accuracy)
for a, b in zip(jax.tree.leaves(two.variables), jax.tree.leaves(one.variables)):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
print("SAME")
"""


def run_on_two_cpu_devices(script: str) -> None:
    """Run ``script`` in a process with 2 forced CPU devices; it prints SAME when its comparison holds."""
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2", "JAX_PLATFORMS": "cpu"}
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0 and "SAME" in proc.stdout, proc.stderr[-3000:]


def test_models_that_change_device_in_the_last_wave_train_as_on_one_device():
    run_on_two_cpu_devices(TWO_DEVICES)


def test_images_that_are_uint8_codes_are_kept_as_codes():
    codes = np.random.default_rng(5).integers(0, 256, size=(3000, 4, 4, 3), dtype=np.uint8)
    as_loaded = codes.astype(np.float32) / np.float32(255.0)        # what data loading makes of uint8 pixels
    kept = train.stored_images(as_loaded, chunk=1000)
    assert kept.dtype == np.uint8 and np.array_equal(kept, codes)
    resized = as_loaded.copy()
    resized[2500, 0, 0, 0] = np.nextafter(resized[2500, 0, 0, 0], np.float32(2))    # one pixel off the grid
    assert train.stored_images(resized, chunk=1000) is resized


def test_vectorized_training_on_uint8_codes_equals_training_alone_on_floats(dataset):
    quantized = dataclasses.replace(dataset, x_train=np.round(dataset.x_train * 255).astype(np.float32) / np.float32(255),
                                    x_test=np.round(dataset.x_test * 255).astype(np.float32) / np.float32(255))
    assert train.stored_images(quantized.x_train).dtype == np.uint8
    variables = [init_variables(MODEL, jax.random.key(i), beta, (1, 8, 8, 1)) for i, beta in enumerate(BETAS)]
    config = TrainConfig(lr=LR, batch_size=BATCH, max_epochs=EPOCHS, acc_cap=None, eval_batch=30)
    result = train_models(MODEL.apply, stack_variables(variables), quantized, SEEDS, config, progress=False,
                          engine="vectorized")
    for i, (v, seed) in enumerate(zip(variables, SEEDS)):
        params, history = one_model_alone(v, seed, quantized, None)
        assert result.test_accuracy[i] == pytest.approx(history[-1], abs=1e-9)
        for ours, theirs in zip(jax.tree.leaves(result.variables["params"]), jax.tree.leaves(params)):
            np.testing.assert_allclose(np.asarray(ours[i]), np.asarray(theirs), rtol=2e-5, atol=2e-6)


def test_models_that_do_not_fit_a_device_get_one_line_with_how_many_fit():
    gib = 2**30
    train.check_fits(3, gib, gib // 2, 4 * gib)                     # 3.5 GiB of 4: fits
    with pytest.raises(UsageError, match=r"at most 2 models fit per device") as error:
        train.check_fits(4, gib, gib // 2, 3 * gib)
    assert "\n" not in str(error.value)
    with pytest.raises(UsageError, match=r"--img-size"):
        train.check_fits(1, gib, 3 * gib, 3 * gib)


SHARDED_IMAGES = r"""
import dataclasses, jax, numpy as np
from specxai_jax.training import sharding, train
from specxai_jax.data import Dataset
from specxai_jax.models import PlainCNN, init_variables, stack_variables
from specxai_jax.ops import fast_forms

assert len(jax.devices()) == 2
model = PlainCNN(depth=1, width=4, dense=8, num_classes=3)
variables = stack_variables([init_variables(model, jax.random.key(i), b, (1, 8, 8, 1)) for i, b in enumerate([0.5, 3.0, np.inf])])
rng = np.random.default_rng(0)
codes = lambda n: rng.integers(0, 256, size=(n, 8, 8, 1)).astype(np.float32) / np.float32(255)
data = Dataset("random", codes(67), (np.arange(67) % 3).astype(np.int32), codes(30), (np.arange(30) % 3).astype(np.int32), 3)
config = train.TrainConfig(lr=3e-3, batch_size=16, max_epochs=2, acc_cap=None, eval_batch=8)
with fast_forms.forced(False):
    one = train.train_models(model.apply, variables, data, [0, 1, 2], config, progress=False, engine="vectorized")
    train.REPLICA_LIMIT = 0
    two = train.train_models(model.apply, variables, data, [0, 1, 2], config, progress=False, engine="vectorized",
                             mesh=sharding.model_mesh())
np.testing.assert_array_equal(two.test_accuracy, one.test_accuracy)
for a, b in zip(jax.tree.leaves(two.variables), jax.tree.leaves(one.variables)):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6)
print("SAME")
"""


def test_training_images_split_over_devices_train_as_on_one_device():
    run_on_two_cpu_devices(SHARDED_IMAGES)


def test_model_memory_estimate_counts_weights_four_times_and_grows_with_the_batch():
    variables = jax.tree.map(np.asarray, stack_variables([init_variables(MODEL, jax.random.key(0), 1.0, (1, 8, 8, 1))]))
    # PlainCNN(depth=1, width=4, dense=16, classes=3) on 8×8×1: conv 3·3·1·4 + 4, dense (4·4·4)·16 + 16, head 16·3 + 3
    parameters = 40 + 1040 + 51
    size = {batch: train.model_bytes(variables, MODEL.apply, (batch, 8, 8, 1)) for batch in (16, 32, 64)}
    per_image = (size[32] - size[16]) / 16
    assert size[64] - size[32] == 32 * per_image > 3 * 4 * (8 * 8 * 4)     # at least the first conv's output, ×3
    weights = size[16] - 16 * per_image
    assert 16 * parameters <= weights <= 16 * (parameters + 4)          # float32 × (weights, grads, 2 Adam moments)


def test_training_that_cannot_fit_the_device_stops_before_it_starts(dataset, monkeypatch):
    monkeypatch.setattr(train, "free_device_bytes", lambda device: 3 * 2**10)
    variables = [init_variables(MODEL, jax.random.key(i), beta, (1, 8, 8, 1)) for i, beta in enumerate(BETAS)]
    config = TrainConfig(lr=LR, batch_size=BATCH, max_epochs=1, acc_cap=None)
    with pytest.raises(UsageError, match="GiB per device"):
        train_models(MODEL.apply, stack_variables(variables), dataset, SEEDS, config, progress=False,
                     engine="vectorized")


@pytest.mark.parametrize("models", [1, 3, 5])
def test_with_a_slot_per_model_plan_round_starts_model_i_in_slot_i_and_never_unloads(models):
    """The vectorized engine stacks model i in slot i at construction and its load moves nothing."""
    in_slot, idle, left = {}, list(range(models)), np.full(models, 3)
    for _ in range(3):
        planned = plan_round(in_slot, idle, left, models)
        assert all(slot == model for slot, model in planned.items())
        assert set(in_slot.items()) <= set(planned.items())   # nobody taken out
        idle = [m for m in idle if m not in planned.values()]
        in_slot = planned
        left = left - 1


def test_vectorized_unload_and_restore_continue_where_the_model_stopped(dataset):
    """Slot 1 lends itself to model 2 for a round, then gets model 1 back: model 1 ends with the weights of
    a model that trained its epochs without the pause (the Engine protocol's contract; plain optax as
    reference)."""
    stacked = stack_variables([init_variables(MODEL, jax.random.key(s), beta=b, input_shape=(1, 8, 8, 1))
                               for s, b in zip(SEEDS, BETAS)])
    config = TrainConfig(lr=LR, batch_size=BATCH, acc_cap=None, max_epochs=EPOCHS)
    engine = train.VectorizedEngine(MODEL.apply, train.make_optimizer(config, STEPS), config, dataset, None, STEPS,
                                    jax.tree.map(np.asarray, stacked))
    engine.run_epoch({0: (SEEDS[0], 0), 1: (SEEDS[1], 0)})
    state = engine.unload(1)
    engine.restore(1, engine.unload(2))                  # model 2 trains in slot 1 this round
    engine.run_epoch({0: (SEEDS[0], 1), 1: (SEEDS[2], 0)})
    engine.restore(1, state)
    engine.run_epoch({0: (SEEDS[0], 2), 1: (SEEDS[1], 1)})
    reference = jax.tree.map(lambda leaf: leaf[1], stacked)
    opt_state = OPTIMIZER.init(reference["params"])
    for epoch in range(2):
        for index in epoch_permutations([SEEDS[1]], epoch, len(dataset.x_train), BATCH)[0]:
            reference, opt_state = plain_step(reference, opt_state, dataset.x_train[index], dataset.y_train[index])
    for ours, theirs in zip(jax.tree.leaves(engine.read(1)["params"]), jax.tree.leaves(reference["params"])):
        np.testing.assert_allclose(np.asarray(ours), np.asarray(theirs), rtol=2e-5, atol=2e-6)
