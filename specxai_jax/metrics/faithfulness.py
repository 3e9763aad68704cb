"""Faithfulness of attributions to a JAX model: pixel flipping (deletion/insertion), ROAD, faithfulness
correlation and infidelity, batched, jitted and vectorized over images.

The model is ``model_fn(x) → logits`` on images x (B, H, W, C) (NHWC JAX arrays), or a pair
``(flax_module_or_apply, variables)``. Attributions are (B, H, W) or shaped like x; the pixel-level
metrics rank and remove whole pixels (all channels) by the channel-summed attribution. ``target`` (B,)
defaults to the predicted class of the clean images. Every random draw takes an explicit ``key``
(a ``jax.random.key``), or the draws themselves are passed in.

Each metric is a plain function and a class called the Quantus way (``metric(model=, x_batch=, y_batch=,
a_batch=, channel_first=None, key=None)``, one score per image; :mod:`specxai_jax.metrics._convention`).
Differences from Quantus 0.6 are stated per metric; with one-channel images they all vanish. Quantus's
default baseline "black" is each image's minimum; here it is 0.0 (pass ``x.min(axis=(1, 2, 3), keepdims=True)``
for Quantus's).
"""

from __future__ import annotations

import dataclasses
import functools
import operator
from collections.abc import Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from specxai_jax.attribution.core import as_model
from specxai_jax.metrics._convention import QuantusStyleMetric

ORDERS = ("morf", "lerf")
MODES = ("deletion", "insertion")
# Noisy linear imputation (Rong et al. 2022): each removed pixel is the weighted mean of its 8 neighbours.
NEIGHBOUR_WEIGHTS = (((1, 1), 1 / 12), ((0, 1), 1 / 6), ((-1, 1), 1 / 12), ((1, -1), 1 / 12),
                     ((0, -1), 1 / 6), ((-1, -1), 1 / 12), ((1, 0), 1 / 6), ((-1, 0), 1 / 6))
ROAD_PERCENTAGES = tuple(range(1, 100, 2))


@dataclasses.dataclass(frozen=True)
class _WithoutVariables:
    """``model_fn(x)`` as ``apply(variables, x)`` (variables unused); hashable, so jit caches per model_fn."""

    model_fn: Callable[[jax.Array], jax.Array]

    def __call__(self, variables, x: jax.Array) -> jax.Array:
        return self.model_fn(x)


def as_apply(model) -> tuple[Callable, object]:
    """``(apply(variables, x) → logits, variables)`` of ``model_fn(x)`` or of ``(module_or_apply, variables)``."""
    if isinstance(model, tuple) and len(model) == 2:
        return as_model(model[0]).apply, model[1]
    if type(model).__module__.startswith("torch") or isinstance(model, nn.Module) or not callable(model):
        raise TypeError(f"expected model_fn(x) -> logits on NHWC JAX arrays or (flax_module, variables); "
                        f"got {type(model).__name__}")
    return _WithoutVariables(model), None


def _check_images(x: jax.Array, attributions: jax.Array) -> None:
    if x.ndim != 4:
        raise ValueError(f"images must be (B, H, W, C); got shape {x.shape}")
    if attributions.shape[0] != x.shape[0]:
        raise ValueError(f"batch sizes differ: images have {x.shape[0]}, attributions {attributions.shape[0]}")
    if attributions.shape[1:3] != x.shape[1:3] or attributions.ndim not in (3, 4):
        raise ValueError(f"attributions must be (B, H, W) or shaped like the images {x.shape}; "
                         f"got {attributions.shape}")


def _check_choice(name: str, value: str, choices: Sequence[str]) -> None:
    if value not in choices:
        raise ValueError(f"unknown {name} {value!r}; choose one of {', '.join(choices)}")


def _pixel_relevance(attributions: jax.Array) -> jax.Array:
    """Relevance per pixel (B, H·W): summed over channels."""
    summed = attributions.sum(axis=-1) if attributions.ndim == 4 else attributions
    return summed.reshape(summed.shape[0], -1)


