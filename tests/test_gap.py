"""specxai_jax.gap: the direct gap G against independent estimates, the table's verdicts, the figures,
settings refused before anything runs, and a diverged model's rows."""

from __future__ import annotations

import csv
import dataclasses
import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from specxai_jax import gap
from specxai_jax.attribution import METHODS, smooth_grad
from specxai_jax.configs import GapConfig
from specxai_jax.gap import report as gap_report
from specxai_jax.plots import gap as gap_plots

W1 = jnp.asarray(np.random.default_rng(0).standard_normal((4, 6)), jnp.float32)
W2 = jnp.asarray(np.random.default_rng(1).standard_normal((6, 3)), jnp.float32)


def tiny_apply(variables, x):
    """A two-layer tanh net on 2×2×1 images: logits (B, 3)."""
    return jnp.tanh(x.reshape(len(x), -1) @ W1) @ W2


X = jnp.asarray(np.random.default_rng(2).uniform(size=(2, 2, 2, 1)), jnp.float32)


def gradient_at(x, target):
    """∇ₓ log p(target | x) of one image (2, 2, 1), written out with jax.grad on the plain function."""
    return jax.grad(lambda image: jax.nn.log_softmax(tiny_apply(None, image[None]))[0, target])(x)


def test_smooth_gap_is_an_unbiased_estimate_of_the_squared_distance():
    """Over many keys, G with 2 samples (one per half) averages to ‖∇f − E∇f(x+ε)‖² (from 20 000 draws)
    within 4 standard errors; the squared norm of one average, off by the noise variance, would not."""
    sigma, target = 0.5, jnp.argmax(tiny_apply(None, X), axis=-1)
    draws = jax.random.normal(jax.random.key(123), (20000, *X.shape[1:]))
    estimates = np.asarray(jax.vmap(lambda key: gap.smooth_gap(tiny_apply, None, X, jnp.arange(2), key, sigma, 2)[0])(
        jax.random.split(jax.random.key(7), 4000)))
    for b in range(len(X)):
        grads = jax.vmap(lambda eps: gradient_at(X[b] + sigma * eps, target[b]))(draws)
        truth = float(((gradient_at(X[b], target[b]) - grads.mean(0)) ** 2).sum())
        error = estimates[:, b].std() / np.sqrt(len(estimates))
        assert abs(estimates[:, b].mean() - truth) < 4 * error
        assert float(grads.var(0).sum()) > 20 * error  # the biased estimate would be far outside


def test_smooth_gap_maps_are_smooth_grad_maps_of_the_same_noise():
    index = jnp.array([5, 9])
    _, maps = gap.smooth_gap(tiny_apply, None, X, index, jax.random.key(3), 0.2, 8)
    expected = smooth_grad(tiny_apply, None, X, sigma=0.2, samples=8, key=jax.random.key(3), index=index).sum(-1)
    np.testing.assert_allclose(np.asarray(maps), np.asarray(expected), rtol=1e-5, atol=1e-7)


def test_intgrad_gap_matches_a_fine_midpoint_rule():
    target = jnp.argmax(tiny_apply(None, X), axis=-1)
    alphas = (np.arange(2000) + 0.5) / 2000
    for b in range(len(X)):
        path = jax.vmap(lambda a: gradient_at(a * X[b], target[b]))(jnp.asarray(alphas, jnp.float32)).mean(0)
        expected = float(((gradient_at(X[b], target[b]) - path) ** 2).sum())
        got = float(gap.intgrad_gap(tiny_apply, None, X, 32)[b])
        assert got == pytest.approx(expected, rel=1e-3)


def gap_rows(efs, model="m"):
    """gap.csv rows of one model with the given EF per method (VanillaGrad's is the reference)."""
    reference = efs["vanilla_grad"]
    return [{"model": model, "method": method, "ef": ef, "ef_change": ef - reference, "delta_ef": abs(ef - reference)}
            for method, ef in efs.items()]


def test_ordering_check_holds_only_when_gradcam_moves_ef_most():
    holds = gap_report.ordering_check("m", gap_rows({"vanilla_grad": 0.5, "smooth_grad": 0.4, "gradcam": 0.2,
                                                     "lrp": float("nan")}))
    fails = gap_report.ordering_check("m", gap_rows({"vanilla_grad": 0.5, "deeplift": 0.0, "gradcam": 0.2}))
    assert holds.holds is True and fails.holds is False and "deeplift" in fails.measured


def test_a_method_that_raises_ef_breaks_the_lowers_ef_claim_and_is_named():
    lowered = gap_report.lowers_ef_check("m", gap_rows({"vanilla_grad": 0.73, "smooth_grad": 0.70, "gradcam": 0.2}))
    raised = gap_report.lowers_ef_check("m", gap_rows({"vanilla_grad": 0.73, "smooth_grad": 0.76, "gradcam": 0.2,
                                                       "lrp": float("nan")}))
    assert lowered.holds is True and "2 of 2" in lowered.measured
    assert raised.holds is False and "smooth_grad (+3.00e-02)" in raised.measured and "gradcam" not in \
        raised.measured.split("not lowered by")[1]
    table = gap_report.table_text([{**row, "ef_std": 0.0, "n_images": 4}
                                   for row in gap_rows({"vanilla_grad": 0.73, "smooth_grad": 0.76, "gradcam": 0.2})],
                                  {"m": 0.9}, [], 10, [raised])
    assert f"| {raised.claim} | **no** |" in table and "3.00 ↑" in table


