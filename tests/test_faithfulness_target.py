"""The faithfulness and regularized reproduction targets: their statistics, the metric suite's orientation on a
linear model, the sweep's --ef-penalty option and store keys; the quick targets end to end (slow)."""

import csv
import math
import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from specxai_jax import sweep
from specxai_jax.cli import sweep_beta
from specxai_jax.configs import SweepConfig
from specxai_jax.data import load_dataset
from specxai_jax.errors import DataError
from specxai_jax.reproduction import faithfulness, regularized, targets
from specxai_jax.storage.store import config_key


def test_hierarchical_bootstrap_of_one_seed_is_the_normal_interval_of_the_mean():
    values = np.random.default_rng(0).normal(2.0, 1.0, 400)
    mean, low, high = faithfulness.hierarchical_bootstrap([values])
    half = 1.96 * values.std(ddof=1) / math.sqrt(values.size)
    assert mean == pytest.approx(values.mean())
    assert low == pytest.approx(values.mean() - half, abs=0.25 * half)
    assert high == pytest.approx(values.mean() + half, abs=0.25 * half)


def test_hierarchical_bootstrap_widens_with_the_spread_between_seeds():
    rng = np.random.default_rng(1)
    alike = [rng.normal(0, 1, 100) for _ in range(3)]
    apart = [values + shift for values, shift in zip(alike, (-3, 0, 3))]
    _, low_alike, high_alike = faithfulness.hierarchical_bootstrap(alike)
    _, low_apart, high_apart = faithfulness.hierarchical_bootstrap(apart)
    assert high_apart - low_apart > 5 * (high_alike - low_alike)


def test_verdict_is_three_way():
    assert faithfulness.verdict(0.1, 0.3) is True
    assert faithfulness.verdict(-0.3, -0.1) is False
    assert faithfulness.verdict(-0.1, 0.3) is None
    assert faithfulness.verdict(math.nan, 0.3) is None


@pytest.mark.slow
def test_every_metric_finds_the_true_attribution_of_a_linear_model_more_faithful_than_noise():
    """logits = (w·x, −w·x): w ⊙ x is the exact attribution of class 0 (w for infidelity's gradient form)."""
    rng = np.random.default_rng(2)
    weights = jnp.asarray(rng.normal(size=(8, 8, 1)), jnp.float32)
    model = lambda x: jnp.stack([(x * weights).sum((1, 2, 3)), -(x * weights).sum((1, 2, 3))], axis=-1)
    x = jnp.asarray(rng.uniform(0.2, 1.0, size=(16, 8, 8, 1)), jnp.float32)
    x = jnp.where((x * weights).sum((1, 2, 3), keepdims=True) > 0, x, x[:, ::-1])  # mostly class 0
    exact = {"infidelity": jnp.broadcast_to(weights[..., 0], (16, 8, 8))}
    noise = jnp.asarray(rng.normal(size=(16, 8, 8)), jnp.float32)
    for metric in faithfulness.metric_suite(64):
        true_map = exact.get(metric.name, (x * weights)[..., 0])
        key = jax.random.key(3)
        ours = metric.unfaithfulness(np.asarray(metric.score(model, x, true_map, key)))
        random = metric.unfaithfulness(np.asarray(metric.score(model, x, noise, key)))
        assert ours.mean() < random.mean(), metric.name


def test_spearman_rows_rank_a_metric_equal_to_g_perfectly():
    entries = []
    for seed in (0, 1):
        for index, (method, sigma) in enumerate([("smooth_grad", 0.1), ("smooth_grad", 0.2), ("smooth_grad", 0.4),
                                                 ("integrated_gradients", math.nan)]):
            gap = float(index + seed)
            entries.append(faithfulness.Entry(seed, "m", method, sigma, np.zeros(4), {"deletion": np.full(4, gap)},
                                              delta_ef=float(3 - index), gap=gap))
    suite = [m for m in faithfulness.metric_suite(64) if m.name == "deletion"]
    rows = {r["against"]: r for r in faithfulness.spearman_rows(entries, suite)}
    assert rows["gap"]["rho"] == pytest.approx(1.0) and rows["gap"]["n_units"] == 2
    assert rows["delta_ef"]["rho"] == pytest.approx(-1.0)


def _point(family, beta, weight, seed, ef, reached=True):
    return regularized.Point(family, family, beta, weight, seed, 0.8, 3, reached, np.full(5, ef), np.full(5, ef), {},
                             0.1, 1.0)


