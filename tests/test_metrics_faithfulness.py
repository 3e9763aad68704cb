"""Faithfulness metrics: known answers on linear models, parity with Quantus 0.6 and Captum on a torch mirror.

The mirror is the project's PlainCNN (registry "cnn", ReLU) rebuilt in PyTorch from the same Flax weights,
in float32 on both sides (Quantus feeds torch models ``torch.Tensor(x)``, i.e. float32). Tolerances:
curves and correlations rtol 1e-5 / atol 1e-6 (float32 forward passes summed in different orders),
imputed pixels atol 1e-5 (float64 sparse LU against float32 conjugate gradients to relative residual 1e-6),
infidelity rtol 1e-4 (squared differences of float32 scores). Attributions in the parity tests have no ties:
NumPy's quicksort and our stable sort order tied pixels differently.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from specxai_jax import metrics

SIZE, CLASSES, BATCH = 8, 3, 4


def linear_model(weights: np.ndarray, bias: np.ndarray | float = 0.0):
    """logits = Σ_{h,w,c} x · weights[..., k] + bias: weights (H, W, C, K)."""
    weights = jnp.asarray(weights)
    return lambda x: jnp.einsum("bhwc,hwck->bk", x, weights) + bias


@pytest.fixture(scope="module")
def linear_case():
    rng = np.random.default_rng(0)
    x = rng.uniform(0.1, 1.0, size=(BATCH, SIZE, SIZE, 2)).astype(np.float32)
    weights = rng.normal(size=(SIZE, SIZE, 2, CLASSES)).astype(np.float32)
    target = np.array([0, 1, 2, 0])
    exact = x * weights[..., target].transpose(3, 0, 1, 2)    # w ⊙ x of each image's target class
    return linear_model(weights), x, weights, target, exact


# ---------------------------------------------------------------- known answers on linear models


def test_deletion_curve_of_a_linear_logit_is_its_contributions_removed_in_order(linear_case):
    model, x, _, target, exact = linear_case
    curves = np.asarray(metrics.pixel_flipping_curves(model, x, exact, target, softmax=False, pixels_per_step=3))
    logits = exact.sum(axis=(1, 2, 3))
    pixel_contributions = np.sort(exact.sum(-1).reshape(BATCH, -1), axis=1)[:, ::-1]
    removed = np.concatenate([np.zeros((BATCH, 1)), np.cumsum(pixel_contributions, axis=1)], axis=1)
    expected = logits[:, None] - removed[:, np.minimum(np.arange(curves.shape[1]) * 3, SIZE * SIZE)]
    np.testing.assert_allclose(curves, expected, rtol=1e-5, atol=1e-5)


def test_relevance_order_is_the_best_and_worst_of_all_orders_on_a_linear_logit(linear_case):
    model, x, _, target, exact = linear_case
    auc = {(mode, order): np.asarray(metrics.pixel_flipping_auc(model, x, exact, target, mode=mode, order=order,
                                                                softmax=False, pixels_per_step=4))
           for mode in metrics.faithfulness.MODES for order in metrics.faithfulness.ORDERS}
    for seed in range(8):
        random_order = np.random.default_rng(seed).normal(size=(BATCH, SIZE, SIZE))
        for mode in metrics.faithfulness.MODES:
            other = np.asarray(metrics.pixel_flipping_auc(model, x, random_order, target, mode=mode, softmax=False,
                                                          pixels_per_step=4))
            assert (auc[mode, "morf" if mode == "deletion" else "lerf"] <= other + 1e-5).all()
            assert (auc[mode, "lerf" if mode == "deletion" else "morf"] >= other - 1e-5).all()


def test_faithfulness_correlation_of_the_exact_attribution_of_a_linear_logit_is_one(linear_case):
    model, x, _, target, exact = linear_case
    scores = metrics.faithfulness_correlation(model, x, exact, target, key=jax.random.key(1), runs=30, subset_size=9)
    np.testing.assert_allclose(np.asarray(scores), 1.0, atol=1e-5)
    shuffled = exact[:, ::-1]
    assert (np.asarray(metrics.faithfulness_correlation(model, x, shuffled, target, key=jax.random.key(1), runs=30,
                                                        subset_size=9)) < 0.9).all()


def test_infidelity_of_exact_attributions_of_a_linear_logit_is_zero(linear_case):
    model, x, weights, target, exact = linear_case
    removal = metrics.infidelity(model, x, exact, target, key=jax.random.key(2), baseline=0.0, samples=16)
    gradient = weights[..., target].transpose(3, 0, 1, 2)
    gaussian = metrics.infidelity(model, x, gradient, target, key=jax.random.key(3), samples=16, noise_scale=0.5)
    np.testing.assert_allclose(np.asarray(removal), 0.0, atol=1e-8)
    np.testing.assert_allclose(np.asarray(gaussian), 0.0, atol=1e-8)
    assert (np.asarray(metrics.infidelity(model, x, gradient, target, key=jax.random.key(2), baseline=0.0,
                                          samples=16)) > 1e-3).all()


def test_road_known_answer_on_a_linear_model_with_one_informative_block():
    """Class 1 reads a 2×2 block of ones on black (logit 4 vs 2). MoRF removes the block first: it is imputed
    from black neighbours to 0, so the prediction is lost; LeRF removes only black pixels, which weigh nothing."""
    image = np.zeros((1, SIZE, SIZE, 1), np.float32)
    image[0, 3:5, 3:5] = 1.0
    weights = np.zeros((SIZE, SIZE, 1, 2), np.float32)
    weights[3:5, 3:5, 0, 1] = 1.0
    model = linear_model(weights, jnp.asarray([2.0, 0.0]))
    attribution = image[..., 0] * weights[..., 0, 1]
    for order, expected in (("morf", [1, 0, 0]), ("lerf", [1, 1, 1])):
        curve = metrics.road_curves(model, image, attribution, [1], percentages=[1, 10, 50], order=order,
                                    noise_scale=0.0)
        np.testing.assert_array_equal(np.asarray(curve), [expected])


def test_imputation_restores_linear_ramps_and_adds_noise_of_the_stated_scale():
    rows, cols = np.meshgrid(np.arange(16.0), np.arange(16.0), indexing="ij")
    ramp = np.stack([0.3 * rows - 0.2 * cols + 1.0, 0.1 * cols], axis=-1)[None].astype(np.float32)
    removed = np.zeros((1, 16, 16), bool)
    removed[0, 4:12, 3:9] = True     # an interior block: every neighbour weight is in the image
    restored = np.asarray(metrics.noisy_linear_imputation(ramp, removed, noise_scale=0.0))
    np.testing.assert_allclose(restored, ramp, atol=1e-4)
    noisy = np.asarray(metrics.noisy_linear_imputation(ramp, removed, noise_scale=0.2, key=jax.random.key(4)))
    residual = noisy - restored
    np.testing.assert_array_equal(residual[~removed], 0.0)
    # 96 N(0, 0.2²) values: the sample std is within ±30% of 0.2 with probability > 0.999.
    assert 0.14 < residual[removed].std() < 0.26


@pytest.mark.parametrize("call, message", [
    (lambda m, x, a: metrics.pixel_flipping_curves(m, x, a, pixels_per_step=0), "pixels_per_step must be"),
    (lambda m, x, a: metrics.pixel_flipping_curves(m, x, a[:2]), "batch sizes differ"),
    (lambda m, x, a: metrics.pixel_flipping_curves(m, x, a, order="random"), "unknown order"),
    (lambda m, x, a: metrics.road_curves(m, x, a, percentages=[50, 100]), r"in \[0, 100\)"),
    (lambda m, x, a: metrics.road_curves(m, x, a), "pass key="),
    (lambda m, x, a: metrics.faithfulness_correlation(m, x, a), "pass key="),
    (lambda m, x, a: metrics.faithfulness_correlation(m, x, a, key=jax.random.key(0), subset_size=65), "subset_size"),
    (lambda m, x, a: metrics.infidelity(m, x, a, samples=-1, key=jax.random.key(0)), "samples must be"),
    (lambda m, x, a: metrics.pixel_flipping_curves(m, x[0], a), r"images must be \(B, H, W, C\)"),
    (lambda m, x, a: metrics.pixel_flipping_curves(m, x, a, [0, 1]), "target must be one class or one per image"),
    (lambda m, x, a: metrics.faithfulness_correlation(m, x, a, subsets=np.full((4, 3, 2), 64)), r"in \[0, H·W = 64\)"),
])
def test_bad_input_gives_one_clear_error(linear_case, call, message):
    model, x, _, _, exact = linear_case
    with pytest.raises(ValueError, match=message):
        call(model, x, exact)


def test_quantus_style_classes_take_channel_first_batches_and_flax_pairs(linear_case):
    model, x, _, target, exact = linear_case
    nchw = {"x_batch": x.transpose(0, 3, 1, 2), "y_batch": target, "a_batch": exact.transpose(0, 3, 1, 2)}
    direct = metrics.pixel_flipping_auc(model, x, exact, target, pixels_per_step=4, softmax=False)
    np.testing.assert_allclose(metrics.Deletion(pixels_per_step=4, softmax=False)(model=model, **nchw),
                               np.asarray(direct), rtol=1e-6)
    assert [metrics.Deletion(order=order).score_direction for order in ("morf", "lerf")] == ["lower", "higher"]
    assert [metrics.Insertion(order=order).score_direction for order in ("morf", "lerf")] == ["higher", "lower"]
    scores = metrics.FaithfulnessCorrelation(runs=30, subset_size=9)(model=model, key=jax.random.key(1), **nchw)
    assert len(scores) == BATCH and all(isinstance(score, float) for score in scores)
    np.testing.assert_allclose(scores, 1.0, atol=1e-5)
    # One map per image (B, 1, H, W), shared by both channels: still the exact attribution of each pixel.
    infidelity = metrics.Infidelity(samples=16, baseline=0.0)(model=model, key=jax.random.key(2),
                                                              **{**nchw, "a_batch": exact.sum(-1)[:, None]})
    np.testing.assert_allclose(infidelity, 0.0, atol=1e-8)
    with pytest.raises(TypeError, match="softmax"):
        metrics.Deletion()(model=model, softmax=False, **nchw)
    with pytest.raises(TypeError, match="model_fn"):
        metrics.Deletion()(model=object(), **nchw)


# ---------------------------------------------------------------- parity with Quantus 0.6 and Captum


def torch_mirror(params, depth: int):
    """The project's PlainCNN (ReLU) in PyTorch, float32, weights copied (HWIO → OIHW, (in, out) → (out, in))."""
    torch = pytest.importorskip("torch")

    class NHWCFlatten(torch.nn.Module):
        """Flatten in Flax's NHWC order."""

        def forward(self, x):
            return x.permute(0, 2, 3, 1).flatten(1)

    layers = []
    for i in range(depth):
        kernel = np.asarray(params[f"conv{i}"]["kernel"], np.float32)
        conv = torch.nn.Conv2d(kernel.shape[2], kernel.shape[3], 3, padding=1)
        conv.weight.data = torch.tensor(kernel.transpose(3, 2, 0, 1).copy())
        conv.bias.data = torch.tensor(np.asarray(params[f"conv{i}"]["bias"], np.float32))
        layers += [conv, torch.nn.ReLU(), torch.nn.MaxPool2d(2)]
    dense, head = (torch.nn.Linear(*np.shape(params[name]["kernel"])) for name in ("dense", "head"))
    for linear, name in ((dense, "dense"), (head, "head")):
        linear.weight.data = torch.tensor(np.asarray(params[name]["kernel"], np.float32).T.copy())
        linear.bias.data = torch.tensor(np.asarray(params[name]["bias"], np.float32))
    return torch.nn.Sequential(*layers, NHWCFlatten(), dense, torch.nn.ReLU(), head).eval()


