"""--data-dir and --split reach load_dataset from every entry point that takes --dataset."""

import pytest

from specxai_jax import gap, sweep
from specxai_jax.cli import explanation_gap, reproduce, sweep_beta


class Loaded(Exception):
    """Raised by the stand-in loader once it has seen its arguments (nothing is trained)."""


@pytest.fixture
def seen(monkeypatch):
    calls = []

    def load_dataset(spec, **kwargs):
        calls.append({"spec": spec, **kwargs})
        raise Loaded

    monkeypatch.setattr(sweep, "load_dataset", load_dataset)
    monkeypatch.setattr(gap, "load_dataset", load_dataset)
    return calls


FLAGS = ["--dataset", "tfds:cifar10", "--data-dir", "/data/tfds", "--split", "train[:90%],train[90%:]"]


@pytest.mark.parametrize("entry", ["sweep", "gap", "reproduce-sweep", "reproduce-gap"])
def test_data_dir_and_split_are_passed_through(entry, seen, tmp_path):
    out = ["--out", str(tmp_path)]
    with pytest.raises(Loaded):
        if entry == "sweep":
            sweep_beta.main([*FLAGS, *out, "--no-progress"])
        elif entry == "gap":
            explanation_gap.main([*FLAGS, *out, "--quick", "--no-progress"])
        else:
            reproduce.main(["--target", "fig3" if entry == "reproduce-sweep" else "tab1", "--quick", *FLAGS, *out,
                            "--no-progress"])
    (call,) = seen
    assert (call["spec"], call["data_dir"], call["split"]) == ("tfds:cifar10", "/data/tfds", "train[:90%],train[90%:]")
