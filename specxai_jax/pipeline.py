"""Saliency → rank normalization → FFT → radial spectrum → EF, fused on the device for many models.

Models are stacked along a leading axis M; images stream through in fixed-size batches, and only
running sums, one EF value per image and a few example maps come back to the host, so memory is
bounded by the batch.
The noise of image i is drawn from ``fold_in(key, i)``, so the numbers do not depend on the batch
size or on how models and images are split over devices (``mesh``, see :mod:`specxai_jax.training.sharding`).
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, PartitionSpec

from specxai_jax import spectral
from specxai_jax.attribution.core import image_noise, noisy_gradient, predicted_class, select_score
from specxai_jax.ops import fast_forms
from specxai_jax.training import sharding


@dataclasses.dataclass
class SpectralSummary:
    """Per-model EF statistics over n images, EF on the [0, 1] scale ("unit" convention)."""

    ef_mean: np.ndarray          # (M,)
    ef_std: np.ndarray           # (M,) standard deviation over images
    mean_spectrum: np.ndarray    # (M, K) mean normalized radial spectrum
    n_images: int
    dead_maps: np.ndarray        # (M,) count of all-zero saliency maps (EF defined as 0 there)
    examples: np.ndarray         # (M, E, H, W) the first E channel-summed saliency maps
    ef_raw_mean: np.ndarray      # (M,) mean EF of the maps without rank normalization (0 for an all-zero map)

    @property
    def ef_authors(self) -> np.ndarray:
        """EF / K: the authors' code convention (mean_k ω_k p_k)."""
        return self.ef_mean / self.mean_spectrum.shape[-1]


def predicted_log_prob_gradient(apply_fn: Callable, variables: dict, x: jax.Array) -> jax.Array:
    """∇ₓ log softmax(logits)[argmax logits] from one forward pass: (B, H, W, C) → same shape.

    The argmax is piecewise constant, so taking it inside the differentiated function (under
    stop_gradient) gives VanillaGrad without a separate forward pass for the target.
    """

    def score(inputs):
        logits = apply_fn(variables, inputs)
        return select_score(logits, jnp.argmax(jax.lax.stop_gradient(logits), axis=-1)).sum()

    return jax.grad(score)(x)


def saliency_maps(apply_fn: Callable, variables: dict, x: jax.Array, noise: jax.Array | None = None) -> jax.Array:
    """Channel-summed VanillaGrad of one model: (B, H, W, C) → (B, H, W).

    ``noise`` (S, B, H, W, C): average the gradient over the S perturbed copies x + noise[s], the
    target class being the prediction on the clean x (the authors' protocol).
    """
    if noise is None:
        return predicted_log_prob_gradient(apply_fn, variables, x).sum(axis=-1)
    target = predicted_class(apply_fn, variables, x)
    return noisy_gradient(apply_fn, variables, x, target, noise).sum(axis=-1)


def make_batch_statistics(apply_fn: Callable, *, noise_std: float = 0.0, samples: int = 1,
                          mesh: Mesh | None = None):
    """jit: (stacked variables, images (B,H,W,C), index (B,), key) → per-model results of the batch.

    ``index`` holds each image's position in the whole image set, or −1 for padding rows (left out
    of the sums). Returns (EF (M, B), raw EF (M, B) (no rank normalization), Σ p (S, M, K), dead count (S, M),
    maps (M, B, H, W)), the sums
    per batch shard (S = 1 without ``mesh``) for the caller to add: the devices never wait on each
    other. With ``mesh`` the models are split over its "models" axis, the batch over its "batch" axis.
    """

    def one_model(variables, x, index, key):
        noise = None if noise_std == 0.0 else image_noise(key, index, x.shape[1:], noise_std, samples)
        maps = saliency_maps(apply_fn, variables, x, noise)
        probs = spectral.normalized_spectrum(spectral.radial_power_spectrum(spectral.rank_normalize(maps)))
        ef = spectral.expected_frequency_from_spectrum(probs)
        raw_probs = spectral.normalized_spectrum(spectral.radial_power_spectrum(maps))
        ef_raw = spectral.expected_frequency_from_spectrum(raw_probs)
        weight = (index >= 0).astype(ef.dtype)
        dead = jnp.all(maps == 0, axis=(-2, -1)).astype(ef.dtype)
        return ef, ef_raw, weight @ probs, weight @ dead, maps

    statistics = sharding.per_model(one_model, in_axes=(0, None, None, None))

    def per_shard(variables, x, index, key):
        ef, ef_raw, *sums, maps = statistics(variables, x, index, key)
        return (ef, ef_raw, *(total[None] for total in sums), maps)

    if mesh is None:
        return fast_forms.jit(per_shard)

    def on_shard(variables, x, index, key):
        # x is the same for every model shard; marking it as varying keeps each shard's input
        # gradient its own (the gradient of a shared input would be summed over the shards).
        return per_shard(variables, jax.lax.pcast(x, sharding.MODELS, to="varying"), index, key)

    models, batch = PartitionSpec(sharding.MODELS), PartitionSpec(sharding.BATCH)
    per_image, sums = PartitionSpec(sharding.MODELS, sharding.BATCH), PartitionSpec(sharding.BATCH, sharding.MODELS)
    return fast_forms.jit(jax.shard_map(on_shard, mesh=mesh, in_specs=(models, batch, batch, PartitionSpec()),
                                        out_specs=(per_image, per_image, sums, sums, per_image)))