def _pixel_ranks(relevance: jax.Array, most_relevant_first: jax.Array) -> jax.Array:
    """Each pixel's position (B, N) in the removal order: most relevant first (morf) or least (lerf); ties by index."""
    direction = jnp.where(most_relevant_first, -1, 1).astype(relevance.dtype)
    positions = jnp.argsort(direction * relevance, axis=-1, stable=True)
    return jnp.zeros_like(positions).at[jnp.arange(relevance.shape[0])[:, None], positions].set(
        jnp.arange(relevance.shape[1]))


def _class_scores(apply, variables, x: jax.Array, target: jax.Array, softmax: bool) -> jax.Array:
    """softmax(logits)[target] or logits[target], (B,)."""
    logits = apply(variables, x)
    values = jax.nn.softmax(logits, axis=-1) if softmax else logits
    return jnp.take_along_axis(values, target[:, None], axis=-1)[:, 0]


def _resolve_target(apply, variables, x: jax.Array, target) -> jax.Array:
    """Target classes (B,): the given ones (one class for all, or one per image), else the predicted classes."""
    if target is None:
        return jnp.argmax(apply(variables, x), axis=-1)
    target = jnp.asarray(target, jnp.int32)
    if target.shape not in ((), (x.shape[0],)):
        raise ValueError(f"target must be one class or one per image ({x.shape[0]},); got shape {target.shape}")
    return jnp.broadcast_to(target, (x.shape[0],))


def _as_images(x, attributions) -> tuple[jax.Array, jax.Array]:
    x, attributions = jnp.asarray(x), jnp.asarray(attributions)
    _check_images(x, attributions)
    return x, attributions


# ----------------------------------------------------------------------------------------------------------
# Pixel flipping: deletion and insertion curves


