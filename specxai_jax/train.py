"""Train many models of one architecture at once: one compiled Adam step over stacked variables.

Each model (a β, a seed) has its own data order and stops at its own accuracy cap: once a model
reaches the cap its updates are masked out, so the stacked run equals training the models one by one.
With a mesh (:func:`specxai_jax.sharding.model_mesh`) the model axis is split over every device of
the mesh with ``shard_map``; models are independent, so the devices never communicate.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import Mesh, PartitionSpec
from tqdm.auto import tqdm

from specxai_jax import sharding
from specxai_jax.models import stack_variables


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings (paper, Tab. 3 / App. B)."""

    lr: float = 1e-3
    batch_size: int = 64
    lr_decay: float = 0.95          # learning rate × lr_decay after every epoch
    acc_cap: float | None = 0.9     # stop a model once its test accuracy reaches this; None: never
    max_epochs: int = 20
    input_noise: float = 0.0        # std of Gaussian noise added to training inputs (App. B remark)
    eval_batch: int = 500


@dataclasses.dataclass
class TrainResult:
    """Stacked trained variables (leading axis M) and per-model outcomes."""

    variables: dict
    test_accuracy: np.ndarray       # (M,) at the epoch each model stopped
    epochs: np.ndarray              # (M,) epochs each model trained
    history: np.ndarray             # (epochs_run, M) test accuracy after every epoch
    seconds: float


def make_optimizer(config: TrainConfig, steps_per_epoch: int) -> optax.GradientTransformation:
    """Adam whose learning rate decays by ``lr_decay`` once per epoch."""
    schedule = optax.exponential_decay(config.lr, steps_per_epoch, config.lr_decay, staircase=True)
    return optax.adam(schedule)


def cross_entropy_loss(apply_fn: Callable, variables: dict, params: dict, x, y):
    """Mean softmax cross-entropy and updated batch statistics (if the model has any)."""
    full = {**variables, "params": params}
    if "batch_stats" in variables:
        logits, updates = apply_fn(full, x, train=True, mutable=["batch_stats"])
    else:
        logits, updates = apply_fn(full, x), {}
    loss = optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()
    return loss, updates


def _train_step(apply_fn, optimizer, config: TrainConfig):
    """One model's step: (variables, opt_state, x, y, key) → (variables, opt_state)."""

    def step(variables, opt_state, x, y, key):
        if config.input_noise > 0:
            x = x + config.input_noise * jax.random.normal(key, x.shape, x.dtype)
        grad_fn = jax.grad(lambda p: cross_entropy_loss(apply_fn, variables, p, x, y), has_aux=True)
        grads, updates = grad_fn(variables["params"])
        param_updates, opt_state = optimizer.update(grads, opt_state, variables["params"])
        new = {**variables, **updates, "params": optax.apply_updates(variables["params"], param_updates)}
        return new, opt_state

    return step


def _keep_where_done(done: jax.Array, old, new):
    """Per-model select: models flagged done keep their old leaves."""
    def select(o, n):
        mask = done.reshape(done.shape + (1,) * (o.ndim - 1))
        return jnp.where(mask, o, n)
    return jax.tree.map(select, old, new)


def epoch_permutations(seeds: Sequence[int], epoch: int, num_examples: int, batch_size: int) -> np.ndarray:
    """Per-model shuffled batch indices (M, steps, B), a function of (seed, epoch) only."""
    steps = num_examples // batch_size
    orders = [np.random.default_rng([seed, epoch]).permutation(num_examples) for seed in seeds]
    return np.stack([order[: steps * batch_size].reshape(steps, batch_size) for order in orders])


def epoch_keys(seeds: Sequence[int], epoch: int, steps: int) -> jax.Array:
    """Per-model, per-step random keys (M, steps), a function of (seed, epoch) only."""
    return jax.vmap(lambda s: jax.random.split(jax.random.fold_in(jax.random.key(s), epoch), steps))(
        jnp.asarray(seeds))


def on_model_axis(fn: Callable, mesh: Mesh | None, replicated_args: Sequence[int], num_args: int) -> Callable:
    """``fn`` itself, or ``fn`` under shard_map with the leading model axis split over all of ``mesh``.

    Arguments at positions ``replicated_args`` are copied to every device; all others and the
    outputs carry the model axis first.
    """
    if mesh is None:
        return fn
    split = sharding.all_axes(mesh)
    in_specs = tuple(PartitionSpec() if i in replicated_args else split for i in range(num_args))
    return jax.shard_map(fn, mesh=mesh, in_specs=in_specs, out_specs=split)


def make_epoch_fn(apply_fn, optimizer, config: TrainConfig, mesh: Mesh | None = None):
    """Epoch over stacked models: a jit-compiled per-model step with masked updates, once per batch.

    (variables, opt_state, done (M,), batches (M, steps, B), x_train, y_train, keys (M, steps))
    → (variables, opt_state). The steps are dispatched from Python rather than scanned: XLA:CPU runs
    convolutions inside a while loop (lax.scan) several times slower than at a program's top level.
    """
    per_model = sharding.per_model(_train_step(apply_fn, optimizer, config), in_axes=(0, 0, 0, 0, 0))

    def step(variables, opt_state, done, index, x_train, y_train, step_keys):
        new_vars, new_opt = per_model(variables, opt_state, x_train[index], y_train[index], step_keys)
        return _keep_where_done(done, variables, new_vars), _keep_where_done(done, opt_state, new_opt)

    step = jax.jit(on_model_axis(step, mesh, replicated_args=(4, 5), num_args=7))

    def run_epoch(variables, opt_state, done, batches, x_train, y_train, keys):
        for index, step_keys in zip(batches.swapaxes(0, 1), keys.swapaxes(0, 1)):
            variables, opt_state = step(variables, opt_state, done, index, x_train, y_train, step_keys)
        return variables, opt_state

    return run_epoch


