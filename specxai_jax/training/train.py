"""Train many models of one architecture, every model through one compiled program.

:func:`train_models` runs one of two engines; both give each model its own data order, keys and
accuracy cap, so the models come out as if trained one by one, and neither ever recompiles when models
stop (the programs' shapes never change):

- ``per_device`` (CPU's default): each device trains one model at a time with the single-model Adam
  step, jit-compiled once per device; the devices run concurrently (JAX dispatches asynchronously) and
  a device takes the next waiting model as soon as its model stops; in the last wave models take turns
  (:func:`plan_round`). A model's numbers therefore do not depend on which other models train beside
  it, nor on which device. XLA:CPU runs M models unrolled into one program, or
  vmapped (grouped convolutions), no faster than one after another, and such a program compiles anew
  for every M.
- ``vectorized`` (accelerators' default): all models stacked, one vmapped step with the model axis
  split over a mesh's devices by ``shard_map``, a whole epoch in one compiled program (``lax.scan``
  over its steps) and the evaluation in another; models that stopped are masked, never removed.
  The per-device engine keeps one call per step: XLA:CPU runs the training step inside a scan
  20–30× slower than called step by step (one model, 32 px, depth 3: an epoch of 31 steps took
  40–52 s against 1.5–2.0 s).
"""

from __future__ import annotations

import dataclasses
import functools
import math
import time
from typing import Callable, Protocol, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import Mesh, PartitionSpec
from tqdm.auto import tqdm

from specxai_jax.errors import UsageError
from specxai_jax.ops import fast_forms
from specxai_jax.training import ef_penalty, sharding

ENGINES = ("per_device", "vectorized")