class Twins:
    """The project CNN on one-channel images, its variables, its torch mirror, images, labels, attributions."""

    def __init__(self, channels: int = 1, depth: int = 2):
        from specxai_jax.models import init_variables
        from specxai_jax.models.registry import build_model

        self.model = build_model("cnn", num_classes=CLASSES, activation="relu", depth=depth, width=4, dense=16)
        self.variables = init_variables(self.model, jax.random.key(3), np.inf, (1, SIZE, SIZE, channels))
        self.torch = torch_mirror(self.variables["params"], depth)
        rng = np.random.default_rng(5)
        self.x = rng.uniform(size=(BATCH, SIZE, SIZE, channels)).astype(np.float32)
        self.y = rng.integers(0, CLASSES, size=BATCH)
        self.a = rng.normal(size=(BATCH, SIZE, SIZE)).astype(np.float32)   # continuous: no ties
        self.pair = (self.model, self.variables)

    def nchw(self, array):
        return np.ascontiguousarray(array.transpose(0, 3, 1, 2))


@pytest.fixture(scope="module")
def twins():
    pytest.importorskip("quantus")
    return Twins()


def test_mirror_computes_the_same_logits(twins):
    import torch

    expected = np.asarray(twins.model.apply(twins.variables, jnp.asarray(twins.x)))
    with torch.no_grad():
        np.testing.assert_allclose(twins.torch(torch.tensor(twins.nchw(twins.x))).numpy(), expected, rtol=1e-5,
                                   atol=1e-6)