def _flipped_counts(num_pixels: int, pixels_per_step: int) -> np.ndarray:
    """Pixels flipped at each point of a curve, 0 … N, shape (⌈N / step⌉ + 1,)."""
    steps = -(-num_pixels // pixels_per_step)
    return np.minimum(np.arange(steps + 1) * pixels_per_step, num_pixels)


def flipping_fractions(num_pixels: int, pixels_per_step: int) -> np.ndarray:
    """Fractions of pixels flipped at each point of a curve, 0 … 1, shape (⌈N / step⌉ + 1,)."""
    return _flipped_counts(num_pixels, pixels_per_step) / num_pixels


@functools.partial(jax.jit, static_argnames=("apply", "pixels_per_step", "softmax", "steps_at_once"))
def _flipping_curves(apply, variables, x, attributions, target, baseline, deletion, most_relevant_first,
                     pixels_per_step, softmax, steps_at_once):
    batch, height, width, _ = x.shape
    ranks = _pixel_ranks(_pixel_relevance(attributions), most_relevant_first).reshape(batch, height, width, 1)
    baseline = jnp.broadcast_to(baseline, x.shape).astype(x.dtype)
    start, end = jnp.where(deletion, x, baseline), jnp.where(deletion, baseline, x)
    counts = jnp.asarray(_flipped_counts(height * width, pixels_per_step), jnp.int32)

    def score_after(count):
        return _class_scores(apply, variables, jnp.where(ranks < count, end, start), target, softmax)

    return jax.lax.map(score_after, counts, batch_size=steps_at_once).T


def pixel_flipping_curves(model, x, attributions, target=None, *, mode: str = "deletion", order: str = "morf",
                          baseline=0.0, pixels_per_step: int = 1, softmax: bool = True,
                          steps_at_once: int | None = None) -> jax.Array:
    """Class score while pixels are flipped in attribution order: (B, T + 1), T = ⌈H·W / pixels_per_step⌉.

    ``mode="deletion"`` replaces pixels of x by ``baseline`` (a number or an array broadcastable to x);
    ``"insertion"`` starts from the baseline and puts pixels of x back. ``order``: "morf" (most relevant
    first) or "lerf" (least relevant first). Point t has ``min(t · pixels_per_step, H·W)`` pixels flipped
    (fractions: :func:`flipping_fractions`); the score is softmax(logits)[target] (``softmax=False``: the
    logit). ``steps_at_once`` model evaluations run vectorized (default: one step at a time).

    Quantus 0.6 ``PixelFlipping(features_in_step=k, perturb_baseline=b)`` returns points 1 … T of the deletion
    MoRF curve (no clean point) for one-channel images; on C channels it flips single channel values of the
    broadcast attribution, this flips whole pixels.
    """
    _check_choice("mode", mode, MODES)
    _check_choice("order", order, ORDERS)
    if pixels_per_step < 1:
        raise ValueError(f"pixels_per_step must be a positive integer; got {pixels_per_step}")
    apply, variables = as_apply(model)
    x, attributions = _as_images(x, attributions)
    target = _resolve_target(apply, variables, x, target)
    return _flipping_curves(apply, variables, x, attributions, target, jnp.asarray(baseline), mode == "deletion",
                            order == "morf", pixels_per_step, softmax, steps_at_once)


def curve_auc(curves: jax.Array, fractions) -> jax.Array:
    """Trapezoidal area under curves (B, T + 1) over the flipped fractions (T + 1,) from 0 to 1, (B,)."""
    fractions = jnp.asarray(fractions, curves.dtype)
    return ((curves[:, 1:] + curves[:, :-1]) / 2 * jnp.diff(fractions)).sum(axis=-1)


def pixel_flipping_auc(model, x, attributions, target=None, *, mode: str = "deletion", order: str = "morf",
                       baseline=0.0, pixels_per_step: int = 1, softmax: bool = True,
                       steps_at_once: int | None = None) -> jax.Array:
    """Area under :func:`pixel_flipping_curves` over the flipped fraction 0 … 1 (Petsiuk et al. 2018), (B,).

    Deletion MoRF and insertion LeRF: lower is more faithful; deletion LeRF and insertion MoRF: higher.
    (Quantus's ``calculate_auc`` is ``np.trapz(curve, dx=1)`` over its T points without the clean one,
    whose scale grows with T; it also needs NumPy < 2.4, which removed ``np.trapz``.)
    """
    curves = pixel_flipping_curves(model, x, attributions, target, mode=mode, order=order, baseline=baseline,
                                   pixels_per_step=pixels_per_step, softmax=softmax, steps_at_once=steps_at_once)
    return curve_auc(curves, flipping_fractions(x.shape[1] * x.shape[2], pixels_per_step))


# ----------------------------------------------------------------------------------------------------------
# ROAD: remove and debias (noisy linear imputation)


def _neighbour_sum(values: jax.Array) -> jax.Array:
    """Σ_n w_n values[pixel + offset_n] over the 8 neighbours, zero outside the image; (..., H, W)."""
    height, width = values.shape[-2:]
    padded = jnp.pad(values, [(0, 0)] * (values.ndim - 2) + [(1, 1), (1, 1)])
    return functools.reduce(operator.add, (weight * padded[..., 1 + dy:1 + dy + height, 1 + dx:1 + dx + width]
                                           for (dy, dx), weight in NEIGHBOUR_WEIGHTS))


def _impute_channel(values: jax.Array, removed: jax.Array, tol: float) -> jax.Array:
    """One channel (H, W) with its removed pixels replaced by the solution of the neighbour-mean equations.

    Removed pixel i: (Σ of its in-image neighbour weights) · v_i − Σ_{removed n} w_n v_n = Σ_{kept n} w_n x_n,
    the sparse system Quantus solves with ``spsolve``; here conjugate gradients (the operator is symmetric
    positive definite while every removed region touches a kept pixel) with a Jacobi preconditioner.
    """
    kept = 1.0 - removed
    neighbour_weight = _neighbour_sum(jnp.ones_like(values))
    diagonal = jnp.where(removed > 0, neighbour_weight, 1.0)

    def operator(v):
        return removed * (neighbour_weight * v - _neighbour_sum(removed * v)) + kept * v

    right_side = removed * _neighbour_sum(kept * values)
    solution, _ = jax.scipy.sparse.linalg.cg(operator, right_side, tol=tol, maxiter=4 * values.size,
                                             M=lambda r: r / diagonal)
    return kept * values + removed * solution


@functools.partial(jax.jit, static_argnames=("tol",))
def _impute(x: jax.Array, removed: jax.Array, noise: jax.Array, tol: float) -> jax.Array:
    channels_first = x.transpose(0, 3, 1, 2)
    mask = removed.astype(x.dtype)
    imputed = jax.vmap(jax.vmap(_impute_channel, in_axes=(0, None, None)), in_axes=(0, 0, None))(
        channels_first, mask, tol)
    return imputed.transpose(0, 2, 3, 1) + mask[..., None] * noise


def noisy_linear_imputation(x, removed, *, noise_scale: float = 0.01, key=None, tol: float = 1e-6) -> jax.Array:
    """Images (B, H, W, C) with their ``removed`` pixels (B, H, W) imputed from neighbours, plus N(0, noise_scale²).

    Rong et al. 2022 (ROAD); the same equations and neighbour weights as Quantus 0.6
    ``noisy_linear_imputation`` (solved to relative residual ``tol``). ``key`` draws the noise (needed when
    ``noise_scale`` > 0). Every removed region must touch a kept pixel (no image entirely removed).
    """
    x, removed = jnp.asarray(x), jnp.asarray(removed)
    if removed.shape != x.shape[:3]:
        raise ValueError(f"removed must be (B, H, W) for images {x.shape}; got {removed.shape}")
    _check_noise(noise_scale, key)
    noise = jnp.zeros_like(x) if noise_scale == 0 else noise_scale * jax.random.normal(key, x.shape, x.dtype)
    return _impute(x, removed, noise, tol)


def _check_noise(noise_scale: float, key) -> None:
    if noise_scale < 0:
        raise ValueError(f"noise_scale must be ≥ 0; got {noise_scale}")
    if noise_scale > 0 and key is None:
        raise ValueError("ROAD imputation draws noise: pass key=jax.random.key(seed) (or noise_scale=0)")


@functools.partial(jax.jit, static_argnames=("apply", "tol"))
def _road_curves(apply, variables, x, attributions, target, counts, keys, noise_scale, most_relevant_first, tol):
    batch, height, width, _ = x.shape
    ranks = _pixel_ranks(_pixel_relevance(attributions), most_relevant_first).reshape(batch, height, width)

    def correct_after(count_and_key):
        count, key = count_and_key
        noise = noise_scale * jax.random.normal(key, x.shape, x.dtype)
        imputed = _impute(x, ranks < count, noise, tol)
        return (jnp.argmax(apply(variables, imputed), axis=-1) == target).astype(x.dtype)

    return jax.lax.map(correct_after, (counts, keys)).T


def road_curves(model, x, attributions, target=None, *, percentages: Sequence[float] = ROAD_PERCENTAGES,
                order: str = "morf", noise_scale: float = 0.01, key=None, tol: float = 1e-6) -> jax.Array:
    """ROAD (Rong et al. 2022): 1.0 where the model still predicts ``target`` once ⌊H·W·p/100⌋ pixels are removed
    in ``order`` and imputed by :func:`noisy_linear_imputation`, per image and percentage p: (B, P).

    The accuracy curve is its mean over images (what Quantus 0.6 ``ROAD`` returns, a dict by percentage,
    from the first batch only). MoRF: lower is more faithful; LeRF: higher. Quantus ranks C·H·W broadcast
    attribution values but imputes H·W pixel positions, so it matches (and runs) for one-channel images only.
    """
    _check_choice("order", order, ORDERS)
    levels = np.asarray(percentages, np.float64)
    if levels.ndim != 1 or levels.size == 0 or (levels < 0).any() or (levels >= 100).any():
        raise ValueError(f"percentages must be a non-empty list of numbers in [0, 100); got {levels.tolist()}")
    apply, variables = as_apply(model)
    x, attributions = _as_images(x, attributions)
    target = _resolve_target(apply, variables, x, target)
    counts = jnp.asarray((x.shape[1] * x.shape[2] * levels / 100).astype(np.int64), jnp.int32)
    _check_noise(noise_scale, key)
    keys = jax.random.split(jax.random.key(0) if key is None else key, len(levels))  # unused when noise is 0
    return _road_curves(apply, variables, x, attributions, target, counts, keys, noise_scale, order == "morf", tol)


# ----------------------------------------------------------------------------------------------------------
# Faithfulness correlation (Bhatt et al. 2020)


def random_subsets(key, batch: int, num_pixels: int, runs: int, subset_size: int) -> jax.Array:
    """Pixel indices (B, R, S): for each image and run, S distinct flat (row-major) pixel indices."""
    keys = jax.random.split(key, batch * runs)
    subsets = jax.vmap(lambda k: jax.random.permutation(k, num_pixels)[:subset_size])(keys)
    return subsets.reshape(batch, runs, subset_size)


@functools.partial(jax.jit, static_argnames=("apply", "softmax", "runs_at_once"))
def _faithfulness_correlation(apply, variables, x, attributions, target, subsets, baseline, softmax, runs_at_once):
    batch, height, width, _channels = x.shape
    relevance = _pixel_relevance(attributions)
    baseline = jnp.broadcast_to(baseline, x.shape).astype(x.dtype)
    clean = _class_scores(apply, variables, x, target, softmax)
    rows = jnp.arange(batch)[:, None]

    def one_run(subset):
        mask = jnp.zeros((batch, height * width), bool).at[rows, subset].set(True).reshape(batch, height, width, 1)
        drop = clean - _class_scores(apply, variables, jnp.where(mask, baseline, x), target, softmax)
        return relevance[rows, subset].sum(axis=-1), drop

    attribution_sums, drops = jax.lax.map(one_run, subsets.swapaxes(0, 1), batch_size=runs_at_once)
    a = attribution_sums - attribution_sums.mean(axis=0)
    b = drops - drops.mean(axis=0)
    return (a * b).sum(axis=0) / jnp.sqrt((a * a).sum(axis=0) * (b * b).sum(axis=0))


def faithfulness_correlation(model, x, attributions, target=None, *, key=None, subsets=None, runs: int = 100,
                             subset_size: int = 224, baseline=0.0, softmax: bool = False,
                             runs_at_once: int | None = None) -> jax.Array:
    """Pearson correlation over random pixel subsets S of Σ_S attribution and the score drop when S is set to
    ``baseline`` (Bhatt et al. 2020), per image (B,); higher is more faithful, NaN for a constant side.

    ``subsets``: (B, R, S) distinct flat (row-major) pixel indices per run, or drawn with ``key``
    (``runs`` × ``subset_size``, :func:`random_subsets`). Score: the target logit (``softmax=True``: probability).
    Matches Quantus 0.6 ``FaithfulnessCorrelation(perturb_baseline=b)`` given its subsets, for one-channel
    images (it draws subsets of C·H·W channel values; this removes whole pixels).
    """
    apply, variables = as_apply(model)
    x, attributions = _as_images(x, attributions)
    num_pixels = x.shape[1] * x.shape[2]
    if subsets is None:
        if key is None:
            raise ValueError("faithfulness correlation draws random subsets: pass key=jax.random.key(seed) or subsets=")
        if runs < 2 or not 0 < subset_size <= num_pixels:
            raise ValueError(f"need runs ≥ 2 and 0 < subset_size ≤ H·W = {num_pixels}; got runs={runs}, "
                             f"subset_size={subset_size}")
        subsets = random_subsets(key, x.shape[0], num_pixels, runs, subset_size)
    subsets = jnp.asarray(subsets, jnp.int32)
    if subsets.ndim != 3 or subsets.shape[0] != x.shape[0]:
        raise ValueError(f"subsets must be (B, R, S) pixel indices with B = {x.shape[0]}; got shape {subsets.shape}")
    if int(subsets.min()) < 0 or int(subsets.max()) >= num_pixels:
        raise ValueError(f"subsets hold flat pixel indices in [0, H·W = {num_pixels}); got {int(subsets.min())} … "
                         f"{int(subsets.max())}")
    target = _resolve_target(apply, variables, x, target)
    return _faithfulness_correlation(apply, variables, x, attributions, target, subsets, jnp.asarray(baseline),
                                     softmax, runs_at_once)


# ----------------------------------------------------------------------------------------------------------
# Infidelity (Yeh et al. 2019)


@functools.partial(jax.jit, static_argnames=("apply", "normalize", "softmax", "samples_at_once"))
def _infidelity(apply, variables, x, attributions, target, perturbations, baseline, normalize, softmax,
                samples_at_once):
    attributions = attributions if attributions.ndim == 4 else attributions[..., None]
    clean = _class_scores(apply, variables, x, target, softmax)

    def one_sample(perturbation):
        shift = perturbation if baseline is None else perturbation * (x - baseline)
        drop = clean - _class_scores(apply, variables, x - shift, target, softmax)
        return (perturbation * attributions).sum(axis=(1, 2, 3)), drop

    explained, drops = jax.lax.map(one_sample, perturbations.swapaxes(0, 1), batch_size=samples_at_once)
    if normalize:
        energy = (explained * explained).sum(axis=0)
        beta = jnp.where(energy > 0, (explained * drops).sum(axis=0) / jnp.where(energy > 0, energy, 1.0), 0.0)
        explained = beta * explained
    return ((explained - drops) ** 2).mean(axis=0)


def infidelity(model, x, attributions, target=None, *, key=None, perturbations=None, samples: int = 10,
               noise_scale: float = 0.1, baseline=None, normalize: bool = False, softmax: bool = False,
               samples_at_once: int | None = None) -> jax.Array:
    """E_I[(Iᵀ·attributions − (f(x) − f(x − I)))²] per image (Yeh et al. 2019), (B,); lower is more faithful.

    Attributions (B, H, W) or (B, H, W, 1) are shared by the channels of a pixel. ``baseline`` None: Gaussian
    perturbations I ~ N(0, noise_scale²) per value, (B, S, H, W, C) given as
    ``perturbations`` or drawn with ``key`` (``samples`` per image). ``baseline`` given (for attributions that
    multiply by x − baseline, e.g. IntGrad, w ⊙ x): ``perturbations`` are masks M (B, S, H, W[, C]) in [0, 1],
    or drawn per pixel with P(1) = 1/2; the input moves to x − M ⊙ (x − baseline) and the explained change is
    Mᵀ·attributions (Captum's convention for such attributions). ``normalize`` rescales the attributions by
    the least-squares β first (Captum's ``normalize=True``). f: the target logit (``softmax=True``: probability).
    Matches ``captum.metrics.infidelity`` given the same perturbations.
    """
    apply, variables = as_apply(model)
    x, attributions = _as_images(x, attributions)
    if attributions.ndim == 4 and attributions.shape[-1] not in (1, x.shape[-1]):
        raise ValueError(f"attributions must be (B, H, W), (B, H, W, 1) or {x.shape}; got {attributions.shape}")
    if perturbations is None:
        if key is None:
            raise ValueError("infidelity draws random perturbations: pass key=jax.random.key(seed) or perturbations=")
        if samples < 1:
            raise ValueError(f"samples must be a positive integer; got {samples}")
        if baseline is None:
            perturbations = noise_scale * jax.random.normal(key, (x.shape[0], samples, *x.shape[1:]), x.dtype)
        else:
            perturbations = jax.random.bernoulli(key, 0.5, (x.shape[0], samples, *x.shape[1:3], 1)).astype(x.dtype)
    perturbations = jnp.asarray(perturbations, x.dtype)
    if perturbations.ndim == 4:
        perturbations = perturbations[..., None]
    if perturbations.ndim != 5 or perturbations.shape[0] != x.shape[0] or perturbations.shape[2:4] != x.shape[1:3]:
        raise ValueError(f"perturbations must be (B, S, H, W[, C]) for images {x.shape}; got {perturbations.shape}")
    target = _resolve_target(apply, variables, x, target)
    baseline = None if baseline is None else jnp.broadcast_to(jnp.asarray(baseline, x.dtype), x.shape)
    return _infidelity(apply, variables, x, attributions, target, perturbations, baseline, normalize, softmax,
                       samples_at_once)


# ----------------------------------------------------------------------------------------------------------
# Quantus-style classes


class _FaithfulnessMetric(QuantusStyleMetric):
    """Shared call: the model as ``model_fn`` or ``(module, variables)``, images NHWC, targets from ``y_batch``."""

    def __init__(self, key=None):
        self.key = key

    def scores(self, model, x_nhwc, y_batch, a_nhwc, key) -> np.ndarray:
        if model is None or x_nhwc is None:
            raise ValueError(f"{type(self).__name__} needs model= (model_fn or (module, variables)) and x_batch=")
        key = self.key if key is None else key
        return np.asarray(self.evaluate(model, x_nhwc, a_nhwc, y_batch, key))

    def evaluate(self, model, x, attributions, target, key):
        """Scores (B,) of ``attributions`` for images ``x`` (B, H, W, C); each metric defines its own."""
        raise NotImplementedError


class Deletion(_FaithfulnessMetric):
    """Deletion AUC per image (:func:`pixel_flipping_auc`); MoRF: lower is better, LeRF: higher."""

    mode = "deletion"

    def __init__(self, *, order: str = "morf", baseline=0.0, pixels_per_step: int = 1, softmax: bool = True):
        _check_choice("order", order, ORDERS)
        super().__init__()
        self.order, self.baseline, self.pixels_per_step, self.softmax = order, baseline, pixels_per_step, softmax
        # deletion MoRF and insertion LeRF: "lower" is better; deletion LeRF and insertion MoRF: "higher"
        self.score_direction = "lower" if (self.mode == "deletion") == (self.order == "morf") else "higher"

    def evaluate(self, model, x, attributions, target, key):
        return pixel_flipping_auc(model, x, attributions, target, mode=self.mode, order=self.order,
                                  baseline=self.baseline, pixels_per_step=self.pixels_per_step, softmax=self.softmax)


class Insertion(Deletion):
    """Insertion AUC per image (:func:`pixel_flipping_auc`); MoRF: higher is better, LeRF: lower."""

    mode = "insertion"


class ROAD(_FaithfulnessMetric):
    """Mean of the ROAD correctness over ``percentages`` per image (:func:`road_curves`); MoRF: lower is better."""

    def __init__(self, *, percentages: Sequence[float] = ROAD_PERCENTAGES, order: str = "morf",
                 noise_scale: float = 0.01, key=None):
        _check_choice("order", order, ORDERS)
        super().__init__(key)
        self.percentages, self.order, self.noise_scale = tuple(percentages), order, noise_scale
        self.score_direction = "lower" if order == "morf" else "higher"

    def evaluate(self, model, x, attributions, target, key):
        return road_curves(model, x, attributions, target, percentages=self.percentages, order=self.order,
                           noise_scale=self.noise_scale, key=key).mean(axis=-1)


class FaithfulnessCorrelation(_FaithfulnessMetric):
    """:func:`faithfulness_correlation` per image; higher is better."""

    score_direction = "higher"

    def __init__(self, *, runs: int = 100, subset_size: int = 224, baseline=0.0, softmax: bool = False, key=None):
        super().__init__(key)
        self.runs, self.subset_size, self.baseline, self.softmax = runs, subset_size, baseline, softmax

    def evaluate(self, model, x, attributions, target, key):
        return faithfulness_correlation(model, x, attributions, target, key=key, runs=self.runs,
                                        subset_size=self.subset_size, baseline=self.baseline, softmax=self.softmax)


class Infidelity(_FaithfulnessMetric):
    """:func:`infidelity` per image; lower is better."""

    score_direction = "lower"

    def __init__(self, *, samples: int = 10, noise_scale: float = 0.1, baseline=None, normalize: bool = False,
                 softmax: bool = False, key=None):
        super().__init__(key)
        self.samples, self.noise_scale, self.baseline = samples, noise_scale, baseline
        self.normalize, self.softmax = normalize, softmax

    def evaluate(self, model, x, attributions, target, key):
        return infidelity(model, x, attributions, target, key=key, samples=self.samples, noise_scale=self.noise_scale,
                          baseline=self.baseline, normalize=self.normalize, softmax=self.softmax)