class Engine(Protocol):
    """What :func:`train_models` asks of a training engine: ``slots`` places to train a model in, each
    holding one model's (variables, optimizer state) between epochs.

    :func:`plan_round` decides which model trains in which slot each round; a model that must wait is
    :meth:`unload`-ed (its state handed out) and later :meth:`restore`-d, in the same or another slot, to go
    on where it stopped. :meth:`run_epoch` hands back each slot's mean training loss of the epoch, kept
    on the device while it runs (fetched once per epoch, never per step). Both engines below fill this
    protocol, and the tests train through it.
    """

    @property
    def slots(self) -> int: ...

    def load(self, slot: int, variables: dict) -> None:
        """Start a new model in ``slot`` (fresh optimizer state)."""

    def read(self, slot: int) -> dict:
        """The variables of the model in ``slot``."""

    def unload(self, slot: int) -> tuple:
        """Take the model out of ``slot``: its (variables, optimizer state)."""

    def restore(self, slot: int, state: tuple) -> None:
        """Put an unloaded model's state into ``slot``."""

    def run_epoch(self, plan: dict[int, tuple[int, int]]) -> dict[int, float]:
        """One epoch of every slot in ``plan`` {slot: (seed, epoch of its model)}; returns {slot: the
        epoch's mean training loss}, the mean over its steps of the loss the optimizer minimized."""

    def accuracy(self, slots: Sequence[int]) -> dict[int, float]:
        """Test accuracy of the models in ``slots``."""


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings (paper, Tab. 3 / App. B)."""

    lr: float = 1e-3
    batch_size: int = 64
    lr_decay: float = 0.95          # learning rate × lr_decay after every epoch
    acc_cap: float | None = 0.9     # stop a model once its test accuracy reaches this; None: never
    max_epochs: int = 20
    input_noise: float = 0.0        # std of Gaussian noise added to training inputs (App. B remark)
    eval_batch: int = 128
    ef_penalty: float = 0.0         # λ of λ·EF_raw(saliency) added to the loss (training.ef_penalty); 0: plain cross-entropy


@dataclasses.dataclass(frozen=True)
class EpochRecord:
    """One epoch of one model, as :func:`train_models` reports it to ``on_epoch``."""

    epoch: int                      # 1, 2, … (the epochs this model has trained)
    test_accuracy: float            # after the epoch; NaN where not measured (no cap and not the model's last epoch)
    learning_rate: float            # Adam's rate during the epoch (lr × lr_decay^(epoch − 1))
    seconds: float                  # the model's share of its epoch round's wall time (the round split evenly
                                    # over the models that trained in it)
    train_loss: float               # mean over the epoch's steps of the minimized loss (cross-entropy, plus
                                    # λ·EF_raw when ef_penalty > 0), each step's loss before its update


@dataclasses.dataclass
class TrainResult:
    """Stacked trained variables (leading axis M) and per-model outcomes."""

    variables: dict
    test_accuracy: np.ndarray       # (M,) at the epoch each model stopped
    epochs: np.ndarray              # (M,) epochs each model trained
    history: np.ndarray             # (max epochs trained, M) test accuracy after every epoch (without a cap, only
                                    # the last is measured); NaN where not measured and after a stop
    seconds: float
    train_seconds: np.ndarray       # (M,) each model's own training time: the sum of its EpochRecord.seconds


def default_engine() -> str:
    """``per_device`` on CPU, ``vectorized`` on accelerators (:mod:`specxai_jax.ops.fast_forms` "per_device_training")."""
    return "per_device" if fast_forms.enabled("per_device_training") else "vectorized"


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


def step_key(seed, epoch, step, steps: int) -> jax.Array:
    """The input-noise key of one step: a function of (seed, epoch, step) only."""
    return jax.random.split(jax.random.fold_in(jax.random.key(seed), epoch), steps)[step]


def make_train_step(apply_fn: Callable, optimizer, config: TrainConfig, steps: int) -> Callable:
    """One model's Adam step: (variables, opt_state, x (B,H,W,C), y (B,), seed, epoch, step) → (variables,
    opt_state, loss ()): the loss the step minimized, at the variables it started from."""

    def train_step(variables, opt_state, x, y, seed, epoch, step):
        if config.input_noise > 0:
            x = x + config.input_noise * jax.random.normal(step_key(seed, epoch, step, steps), x.shape, x.dtype)
        loss = functools.partial(cross_entropy_loss, apply_fn, variables)
        if config.ef_penalty:  # EF-regularized training; λ = 0 leaves the step's program as it was
            loss = ef_penalty.penalized(loss, apply_fn, variables, config.ef_penalty)
        (value, updates), grads = jax.value_and_grad(lambda p: loss(p, x, y), has_aux=True)(variables["params"])
        param_updates, opt_state = optimizer.update(grads, opt_state, variables["params"])
        new = {**variables, **updates, "params": optax.apply_updates(variables["params"], param_updates)}
        return new, opt_state, value

    return train_step


def epoch_permutations(seeds: Sequence[int], epoch: int, num_examples: int, batch_size: int) -> np.ndarray:
    """Per-model shuffled batch indices (M, steps, B), a function of (seed, epoch) only."""
    steps = num_examples // batch_size
    orders = [np.random.default_rng([seed, epoch]).permutation(num_examples) for seed in seeds]
    return np.stack([order[: steps * batch_size].reshape(steps, batch_size) for order in orders])


def padded_eval_batches(x: np.ndarray, y: np.ndarray, size: int):
    """Yield (images, labels) batches of exactly ``size`` rows; the last is padded with label −1 (never a hit)."""
    for start in range(0, x.shape[0], size):
        xb, yb = x[start:start + size], y[start:start + size]
        pad = size - xb.shape[0]
        if pad:
            xb = np.concatenate([xb, np.zeros((pad, *xb.shape[1:]), xb.dtype)])
            yb = np.concatenate([yb, np.full(pad, -1, yb.dtype)])
        yield xb, yb


def _hits(apply_fn: Callable) -> Callable:
    """(variables, images (B,H,W,C), labels (B,)) → number of correct predictions.

    Forward only, so max pooling takes its plain form: the CPU fast form pays off in gradients, and
    without one XLA:CPU runs it about 2× slower than ``lax.reduce_window``.
    """

    def hits(variables, x, y):
        with fast_forms.forced(False, "argmax_pooling"):
            logits = apply_fn(variables, x)
        return (jnp.argmax(logits, -1) == y).sum()

    return hits


class PerDeviceEngine:
    """One model per device; the single-model step compiled once per device (see the module docstring)."""

    def __init__(self, apply_fn, optimizer, config: TrainConfig, dataset, devices: Sequence, steps: int):
        self.devices = list(devices)
        self.config = config
        self.step = fast_forms.jit(make_train_step(apply_fn, optimizer, config, steps))
        self.hits = fast_forms.jit(_hits(apply_fn))
        self.init_opt = fast_forms.jit(optimizer.init)
        self.x_train, self.y_train = np.asarray(dataset.x_train), np.asarray(dataset.y_train)
        self.x_test, self.y_test = np.asarray(dataset.x_test), np.asarray(dataset.y_test)
        self.state: dict[int, tuple] = {}

    @property
    def slots(self) -> int:
        return len(self.devices)

    def load(self, slot: int, variables: dict) -> None:
        # Both committed to the device, as the step's outputs are: one compiled step serves every call.
        variables = jax.device_put(variables, self.devices[slot])
        self.state[slot] = (variables, jax.device_put(self.init_opt(variables["params"]), self.devices[slot]))

    def read(self, slot: int) -> dict:
        return self.state[slot][0]

    def unload(self, slot: int) -> tuple:
        """Take the slot's model out: its (variables, optimizer state), left where they are."""
        return self.state.pop(slot)

    def restore(self, slot: int, state: tuple) -> None:
        """Put an unloaded model back, on this slot's device, to go on training where it stopped."""
        self.state[slot] = jax.device_put(state, self.devices[slot])

    def run_epoch(self, plan: dict[int, tuple[int, int]]) -> dict[int, float]:
        """One epoch for every slot in ``plan`` {slot: (seed, epoch of its model)}, slots stepping in turn;
        {slot: mean training loss}, the step losses summed on the slot's device and fetched once."""
        orders = {slot: epoch_permutations([seed], epoch, len(self.x_train), self.config.batch_size)[0]
                  for slot, (seed, epoch) in plan.items()}
        steps = next(iter(orders.values())).shape[0]
        totals: dict[int, jax.Array] = {}
        for step in range(steps):
            for slot, (seed, epoch) in plan.items():
                index = orders[slot][step]
                variables, opt_state, loss = self.step(*self.state[slot], self.x_train[index], self.y_train[index],
                                                       seed, epoch, step)
                self.state[slot] = (variables, opt_state)
                totals[slot] = loss if step == 0 else totals[slot] + loss
        return {slot: float(total) / steps for slot, total in jax.device_get(totals).items()}

    def accuracy(self, slots: Sequence[int]) -> dict[int, float]:
        """Test accuracy of the slots' models, all on the first device: the forward pass alone already
        fills the cores, and the evaluation compiles once, not once per device."""
        variables = {slot: jax.device_put(self.state[slot][0], self.devices[0]) for slot in slots}
        hits: dict[int, list] = {slot: [] for slot in slots}
        for xb, yb in padded_eval_batches(self.x_test, self.y_test, min(self.config.eval_batch, len(self.x_test))):
            for slot in slots:
                hits[slot].append(self.hits(variables[slot], xb, yb))
        return {slot: int(np.sum(jax.device_get(counts))) / len(self.x_test) for slot, counts in hits.items()}


