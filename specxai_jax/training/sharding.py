"""Spread stacked models (and image batches) over devices with a ``jax.sharding.Mesh``.

A mesh has two axes: ``"models"`` splits the leading model axis M of stacked variables, ``"batch"``
splits a batch of images. Training shards models over every device of the mesh (models are
independent, so no communication); the saliency→EF pipeline shards models over ``"models"`` and
images over ``"batch"`` and sums its statistics across ``"batch"``.

Multi-host: call ``jax.distributed.initialize()`` (arguments from the cluster environment, or
``coordinator_address=..., num_processes=..., process_id=...``) in every process before anything
else touches JAX; ``jax.devices()`` then lists the devices of all hosts and
``model_mesh(jax.devices())`` spans them. Every process runs the same program on the same host
arrays (each host holds the full, small data set), so no data has to be exchanged by hand.
"""

from __future__ import annotations

from typing import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from specxai_jax.ops import fast_forms

MODELS, BATCH = "models", "batch"


def model_mesh(devices=None, *, batch_shards: int = 1) -> Mesh:
    """Mesh of shape (len(devices) // batch_shards, batch_shards) with axes ("models", "batch").

    ``devices`` defaults to all local devices; an int n takes the first n of them.
    """
    if devices is None:
        devices = jax.local_devices()
    elif isinstance(devices, int):
        available = jax.local_devices()
        if not 1 <= devices <= len(available):
            raise ValueError(f"asked for {devices} devices; {len(available)} available")
        devices = available[:devices]
    devices = np.asarray(devices, dtype=object).ravel()
    if batch_shards < 1 or len(devices) % batch_shards:
        raise ValueError(f"batch_shards={batch_shards} must divide the {len(devices)} devices")
    return Mesh(devices.reshape(-1, batch_shards), (MODELS, BATCH))


def all_axes(mesh: Mesh) -> PartitionSpec:
    """Spec that splits the leading axis over every device of ``mesh``."""
    return PartitionSpec(tuple(mesh.axis_names))


def pad_leading(tree, multiple: int):
    """Pad the leading axis of every leaf to a multiple of ``multiple`` by repeating its last entry."""

    def pad(leaf):
        extra = (-leaf.shape[0]) % multiple
        if extra == 0:
            return leaf
        return jnp.concatenate([leaf, jnp.repeat(leaf[-1:], extra, axis=0)])

    return jax.tree.map(pad, tree)


def put(tree, mesh: Mesh, spec: PartitionSpec):
    """device_put every leaf with ``NamedSharding(mesh, spec)``."""
    return jax.device_put(tree, NamedSharding(mesh, spec))


def per_model(fn: Callable, in_axes: Sequence[int | None]) -> Callable:
    """Like ``jax.vmap(fn, in_axes)`` over the model axis (0 or None per argument), outputs stacked.

    Plain form ``jax.vmap``; CPU fast form the models unrolled into separate calls inside one program
    (:mod:`specxai_jax.ops.fast_forms` "unrolled_models", chosen when called), because XLA:CPU runs the
    grouped convolutions that vmap makes of per-model weights about 2× slower than M plain ones
    (benchmarks/RESULTS.md).
    """
    vectorized = jax.vmap(fn, in_axes=in_axes)

    def unrolled(*args):
        count = next(jax.tree.leaves(arg)[0].shape[0] for arg, axis in zip(args, in_axes) if axis == 0)
        outputs = [fn(*(jax.tree.map(lambda leaf, i=i: leaf[i], arg) if axis == 0 else arg
                        for arg, axis in zip(args, in_axes)))
                   for i in range(count)]
        return jax.tree.map(lambda *leaves: jnp.stack(leaves), *outputs)

    def over_models(*args):
        return (unrolled if fast_forms.enabled("unrolled_models") else vectorized)(*args)

    return over_models


def leading_block(array: jax.Array, shape: Sequence[int]) -> list[tuple[tuple[slice, ...], tuple[slice, ...], jax.Array]]:
    """Where ``array[:shape[0], :shape[1], …]`` (trailing axes whole) lies in its addressable shards:
    (place in the block, place in the shard, the shard's array) triples, for :func:`assemble`.

    Slicing a sharded array directly compiles one program over all its devices, with an all-gather;
    XLA:CPU runs a device's part of it on a shared thread pool, so a device that waits there for the
    others while the pool is busy can stall the process. The shards are read whole, on the host.
    """
    pieces = []
    for shard in array.addressable_shards:
        if shard.replica_id:
            continue
        ranges = []
        for index, size, limit in zip(shard.index, array.shape, [*shape, *array.shape[len(shape):]]):
            start, stop, _ = index.indices(size)
            ranges.append(range(start, min(stop, limit)))
        if all(ranges):
            pieces.append((tuple(slice(r.start, r.stop) for r in ranges),
                           tuple(slice(0, len(r)) for r in ranges), shard.data))
    return pieces


def assemble(shape: Sequence[int], dtype, pieces: list[tuple[tuple[slice, ...], tuple[slice, ...], jax.Array]]) -> np.ndarray:
    """The host array of ``shape`` that :func:`leading_block`'s pieces make up."""
    block = np.empty(tuple(shape), dtype)
    for place, local, data in pieces:
        block[place] = np.asarray(data)[local]
    return block