def make_accuracy_fn(apply_fn, eval_batch: int, mesh: Mesh | None = None):
    """Test accuracy of stacked models: (variables, x, y) → (M,), one jit-compiled call per batch.

    The last batch is padded (label −1 never matches), so every call has the same shape.
    """

    def correct(variables, images, labels):
        logits = sharding.per_model(apply_fn, in_axes=(0, None))(variables, images)
        return (jnp.argmax(logits, -1) == labels[None]).sum(axis=1)

    correct = jax.jit(on_model_axis(correct, mesh, replicated_args=(1, 2), num_args=3))

    def accuracy(variables, x, y):
        count = x.shape[0]
        pad = (-count) % eval_batch
        xs = jnp.pad(x, ((0, pad),) + ((0, 0),) * (x.ndim - 1))
        ys = jnp.pad(y, (0, pad), constant_values=-1)
        hits = [correct(variables, xs[i:i + eval_batch], ys[i:i + eval_batch]) for i in range(0, count + pad, eval_batch)]
        return sum(hits) / count

    return accuracy


def _stack_rows(tree, rows: np.ndarray, mesh: Mesh | None):
    """The ``rows`` of every leaf's model axis; with a mesh, padded to a multiple of its size and sharded."""
    tree = jax.tree.map(lambda leaf: leaf[rows], tree)
    if mesh is None:
        return tree
    return sharding.put(sharding.pad_leading(tree, mesh.size), mesh, sharding.all_axes(mesh))


def train_models(apply_fn: Callable, variables: dict, dataset, seeds: Sequence[int], config: TrainConfig, *,
                 on_finished: Callable[[int, dict, float, int], None] | None = None,
                 progress: bool = True, mesh: Mesh | None = None) -> TrainResult:
    """Train M stacked models (variables with leading axis M, one seed each) on ``dataset``.

    ``dataset`` has x_train (N, H, W, C), y_train (N,), x_test, y_test. ``on_finished(i, variables_i,
    accuracy, epochs)`` is called as soon as model i stops (cap reached or last epoch), e.g. to
    checkpoint it; stopped models leave the stack, so later epochs cost only what still trains.
    ``mesh`` (see :func:`specxai_jax.sharding.model_mesh`) splits the models over its devices; the
    stack is padded to a multiple of the device count with copies that never train.
    Returns the stacked trained variables and per-model accuracy/epochs (history: NaN once stopped).
    """
    num_models = len(seeds)
    steps = dataset.x_train.shape[0] // config.batch_size
    if steps == 0:
        raise ValueError(f"training set of {dataset.x_train.shape[0]} images is smaller than one batch ({config.batch_size})")
    optimizer = make_optimizer(config, steps)
    run_epoch = make_epoch_fn(apply_fn, optimizer, config, mesh)
    accuracy_fn = make_accuracy_fn(apply_fn, config.eval_batch, mesh)
    x_train, y_train = jnp.asarray(dataset.x_train), jnp.asarray(dataset.y_train)
    x_test, y_test = jnp.asarray(dataset.x_test), jnp.asarray(dataset.y_test)
    seeds = np.asarray(seeds)

    live = np.arange(num_models)                 # models still training, as rows of the original stack
    stacked = _stack_rows(variables, live, mesh)
    opt_state = jax.jit(jax.vmap(optimizer.init))(stacked["params"])
    trained = [None] * num_models
    epochs = np.zeros(num_models, np.int32)
    accuracy = np.zeros(num_models, np.float64)
    history = []
    start = time.perf_counter()
    bar = tqdm(range(config.max_epochs), desc=f"training {num_models} models", unit="epoch", disable=not progress)
    for epoch in bar:
        stacked_size = jax.tree.leaves(stacked)[0].shape[0]
        padded_seeds = np.concatenate([seeds[live], np.repeat(seeds[live][-1:], stacked_size - live.size)])
        done = jnp.asarray(np.arange(stacked_size) >= live.size)   # padding copies never train
        batches = epoch_permutations(padded_seeds, epoch, x_train.shape[0], config.batch_size)
        keys = epoch_keys(padded_seeds, epoch, steps)
        stacked, opt_state = run_epoch(stacked, opt_state, done, jnp.asarray(batches), x_train, y_train, keys)
        epoch_acc = np.asarray(accuracy_fn(stacked, x_test, y_test), np.float64)[:live.size]
        accuracy[live], epochs[live] = epoch_acc, epoch + 1
        history.append(np.full(num_models, np.nan))
        history[-1][live] = epoch_acc
        reached = np.asarray(epoch_acc >= config.acc_cap) if config.acc_cap is not None else np.zeros(live.size, bool)
        stopping = reached | (epoch + 1 == config.max_epochs)
        for row in np.flatnonzero(stopping):
            model = int(live[row])
            trained[model] = jax.tree.map(lambda leaf, row=row: leaf[row], stacked)
            if on_finished is not None:
                on_finished(model, trained[model], float(accuracy[model]), int(epochs[model]))
        bar.set_postfix(done=f"{num_models - live.size + stopping.sum()}/{num_models}",
                        acc=f"{epoch_acc.min():.2f}-{epoch_acc.max():.2f}")
        if stopping.all():
            break
        if stopping.any():
            keep = np.flatnonzero(~stopping)
            live = live[keep]
            stacked = _stack_rows(stacked, keep, mesh)
            opt_state = _stack_rows(opt_state, keep, mesh)
    bar.close()
    return TrainResult(stack_variables(trained), accuracy, epochs,
                       np.asarray(history), time.perf_counter() - start)