UINT8_LEVELS = np.arange(256, dtype=np.float32) / np.float32(255.0)
"""The float32 value of every uint8 code as data loading makes it (:func:`specxai_jax.data.validate`)."""


def stored_images(x: np.ndarray, chunk: int = 1024) -> np.ndarray:
    """Images (N, H, W, C) as kept on a device: uint8 codes when every float32 pixel is exactly one of
    :data:`UINT8_LEVELS` (a uint8 source, not resized), 4× less memory; else ``x`` unchanged."""
    x = np.asarray(x)
    if x.dtype != np.float32 or x.size == 0:
        return x
    codes = np.empty(x.shape, np.uint8)
    for start in range(0, len(x), chunk):
        block = x[start:start + chunk]
        codes[start:start + chunk] = np.rint(np.clip(block, 0, 1) * 255)
        if not np.array_equal(UINT8_LEVELS[codes[start:start + chunk]], block):
            return x
    return codes


def decoded(images: jax.Array) -> jax.Array:
    """Inside a program: stored images → float32 (uint8 codes through :data:`UINT8_LEVELS`, bit-exact)."""
    return jnp.asarray(UINT8_LEVELS)[images] if images.dtype == jnp.uint8 else images


def padded_eval_set(x: np.ndarray, y: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """The test set as (batches, size, H, W, C) and (batches, size), padded with label −1 (never a hit)."""
    batches = list(padded_eval_batches(x, y, size))
    return np.stack([xb for xb, _ in batches]), np.stack([yb for _, yb in batches])


def model_bytes(variables: dict, apply_fn: Callable, batch_shape: tuple[int, ...]) -> int:
    """Rough device memory of one model while it trains: float32 parameters ×4 (with gradients and
    Adam's two moments) plus every layer's activations for one batch ×3 (kept for the backward pass,
    their cotangents and scratch); ``variables`` one model's, ``batch_shape`` (B, H, W, C)."""
    one = jax.tree.map(lambda leaf: jax.ShapeDtypeStruct(leaf.shape[1:], leaf.dtype), variables)
    weights = sum(math.prod(leaf.shape) * leaf.dtype.itemsize for leaf in jax.tree.leaves(one))
    x = jax.ShapeDtypeStruct(batch_shape, jnp.float32)
    _, state = jax.eval_shape(lambda v, xb: apply_fn(v, xb, capture_intermediates=True, mutable=["intermediates"]),
                              one, x)
    activations = sum(math.prod(leaf.shape) * 4 for leaf in jax.tree.leaves(state))
    return 4 * weights + 3 * (activations + math.prod(batch_shape) * 4)


def free_device_bytes(device) -> int | None:
    """Bytes a device can still allocate, from its allocator's statistics; None where it keeps none (CPU)."""
    stats = device.memory_stats() if hasattr(device, "memory_stats") else None
    if not stats or "bytes_limit" not in stats:
        return None
    return int(stats["bytes_limit"]) - int(stats.get("bytes_in_use", 0))


def check_fits(models_per_device: int, per_model: int, data_bytes: int, free: int) -> None:
    """UsageError (one line, with the most models per device that fit) unless the models and the
    device-resident data fit the ``free`` bytes of one device."""
    need = models_per_device * per_model + data_bytes
    if need <= free:
        return
    fitting = (free - data_bytes) // per_model
    hint = (f"at most {fitting} models fit per device: run fewer --betas/--seeds at a time (finished models stay "
            "in the store)" if fitting >= 1 else "use smaller images (--img-size), fewer images (--max-train) or "
                                                  "a smaller --batch-size")
    raise UsageError(f"training needs about {need / 2**30:.1f} GiB per device ({models_per_device} models of "
                     f"{per_model / 2**30:.2f} GiB and {data_bytes / 2**30:.2f} GiB of images) but "
                     f"{free / 2**30:.1f} GiB is free; {hint}")


REPLICA_LIMIT = 2**30
"""Training images of more bytes than this are split by rows over a mesh's devices, not copied to each."""


class VectorizedEngine:
    """Every model in one stack (model axis split over ``mesh`` if given); one compiled program per
    epoch (``lax.scan`` over its steps, the epoch's batch indices sent once) and one for evaluation,
    the images resident on the device(s), as uint8 codes where they are exactly such (:func:`stored_images`),
    each device holding a share of the rows above :data:`REPLICA_LIMIT` bytes. Models that stopped are masked, never removed."""

    def __init__(self, apply_fn, optimizer, config: TrainConfig, dataset, mesh: Mesh | None, steps: int,
                 variables: dict):
        self.config, self.mesh, self.steps = config, mesh, steps
        count = jax.tree.leaves(variables)[0].shape[0]
        multiple = 1 if mesh is None else mesh.size
        self._slots = count + (-count) % multiple
        one_step = jax.vmap(make_train_step(apply_fn, optimizer, config, steps))
        keep = lambda active, old, upd: jnp.where(active.reshape(active.shape + (1,) * (old.ndim - 1)), upd, old)  # noqa: E731

        x_train, y_train = stored_images(dataset.x_train), np.asarray(dataset.y_train)
        self.shard_images = mesh is not None and mesh.size > 1 and x_train.nbytes > REPLICA_LIMIT
        axes = None if mesh is None else tuple(mesh.axis_names)

        def batch_images(x_train, orders, number):
            """The step's images (m, B, H, W, C) of this device's m models. With the training images
            split by rows over the devices (``orders`` then holds every model's indices), each device
            gathers the rows it holds for every model and a reduce-scatter hands each its models' rows."""
            index = orders[:, number]
            if not self.shard_images:
                return x_train[index]
            rows = x_train.shape[0]
            local = index - jax.lax.axis_index(axes) * rows
            inside = (local >= 0) & (local < rows)
            held = x_train[jnp.clip(local, 0, rows - 1)]
            held = jnp.where(inside.reshape(inside.shape + (1,) * (held.ndim - 2)), held, jnp.zeros_like(held))
            return jax.lax.psum_scatter(held, axes, scatter_dimension=0, tiled=True)

        def epoch(variables, opt_state, active, orders, x_train, y_train, seeds, epochs):
            """``orders`` (m, steps, B): every step of the epoch for the m models, in one scan."""
            models = active.shape[0]
            own = orders if not self.shard_images else jax.lax.dynamic_slice_in_dim(
                orders, jax.lax.axis_index(axes) * models, models)

            def step(carry, number):
                state, total = carry
                x = decoded(batch_images(x_train, orders, number))
                variables, opt_state, loss = one_step(*state, x, y_train[own[:, number]], seeds, epochs,
                                                      jnp.full(models, number, jnp.int32))
                kept = jax.tree.map(lambda old, upd: keep(active, old, upd), state, (variables, opt_state))
                return (kept, total + loss), None

            start = jnp.zeros_like(active, jnp.float32)   # (m,) loss sums, varying over the devices as the losses
            (variables, opt_state), totals = jax.lax.scan(step, ((variables, opt_state), start),
                                                          jnp.arange(orders.shape[1], dtype=jnp.int32))[0]
            return variables, opt_state, totals

        single_hits = jax.vmap(_hits(apply_fn), in_axes=(0, None, None))

        def hits(variables, x_batches, y_batches):
            """Correct predictions (m,) of the m models over every padded test batch, in one scan."""
            def add(total, batch):
                return total + single_hits(variables, decoded(batch[0]), batch[1]), None

            leaf = jax.tree.leaves(variables)[0]
            start = jnp.zeros_like(leaf.reshape(leaf.shape[0], -1)[:, 0], jnp.int32)   # varying over the devices, as the sums
            return jax.lax.scan(add, start, (x_batches, y_batches))[0]

        replicated = (3, 5) if self.shard_images else (4, 5)
        self.epoch = fast_forms.jit(self._on_models(epoch, replicated=replicated, count=8), donate_argnums=(0, 1))
        self.hits = fast_forms.jit(self._on_models(hits, replicated=(1, 2), count=3))
        x_test, y_test = padded_eval_set(stored_images(dataset.x_test), np.asarray(dataset.y_test),
                                         min(config.eval_batch, len(dataset.x_test)))
        free = free_device_bytes(jax.local_devices()[0] if mesh is None else mesh.devices.flat[0])
        if free is not None:
            check_fits(self._slots // multiple, model_bytes(variables, apply_fn, (config.batch_size, *dataset.image_shape)),
                       x_train.nbytes // (multiple if self.shard_images else 1)
                       + sum(a.nbytes for a in (y_train, x_test, y_test)), free)
        if self.shard_images:   # rows split over the devices (padding rows are never indexed)
            self.x_train = self._split(np.concatenate([x_train, np.zeros(((-len(x_train)) % multiple, *x_train.shape[1:]),
                                                                          x_train.dtype)]))
        else:
            self.x_train = self._replicate(x_train)
        self.y_train = self._replicate(y_train)
        self.x_test, self.y_test = self._replicate(x_test), self._replicate(y_test)
        self.num_train, self.num_test = len(dataset.x_train), len(dataset.x_test)
        self.variables = self._split(sharding.pad_leading(variables, self._slots))
        self.opt_state = fast_forms.jit(jax.vmap(optimizer.init))(self.variables["params"])

    def _on_models(self, fn: Callable, replicated: tuple[int, ...], count: int) -> Callable:
        """``fn`` with the leading model axis of every non-``replicated`` argument split over the mesh."""
        if self.mesh is None:
            return fn
        split = sharding.all_axes(self.mesh)
        specs = tuple(PartitionSpec() if i in replicated else split for i in range(count))
        return jax.shard_map(fn, mesh=self.mesh, in_specs=specs, out_specs=split)

    def _split(self, tree):
        """Host or device arrays → on the device(s), model axis split over the mesh."""
        return jax.device_put(tree) if self.mesh is None else sharding.put(tree, self.mesh, sharding.all_axes(self.mesh))

    def _replicate(self, array):
        return jax.device_put(array) if self.mesh is None else sharding.put(array, self.mesh, PartitionSpec())

    @property
    def slots(self) -> int:
        return self._slots

    def load(self, slot: int, variables: dict) -> None:
        """Nothing to move: the models were stacked at construction, model i in slot i (there are as many
        slots as models, so :func:`plan_round` starts model i in slot i and never unloads one; tested)."""

    def read(self, slot: int) -> dict:
        return jax.device_put(jax.tree.map(lambda leaf: np.asarray(leaf)[slot], self.variables))

    def unload(self, slot: int) -> tuple:
        """The slot's (variables, optimizer state), copied to the host; the slot stays masked until restored."""
        return jax.tree.map(lambda leaf: np.asarray(leaf)[slot], (self.variables, self.opt_state))

    def restore(self, slot: int, state: tuple) -> None:
        """Write an unloaded model's state into ``slot`` of the stack (a host round trip: rare by design)."""

        def put(stack, one):
            stack = np.array(stack)
            stack[slot] = one
            return stack

        self.variables, self.opt_state = self._split(jax.tree.map(put, (self.variables, self.opt_state), state))

    def run_epoch(self, plan: dict[int, tuple[int, int]]) -> dict[int, float]:
        """One epoch of the slots in ``plan`` {slot: (seed, epoch of its model)}: one call, its
        (slots, steps, B) batch indices sent with it; {slot: mean training loss} (sums kept in the scan)."""
        seeds, epochs = np.zeros(self._slots, np.int32), np.zeros(self._slots, np.int32)
        for slot, (seed, epoch) in plan.items():
            seeds[slot], epochs[slot] = seed, epoch
        orders = np.stack([epoch_permutations([seed], epoch, self.num_train, self.config.batch_size)[0]
                           for seed, epoch in zip(seeds, epochs)]).astype(np.int32)
        active = np.isin(np.arange(self._slots), list(plan))
        orders = self._replicate(orders) if self.shard_images else self._split(orders)
        self.variables, self.opt_state, totals = self.epoch(self.variables, self.opt_state, self._split(active), orders,
                                                            self.x_train, self.y_train, *self._split((seeds, epochs)))
        totals = np.asarray(jax.device_get(totals))
        return {slot: float(totals[slot]) / self.steps for slot in plan}

    def accuracy(self, slots: Sequence[int]) -> dict[int, float]:
        hits = np.asarray(jax.device_get(self.hits(self.variables, self.x_test, self.y_test)))
        return {slot: int(hits[slot]) / self.num_test for slot in slots}


def plan_round(in_slot: dict[int, int], idle: Sequence[int], epochs_left: Sequence[int] | np.ndarray,
               slots: int) -> dict[int, int]:
    """Slot → model for the next epoch round, from the current ``in_slot`` and the ``idle`` models
    (unloaded or not yet started, in the order to start them); ``epochs_left[m]``: at most this many to go.

    While at least 2·slots models are unfinished, a model keeps its slot until it stops and free slots
    take idle models in order: few models are half-trained at any time, so an interrupted sweep loses
    little. In the last wave the models with the most epochs left train first (ties: those already in a
    slot, then the lower index), so its last rounds do not leave slots idle: 3 models × 3 epochs on 2
    slots take 5 rounds, not 6. Models new to a slot take the free slots in ascending order.
    """
    if len(in_slot) + len(idle) >= 2 * slots:
        newcomers = list(idle[:slots - len(in_slot)])
    else:
        running = set(in_slot.values())
        chosen = set(sorted([*running, *idle], key=lambda m: (-epochs_left[m], m not in running, m))[:slots])
        in_slot = {slot: model for slot, model in in_slot.items() if model in chosen}
        newcomers = sorted(chosen - running)
    free = [slot for slot in range(slots) if slot not in in_slot]
    return {**in_slot, **dict(zip(free, newcomers))}


def train_models(apply_fn: Callable, variables: dict, dataset, seeds: Sequence[int], config: TrainConfig, *,
                 on_finished: Callable[[int, dict, float, int], None] | None = None,
                 on_epoch: Callable[[int, EpochRecord], None] | None = None,
                 progress: bool = True, mesh: Mesh | None = None, engine: str | None = None) -> TrainResult:
    """Train M models (variables with leading axis M, one seed each) on ``dataset``.

    ``dataset`` has x_train (N, H, W, C), y_train (N,), x_test, y_test. ``on_finished(i, variables_i,
    accuracy, epochs)`` is called as soon as model i stops (cap reached or last epoch), e.g. to
    checkpoint it; ``on_epoch(i, record)`` after each of model i's epochs (before ``on_finished``).
    ``mesh`` (see :func:`specxai_jax.training.sharding.model_mesh`): the devices the models are spread over. ``engine``: ``per_device`` or ``vectorized`` (see the module docstring; default by backend).
    """
    engine = engine or default_engine()
    if engine not in ENGINES:
        raise ValueError(f"unknown training engine {engine!r}; choose from {', '.join(ENGINES)}")
    num_models = len(seeds)
    steps = dataset.x_train.shape[0] // config.batch_size
    if steps == 0:
        raise ValueError(f"training set of {dataset.x_train.shape[0]} images is smaller than one batch ({config.batch_size})")
    optimizer = make_optimizer(config, steps)
    runner: Engine
    if engine == "per_device":
        devices = [jax.local_devices()[0]] if mesh is None else list(mesh.devices.ravel())
        runner = PerDeviceEngine(apply_fn, optimizer, config, dataset, devices[:num_models], steps)
    else:
        runner = VectorizedEngine(apply_fn, optimizer, config, dataset, mesh, steps, jax.tree.map(np.asarray, variables))

    host = jax.tree.map(np.asarray, variables)   # models are sliced on the host: no compilation per shape
    waiting = list(range(num_models))
    in_slot: dict[int, int] = {}                 # slot → model it trains
    unloaded: dict[int, tuple] = {}              # model → its state, while it waits for its next turn
    trained: list[dict | None] = [None] * num_models
    epochs = np.zeros(num_models, np.int32)
    accuracy = np.zeros(num_models, np.float64)
    history: list[list[float]] = [[] for _ in range(num_models)]
    train_seconds = np.zeros(num_models)
    start = time.perf_counter()
    bar = tqdm(total=num_models * config.max_epochs, desc=f"training {num_models} models", unit="epoch",
               disable=not progress)
    while waiting or in_slot or unloaded:
        planned = plan_round(in_slot, [*unloaded, *waiting], config.max_epochs - epochs, runner.slots)
        for slot, model in list(in_slot.items()):
            if planned.get(slot) != model:
                unloaded[model] = runner.unload(slot)
        for slot, model in planned.items():
            if model in unloaded:
                runner.restore(slot, unloaded.pop(model))
            elif model in waiting:
                waiting.remove(model)
                runner.load(slot, jax.tree.map(lambda leaf, m=model: leaf[m], host))
        in_slot = planned
        round_start = time.perf_counter()
        losses = runner.run_epoch({slot: (int(seeds[model]), int(epochs[model])) for slot, model in in_slot.items()})
        epochs[list(in_slot.values())] += 1
        due = [slot for slot, model in in_slot.items()   # without a cap, only a model's last epoch needs it
               if config.acc_cap is not None or epochs[model] == config.max_epochs]
        measured = runner.accuracy(due) if due else {}
        share = (time.perf_counter() - round_start) / len(in_slot)
        for slot, model in list(in_slot.items()):
            acc = measured.get(slot, math.nan)
            accuracy[model] = acc
            history[model].append(acc)
            train_seconds[model] += share
            if on_epoch is not None:
                on_epoch(model, EpochRecord(int(epochs[model]), float(acc),
                                            config.lr * config.lr_decay ** (int(epochs[model]) - 1), share,
                                            losses[slot]))
            reached = config.acc_cap is not None and acc >= config.acc_cap
            if reached or epochs[model] == config.max_epochs:
                finished = trained[model] = runner.read(slot)
                del in_slot[slot]
                bar.total -= config.max_epochs - int(epochs[model])
                if on_finished is not None:
                    on_finished(model, finished, float(acc), int(epochs[model]))
        bar.update(int(epochs.sum()) - bar.n)
        bar.set_postfix(done=f"{sum(t is not None for t in trained)}/{num_models}")
    bar.close()
    longest = max(len(h) for h in history)
    table = np.full((longest, num_models), np.nan)
    for model, accs in enumerate(history):
        table[:len(accs), model] = accs
    stacked = jax.device_put(jax.tree.map(lambda *leaves: np.stack([np.asarray(leaf) for leaf in leaves]), *trained))
    return TrainResult(stacked, accuracy, epochs, table, time.perf_counter() - start, train_seconds)
