"""Spectral complexity metrics: known spectra, layouts of Quantus's call, and a run inside quantus.evaluate."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from specxai_jax import metrics, spectral

SIZE, CLASSES, BATCH = 8, 3, 4


def numpy_radial_spectrum(image: np.ndarray) -> np.ndarray:
    """Independent reference: shifted |FFT|² averaged with np.bincount over integer radii."""
    power = np.abs(np.fft.fftshift(np.fft.fft2(image))) ** 2
    yy, xx = np.indices(image.shape)
    radius = np.floor(np.hypot(yy - image.shape[0] // 2, xx - image.shape[1] // 2)).astype(int).ravel()
    return np.bincount(radius, power.ravel()) / np.bincount(radius)


def test_radial_spectra_match_numpy_reference_raw_and_normalized():
    maps = np.random.default_rng(0).normal(size=(3, 12, 10))
    reference = np.stack([numpy_radial_spectrum(m) for m in maps])
    raw = metrics.radial_spectra(maps, rank=False, normalize=False)
    np.testing.assert_allclose(raw, reference, rtol=1e-4, atol=1e-3)
    normalized = metrics.radial_spectra(maps, rank=False)
    np.testing.assert_allclose(normalized, reference / reference.sum(-1, keepdims=True), rtol=1e-4, atol=1e-7)


def test_high_frequency_mass_of_an_impulse_and_of_gratings():
    impulse = np.zeros((1, 16, 16))
    impulse[0, 5, 9] = 1.0      # flat spectrum: p_k = 1/K over the K = 12 bins, ω_k = k/11
    assert metrics.high_frequency_mass(impulse, cutoff=0.5, rank=False)[0] == pytest.approx(6 / 12, rel=1e-5)
    assert metrics.high_frequency_mass(impulse, cutoff=0.0, rank=False)[0] == pytest.approx(11 / 12, rel=1e-5)
    columns = np.arange(16)
    gratings = np.stack([np.cos(2 * np.pi * cycles * columns / 16)[None, :].repeat(16, 0) for cycles in (2, 7)])
    # All power of a grating sits at radius = its cycles: ω = 2/11 (low) or 7/11 (high).
    np.testing.assert_allclose(metrics.high_frequency_mass(gratings, cutoff=0.5, rank=False), [0.0, 1.0], atol=1e-6)
    with pytest.raises(ValueError, match="cutoff"):
        metrics.high_frequency_mass(gratings, cutoff=1.0)


def test_classes_read_every_layout_of_quantus_calls_alike():
    rng = np.random.default_rng(1)
    x_nchw = rng.uniform(size=(BATCH, 3, 12, 12))
    a_nchw = rng.normal(size=(BATCH, 3, 12, 12))
    expected = [[np.asarray(spectral.expected_frequency(a_nchw.sum(1), rank=rank, convention=convention))
                 for convention in spectral.CONVENTIONS] for rank in (True, False)]
    layouts = [{"x_batch": x_nchw, "a_batch": a_nchw},
               {"x_batch": x_nchw.transpose(0, 2, 3, 1), "a_batch": a_nchw.transpose(0, 2, 3, 1)},
               {"x_batch": x_nchw, "a_batch": a_nchw.sum(1, keepdims=True)},
               {"x_batch": x_nchw, "a_batch": a_nchw.sum(1)},
               {"a_batch": a_nchw.sum(1)},
               {"a_batch": a_nchw, "channel_first": True}]
    for layout in layouts:
        for i, rank in enumerate((True, False)):
            for j, convention in enumerate(spectral.CONVENTIONS):
                scores = metrics.ExpectedFrequency(rank=rank, convention=convention)(model=None, y_batch=None, **layout)
                assert isinstance(scores, list) and len(scores) == BATCH
                np.testing.assert_allclose(scores, expected[i][j], rtol=1e-5)
    spectra = metrics.RadialSpectrum()(a_batch=a_nchw, x_batch=x_nchw)
    np.testing.assert_allclose(spectra, metrics.radial_spectra(a_nchw.sum(1)), rtol=1e-6)
    assert all(cls.score_direction == "lower"
               for cls in (metrics.ExpectedFrequency, metrics.HighFrequencyMass, metrics.RadialSpectrum))


def test_class_calls_explain_func_when_no_attributions_are_given():
    x = np.random.default_rng(2).uniform(size=(BATCH, 1, 9, 9))

    def squares(model, inputs, targets, power):
        return inputs ** power

    scores = metrics.HighFrequencyMass(rank=False)(x_batch=x, y_batch=np.zeros(BATCH, int), explain_func=squares,
                                                   explain_func_kwargs={"power": 2})
    np.testing.assert_allclose(scores, metrics.high_frequency_mass(x[:, 0] ** 2, rank=False), rtol=1e-6)


def test_bad_quantus_calls_give_one_clear_error():
    a = np.zeros((BATCH, 1, 8, 8))
    with pytest.raises(ValueError, match="batch sizes differ"):
        metrics.ExpectedFrequency()(x_batch=np.zeros((BATCH + 1, 1, 8, 8)), a_batch=a)
    with pytest.raises(TypeError, match="unexpected keyword arguments: smoothing"):
        metrics.ExpectedFrequency()(a_batch=a, smoothing=True)
    with pytest.raises(ValueError, match="pass a_batch"):
        metrics.ExpectedFrequency()(x_batch=a)
    with pytest.raises(ValueError, match="channel_first="):
        metrics.ExpectedFrequency()(a_batch=np.zeros((BATCH, 8, 8, 8)))
    with pytest.raises(ValueError, match="unknown EF convention"):
        metrics.ExpectedFrequency(convention="paper")


def test_ef_runs_inside_quantus_evaluate_beside_sparseness_and_complexity_on_captum_maps():
    quantus = pytest.importorskip("quantus")
    torch = pytest.importorskip("torch")
    captum_attr = pytest.importorskip("captum.attr")
    from specxai_jax.models import init_variables
    from specxai_jax.models.registry import build_model

    model = build_model("cnn", num_classes=CLASSES, activation="relu", depth=2, width=4, dense=16)
    mirror = torch_mirror(init_variables(model, jax.random.key(3), np.inf, (1, SIZE, SIZE, 3))["params"], torch)
    x = np.random.default_rng(4).uniform(size=(BATCH, 3, SIZE, SIZE)).astype(np.float32)
    y = mirror(torch.tensor(x)).argmax(1).numpy()
    maps = captum_attr.Saliency(mirror).attribute(torch.tensor(x, requires_grad=True), target=torch.tensor(y),
                                                  abs=False).numpy()

    def input_x_gradient(model, inputs, targets, **kwargs):   # an explanation function in Quantus's convention
        return captum_attr.InputXGradient(model).attribute(torch.tensor(inputs, requires_grad=True),
                                                          target=torch.tensor(targets)).detach().numpy()

    results = quantus.evaluate(
        metrics={"EF": metrics.ExpectedFrequency(), "EF raw authors": metrics.ExpectedFrequency(rank=False,
                                                                                                convention="authors"),
                 "Sparseness": quantus.Sparseness(disable_warnings=True),
                 "Complexity": quantus.Complexity(disable_warnings=True)},
        xai_methods={"Saliency": maps, "InputXGradient": input_x_gradient}, explain_func_kwargs={},
        model=mirror, x_batch=x, y_batch=y)
    saliency = results["Saliency"]
    np.testing.assert_allclose(saliency["EF"], spectral.expected_frequency(maps, channel_axis=1), rtol=1e-6)
    np.testing.assert_allclose(saliency["EF raw authors"],
                               spectral.expected_frequency(maps.sum(1), rank=False, convention="authors"), rtol=1e-6)
    np.testing.assert_allclose(results["InputXGradient"]["EF"],
                               spectral.expected_frequency(input_x_gradient(mirror, x, y), channel_axis=1), rtol=1e-6)
    for method in results.values():
        assert all(len(method[name]) == BATCH and np.isfinite(method[name]).all()
                   for name in ("Sparseness", "Complexity"))


def torch_mirror(params, torch):
    """The project's PlainCNN (ReLU, 2 conv blocks) in PyTorch, float32, with the Flax weights copied."""

    class NHWCFlatten(torch.nn.Module):
        def forward(self, x):
            return x.permute(0, 2, 3, 1).flatten(1)   # Flax flattens NHWC

    def copied(layer, name, weight):
        layer.weight.data = torch.tensor(weight)
        layer.bias.data = torch.tensor(np.asarray(params[name]["bias"], np.float32))
        return layer

    layers = []
    for name in ("conv0", "conv1"):
        kernel = np.asarray(params[name]["kernel"], np.float32)
        conv = torch.nn.Conv2d(kernel.shape[2], kernel.shape[3], 3, padding=1)
        layers += [copied(conv, name, kernel.transpose(3, 2, 0, 1).copy()), torch.nn.ReLU(), torch.nn.MaxPool2d(2)]
    dense, head = (copied(torch.nn.Linear(*np.shape(params[name]["kernel"])), name,
                          np.asarray(params[name]["kernel"], np.float32).T.copy()) for name in ("dense", "head"))
    return torch.nn.Sequential(*layers, NHWCFlatten(), dense, torch.nn.ReLU(), head).eval()