@pytest.mark.parametrize("order", ["morf", pytest.param("lerf", marks=pytest.mark.slow)])
def test_deletion_curves_match_quantus_pixel_flipping(twins, order):
    import quantus

    quantus_attribution = twins.a if order == "morf" else -twins.a    # Quantus flips most relevant first only
    theirs = quantus.PixelFlipping(features_in_step=4, perturb_baseline=0.0, disable_warnings=True)(
        model=twins.torch, x_batch=twins.nchw(twins.x), y_batch=twins.y, a_batch=quantus_attribution[:, None],
        channel_first=True, device="cpu")
    ours = np.asarray(metrics.pixel_flipping_curves(twins.pair, twins.x, twins.a, twins.y, order=order,
                                                    pixels_per_step=4))
    np.testing.assert_allclose(ours[:, 1:], np.asarray(theirs), rtol=1e-5, atol=1e-6)
    fractions = metrics.flipping_fractions(SIZE * SIZE, 4)
    np.testing.assert_allclose(np.asarray(metrics.pixel_flipping_auc(twins.pair, twins.x, twins.a, twins.y, order=order,
                                                                     pixels_per_step=4)),
                               np.trapezoid(np.asarray(ours), fractions, axis=1), rtol=1e-5)


@pytest.mark.slow
def test_insertion_curves_match_quantus_pixel_flipping_that_puts_pixels_back(twins):
    import quantus

    baseline = 0.5
    images = twins.nchw(twins.x).reshape(BATCH, -1)

    def put_back(arr, indices, **kwargs):
        arr = arr.copy()
        rows = np.arange(len(arr))[:, None]
        arr[rows, indices] = images[rows, indices]
        return arr

    theirs = quantus.PixelFlipping(features_in_step=8, perturb_func=put_back, disable_warnings=True)(
        model=twins.torch, x_batch=np.full_like(twins.nchw(twins.x), baseline), y_batch=twins.y,
        a_batch=twins.a[:, None], channel_first=True, device="cpu")
    ours = np.asarray(metrics.pixel_flipping_curves(twins.pair, twins.x, twins.a, twins.y, mode="insertion",
                                                    baseline=baseline, pixels_per_step=8))
    np.testing.assert_allclose(ours[:, 1:], np.asarray(theirs), rtol=1e-5, atol=1e-6)