def test_gap_rank_check_is_spearman_of_delta_ef_and_g_across_methods():
    from scipy.stats import spearmanr

    sweep = [{"model": "m", "method": "smooth_grad", "sigma": s, "delta_ef": d, "gap": g}
             for s, d, g in ((0.1, 0.01, 1.0), (0.2, 0.02, 2.0), (0.4, 0.03, 4.0))]
    sweep.append({"model": "m", "method": "integrated_gradients", "sigma": float("nan"), "delta_ef": 0.0001, "gap": 3.0})
    check = gap_report.gap_rank_check("m", sweep)
    rho = spearmanr([r["delta_ef"] for r in sweep], [r["gap"] for r in sweep]).statistic
    assert check.holds is False and f"ρ = {rho:+.2f}" in check.measured
    assert gap_report.gap_rank_check("m", sweep[:2]).holds is None


def test_sigma_summary_says_whether_delta_ef_tracks_g():
    def sweep(deltas):
        rows = [{"model": "m", "method": "smooth_grad", "sigma": s, "gap": g, "delta_ef": d,
                 "spearman_delta_ef_vs_gap": rho} for s, g, d in zip((0.1, 0.2, 0.3), (1.0, 2.0, 3.0), deltas)]
        return rows + [{"model": "m", "method": "integrated_gradients", "sigma": float("nan"), "gap": 5.0,
                        "delta_ef": 0.02}]

    rho = 1.0
    assert "ΔEF tracks G" in gap_report.sigma_summary(sweep((0.01, 0.02, 0.03)))[0]
    rho = -1.0
    assert "does NOT track G" in gap_report.sigma_summary(sweep((0.03, 0.02, 0.01)))[0]


def test_gap_vs_sigma_labels_each_point_with_its_sigma(tmp_path, monkeypatch):
    kept = []
    monkeypatch.setattr(gap_plots.plots.atomic, "save_figure", lambda fig, path, **kwargs: kept.append(fig))
    sweep = [{"model": model, "method": "smooth_grad", "sigma": sigma, "gap": g, "delta_ef": delta}
             for model in ("a", "b") for sigma, g, delta in ((0.05, 1.0, 0.01), (0.2, 10.0, 0.03))]
    sweep.append({"model": "a", "method": "integrated_gradients", "sigma": float("nan"), "gap": 5.0, "delta_ef": 0.02})
    gap_plots.plot_sweep(tmp_path / "fig.png", sweep)
    # models "a" and "b" are two families: one panel each, each σ labelled once per panel
    for ax in kept[0].axes:
        labels = sorted((text.get_text(), text.xy) for text in ax.texts)
        assert labels == sorted([("σ=0.05", (1.0, 0.01)), ("σ=0.2", (10.0, 0.03))])


@pytest.mark.parametrize("change,message", [
    (dict(models=("cnn-relu", "cnn-relu")), "more than once"),
    (dict(models=("cnn-softplus:3", "cnn-softplus:3.0")), "more than once"),  # one model, two spellings
    (dict(samples=1), "at least 2"),
    (dict(models=("cnn-tanh",)), "is not FAMILY-ACTIVATION"),
    (dict(img_size=4, depth=3, models=("cnn-relu",)), "too small"),
    (dict(img_size=18, models=("vit-gelu",)), "multiple of 4"),
    (dict(models=()), "empty"),
])
def test_settings_that_cannot_work_are_refused(change, message):
    with pytest.raises(ValueError, match=message):
        gap.check_config(dataclasses.replace(GapConfig(), **change))


def test_pretrained_runs_ignore_the_models():
    gap.check_config(GapConfig(pretrained=("some/checkpoint",), models=("cnn-relu", "cnn-relu"), img_size=None))


def test_diverged_model_is_flagged_not_given_a_number(tmp_path, monkeypatch, capsys):
    def diverging(apply_fn, variables, dataset, seeds, config, **kwargs):
        nan = jax.tree.map(lambda leaf: np.full_like(leaf, np.nan), variables)
        return types.SimpleNamespace(variables=nan, test_accuracy=np.array([0.1]), epochs=np.array([1]))

    monkeypatch.setattr(gap, "train_models", diverging)
    config = GapConfig(models=("cnn-relu",), img_size=8, max_train=64, max_test=16, n_explain=4, sigmas=(0.1, 0.2, 0.3))
    result = gap.run(config, tmp_path, progress=False)
    assert "diverged" in capsys.readouterr().err
    for name, written in (("gap.csv", result.rows), ("gap_vs_sigma.csv", result.sweep)):
        rows = list(csv.DictReader(open(tmp_path / name)))
        assert len(rows) == len(written) == (len(METHODS) if name == "gap.csv" else 4)
        assert all(r["diverged"] == "True" and np.isnan(float(r["ef"])) for r in rows)
    table = (tmp_path / "table.md").read_text()
    assert table.count("**diverged**") == len(METHODS) and "cnn-relu: diverged" in table
    assert (result.img_size, result.gradcam_layers, result.num_classes) == (8, {}, 10)


def test_library_errors_name_arguments_and_the_command_line_shows_flags(capsys):
    from specxai_jax.cli import validation

    config = dataclasses.replace(GapConfig(), models=("vit-gelu",), img_size=18)
    with pytest.raises(ValueError) as raised:
        gap.check_config(config)
    assert "`img_size` a multiple of 4" in str(raised.value) and "--" not in str(raised.value)

    def main(argv):
        gap.check_config(config)

    with pytest.raises(SystemExit):
        validation.cli_entry(main, [])
    assert "needs --img-size a multiple of 4, got 18" in capsys.readouterr().err