def summarize_saliency(apply_fn: Callable, variables: dict, images: np.ndarray, *, batch_size: int = 256,
                       noise_std: float = 0.0, samples: int = 1, seed: int = 0, n_examples: int = 8,
                       progress: Callable | None = None, mesh: Mesh | None = None,
                       one_model_at_a_time: bool | None = None) -> SpectralSummary:
    """EF statistics of M stacked models over ``images`` (N, H, W, C), streamed in batches.

    Every batch is padded to the same size; ``progress(n)`` is called with the number of maps
    dispatched since its last call. ``mesh`` (see :func:`specxai_jax.training.sharding.model_mesh`) splits
    models and images over devices. ``one_model_at_a_time`` (default: the CPU fast form
    "one_model_at_a_time" of :mod:`specxai_jax.ops.fast_forms`, as M models in one program run on CPU no
    faster than one after another) runs a single-model program, compiled once whatever
    M is, for each model in turn, with the images split over every device of ``mesh``. Batches are
    dispatched without waiting for results; they come back to the host at the end.
    """
    if one_model_at_a_time is None:
        one_model_at_a_time = fast_forms.enabled("one_model_at_a_time")
    num_models = jax.tree.leaves(variables)[0].shape[0]
    if one_model_at_a_time:
        groups = [slice(m, m + 1) for m in range(num_models)]
        mesh = None if mesh is None else sharding.model_mesh(list(mesh.devices.ravel()), batch_shards=mesh.size)
    else:
        groups = [slice(0, num_models)]
    count = images.shape[0]
    model_shards, batch_shards = (1, 1) if mesh is None else mesh.devices.shape
    batch_size = min(batch_size, count)
    batch_size += (-batch_size) % batch_shards
    statistics = make_batch_statistics(apply_fn, noise_std=noise_std, samples=samples, mesh=mesh)
    key = jax.random.key(seed)
    host = jax.tree.map(np.asarray, variables)
    dispatched = []      # per group: (per batch: EF (m, B) and the real count, summed statistics, examples)
    for group in groups:
        members = group.stop - group.start
        stacked = jax.tree.map(lambda leaf: leaf[group], host)
        stacked = (jax.device_put(stacked) if mesh is None else
                   sharding.put(sharding.pad_leading(stacked, model_shards), mesh, PartitionSpec(sharding.MODELS)))
        totals, efs, examples, kept = [], [], [], 0
        for start in range(0, count, batch_size):
            batch = np.asarray(images[start:start + batch_size])
            real = batch.shape[0]
            index = np.arange(start, start + batch_size, dtype=np.int32)
            index[real:] = -1
            batch = np.concatenate([batch, np.zeros((batch_size - real, *batch.shape[1:]), batch.dtype)])
            ef, ef_raw, *sums, maps = statistics(stacked, batch, index, key)
            totals.append(sums)
            efs.append((ef, ef_raw, real))
            if kept < n_examples:    # the maps of the first batches stay on the device, for the examples
                shown = min(n_examples - kept, real)
                block = (members, shown, *maps.shape[2:])
                examples.append((block, maps.dtype, sharding.leading_block(maps, block)))
                kept += shown
            if progress is not None:
                progress(real * members)
        dispatched.append((members, efs, totals, examples))
    parts = []
    for members, efs, totals, examples in dispatched:
        ef = np.concatenate([np.asarray(e, np.float64)[:members, :real] for e, _, real in efs], axis=1)  # (m, N)
        ef_raw = np.concatenate([np.asarray(r, np.float64)[:members, :real] for _, r, real in efs], axis=1)
        # over batches and batch shards (numpy's stubs type a partial-axis sum as possibly a scalar)
        prob_sum, dead = (np.sum(jax.device_get(t), axis=(0, 1), dtype=np.float64)[:members]  # type: ignore[index]
                          for t in zip(*totals))
        maps = np.concatenate([sharding.assemble(*example) for example in examples], axis=1)
        parts.append((ef.mean(axis=1), ef.std(axis=1), prob_sum / count, dead.astype(int), maps, ef_raw.mean(axis=1)))
    ef_mean, ef_std, spectrum, dead, maps, ef_raw_mean = (np.concatenate(column) for column in zip(*parts))
    # one float per image, mean and std in float64 on the host
    return SpectralSummary(ef_mean, ef_std, spectrum, count, dead, maps, ef_raw_mean)