def test_imputation_matches_quantus_noisy_linear_imputation_on_three_channels():
    from quantus.functions.perturb_func import noisy_linear_imputation

    rng = np.random.default_rng(6)
    images = rng.uniform(size=(2, 7, 9, 3)).astype(np.float32)
    removed = rng.uniform(size=(2, 7, 9)) < 0.6
    ours = np.asarray(metrics.noisy_linear_imputation(images, removed, noise_scale=0.0))
    for image, mask, our_image in zip(images, removed, ours):
        theirs = noisy_linear_imputation(image.transpose(2, 0, 1).astype(np.float64), np.flatnonzero(mask), noise=0.0)
        np.testing.assert_allclose(our_image, theirs.transpose(1, 2, 0), atol=1e-5)


def test_road_matches_quantus_road_without_noise(twins):
    import quantus

    percentages = [5, 20, 40, 60, 80, 95]
    theirs = quantus.ROAD(percentages=percentages, noise=0.0, disable_warnings=True)(
        model=twins.torch, x_batch=twins.nchw(twins.x), y_batch=twins.y, a_batch=twins.a[:, None],
        channel_first=True, device="cpu")
    ours = np.asarray(metrics.road_curves(twins.pair, twins.x, twins.a, twins.y, percentages=percentages,
                                          noise_scale=0.0))
    np.testing.assert_allclose(ours.mean(axis=0), [theirs[p] for p in percentages], atol=1e-12)
    assert 0 < ours.mean() < 1   # the case is not trivial: some predictions are kept, some lost