def test_best_at_cap_ignores_grid_points_where_a_seed_missed_the_cap():
    points = [_point("softplus", 1.0, 0.0, s, 0.1, reached=s == 0) for s in (0, 1)]
    points += [_point("softplus", 5.0, 0.0, s, 0.3) for s in (0, 1)]
    table = regularized.front_table(points, [])
    assert regularized.best_at_cap(table, "softplus")["beta"] == 5.0
    assert regularized.best_at_cap(table, "relu") is None


def test_ef_penalty_flag_is_a_list_and_bad_weights_are_one_line_errors(capsys):
    config = sweep_beta.sweep_config(sweep_beta.build_parser().parse_args(["--ef-penalty", "0,0.3", "--out", "x"]))
    assert config.ef_penalty == (0.0, 0.3)
    for bad in ("-1", "0,0", "nan", "a"):
        with pytest.raises(SystemExit):
            sweep_beta.build_parser().parse_args(["--ef-penalty", bad, "--out", "x"])
        assert capsys.readouterr().err.count("\n") == 1
    with pytest.raises(ValueError, match="ef_penalty"):
        sweep.resolve(SweepConfig(ef_penalty=(-1.0,)))


def test_store_keys_of_plain_training_are_unchanged_and_a_penalty_gets_its_own():
    config = sweep.resolve(SweepConfig(betas=(1.0, 2.0), seeds=(0, 1), ef_penalty=(0.0, 0.5), img_size=16, depth=2,
                                       dataset="synthetic:n_train=64,n_test=16"))
    dataset = load_dataset(config.dataset, img_size=16, seed=0)
    jobs = sweep.model_jobs(config, dataset)
    base = sweep.model_settings(config, dataset)
    plain = {job.key for job in jobs if job.ef_penalty == 0}
    assert plain == {config_key({**base, "beta": b, "seed": s}) for b in (1.0, 2.0) for s in (0, 1)}
    penalized = {job.key for job in jobs if job.ef_penalty == 0.5}
    assert len(penalized) == 4 and not penalized & plain


def _rows(path):
    with open(path, newline="") as stream:
        return list(csv.DictReader(stream))


@pytest.mark.slow
def test_faithfulness_target_runs_quick(tmp_path):
    record = targets.reproduce("faithfulness", tmp_path, quick=True, progress=False)
    table = _rows(tmp_path / "faithfulness.csv")
    assert {r["model"] for r in table} == set(faithfulness.MODELS[True])
    assert all(int(r["n_seeds"]) == 2 for r in table)
    for metric in faithfulness.metric_suite(256):
        assert all(float(r[f"{metric.name}_low"]) <= float(r[metric.name]) <= float(r[f"{metric.name}_high"])
                   for r in table if math.isfinite(float(r[metric.name])))
    assert len(_rows(tmp_path / "spearman.csv")) == 10
    assert all("95 % interval" in check["measured"] for check in record["checks"])
    assert (tmp_path / "fig_faithfulness.png").stat().st_size > 20_000



def test_regularized_scoring_refuses_a_sweep_model_without_its_checkpoint(tmp_path):
    """A sweep row whose checkpoint is gone (deleted, or discarded as corrupt) is one DataError, not a crash."""
    config = sweep.resolve(SweepConfig(dataset="synthetic:n_train=64,n_test=16", img_size=8, depth=1, width=4,
                                       dense=8, betas=(2.0,), seeds=(0,), batch_size=16, n_explain=4))
    rows = [{"beta": 2.0, "seed": 0, "diverged": False, "test_accuracy": 0.5, "epochs": 1, "reached_cap": False}]
    ctx = types.SimpleNamespace(out=tmp_path, notes=[])
    with pytest.raises(DataError, match="seed 0 is missing or unusable"):
        regularized.score_sweep(ctx, "softplus", rows, config, "softplus_beta2")

@pytest.mark.slow
def test_regularized_target_runs_quick(tmp_path):
    record = targets.reproduce("regularized", tmp_path, quick=True, progress=False)
    table = _rows(tmp_path / "fronts.csv")
    families = {(r["family"], float(r["beta"]), float(r["ef_penalty"])) for r in table}
    assert len(families) == len(regularized.BETAS[True]) + 2 * len(regularized.PENALTIES[True])
    assert record["checks"] and (tmp_path / "fig_regularized.png").stat().st_size > 20_000
    relu = {float(r["ef_penalty"]): float(r["raw_ef"]) for r in table if r["family"] == "relu"}
    assert relu[max(relu)] < relu[0.0]  # the penalty lowers what it penalizes