def test_faithfulness_correlation_matches_quantus_given_its_subsets(twins):
    import quantus

    runs, subset_size, seed = 12, 10, 11
    np.random.seed(seed)
    theirs = quantus.FaithfulnessCorrelation(nr_runs=runs, subset_size=subset_size, perturb_baseline=0.0,
                                             return_aggregate=False, disable_warnings=True)(
        model=twins.torch, x_batch=twins.nchw(twins.x), y_batch=twins.y, a_batch=twins.a[:, None],
        channel_first=True, device="cpu")
    np.random.seed(seed)   # the same draws, in Quantus's order: per run, one subset per image
    subsets = np.array([[np.random.choice(SIZE * SIZE, subset_size, replace=False) for _ in range(BATCH)]
                        for _ in range(runs)]).swapaxes(0, 1)
    ours = metrics.faithfulness_correlation(twins.pair, twins.x, twins.a, twins.y, subsets=subsets)
    np.testing.assert_allclose(np.asarray(ours), theirs, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("baseline, normalize", [(None, False), (0.2, True),
                                                 pytest.param(None, True, marks=pytest.mark.slow),
                                                 pytest.param(0.2, False, marks=pytest.mark.slow)])
def test_infidelity_matches_captum_given_the_same_perturbations(normalize, baseline):
    captum_metrics = pytest.importorskip("captum.metrics")
    import torch

    twins = Twins(channels=3)
    samples = 5
    rng = np.random.default_rng(7)
    attributions = rng.normal(size=twins.x.shape).astype(np.float32)
    if baseline is None:
        perturbations = (0.1 * rng.normal(size=(BATCH, samples, SIZE, SIZE, 3))).astype(np.float32)
    else:
        perturbations = np.repeat(rng.uniform(size=(BATCH, samples, SIZE, SIZE, 1)) < 0.5, 3, -1).astype(np.float32)
    # Captum repeats each input `samples` times in a row (repeat_interleave): row b·S + s is sample s of image b.
    stacked = torch.tensor(perturbations.reshape(BATCH * samples, SIZE, SIZE, 3).transpose(0, 3, 1, 2).copy())

    def perturb(inputs):
        shift = stacked if baseline is None else stacked * (inputs - baseline)
        return stacked, inputs - shift

    theirs = captum_metrics.infidelity(twins.torch, perturb, torch.tensor(twins.nchw(twins.x)),
                                       torch.tensor(twins.nchw(attributions)), target=torch.tensor(twins.y),
                                       n_perturb_samples=samples, normalize=normalize).numpy()
    ours = metrics.infidelity(twins.pair, twins.x, attributions, twins.y, perturbations=perturbations,
                              baseline=baseline, normalize=normalize)
    np.testing.assert_allclose(np.asarray(ours), theirs, rtol=1e-4, atol=1e-9)
