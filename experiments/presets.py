"""Named experiment setups: the paper's Tab. 3 rows and the default synthetic run.

A preset fills every sweep setting the user does not give on the command line.
"""

from __future__ import annotations

import math

PAPER_BETAS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 2.0, 3.0, 5.0, 7.0, 10.0, 50.0, 100.0, math.inf)
"""The paper's β grid (Sec. 5) and ReLU (β = inf)."""

DEFAULT_BETAS = (0.5, 1.0, 2.0, 3.0, 5.0, 7.0, 10.0, 20.0, 50.0, 100.0, math.inf)
"""A grid spanning the paper's range that a laptop CPU trains in minutes. On the default synthetic task
β ≤ 0.2 stays at chance accuracy for 20 epochs (measured), so the grid starts at 0.5."""

DEFAULTS = {
    "dataset": "synthetic",
    "model": "cnn",
    "activation": "softplus",
    "betas": list(DEFAULT_BETAS),
    "seeds": [0],
    "depth": 3,
    "width": 16,
    "dense": 512,
    "img_size": 32,
    "lr": 1e-3,
    "lr_decay": 0.95,
    "batch_size": 64,
    "acc_cap": 0.9,
    "max_epochs": 20,
    "input_noise": 0.0,
    "max_train": None,
    "max_test": None,
    "n_explain": 500,
    "explain_noise": 0.0,
    "explain_samples": 1,
    "explain_batch": 250,
}
"""Settings of the default run: synthetic 32 px grayscale images, 10 classes, depth-3 plain conv net."""

PRESETS: dict[str, dict] = {
    "synthetic": {},
    "fashion_mnist": {"dataset": "tfds:fashion_mnist", "img_size": 28, "lr": 1e-4, "depth": 3, "acc_cap": 0.8,
                      "max_epochs": 200, "betas": list(PAPER_BETAS), "n_explain": 1000},
    "cifar10": {"dataset": "tfds:cifar10", "img_size": 32, "lr": 3e-3, "depth": 4, "acc_cap": 0.7,
                "max_epochs": 200, "betas": list(PAPER_BETAS), "n_explain": 1000},
    "imagenette-224": {"dataset": "tfds:imagenette/320px-v2", "img_size": 224, "lr": 1e-4, "depth": 5,
                       "acc_cap": 0.6, "max_epochs": 200, "betas": list(PAPER_BETAS), "n_explain": 1000},
    "imagenette-112": {"dataset": "tfds:imagenette/160px-v2", "img_size": 112, "lr": 1e-4, "depth": 5,
                       "acc_cap": 0.6, "max_epochs": 200, "betas": list(PAPER_BETAS), "n_explain": 1000},
    "imagenette-64": {"dataset": "tfds:imagenette/160px-v2", "img_size": 64, "lr": 3e-4, "depth": 5,
                      "acc_cap": 0.6, "max_epochs": 200, "betas": list(PAPER_BETAS), "n_explain": 1000},
    "imagenette-46": {"dataset": "tfds:imagenette/160px-v2", "img_size": 46, "lr": 5e-4, "depth": 5,
                      "acc_cap": 0.6, "max_epochs": 200, "betas": list(PAPER_BETAS), "n_explain": 1000},
}
"""Tab. 3 of the paper: dataset, input size, learning rate, depth and accuracy cap per setup."""


REPRODUCE_SEEDS = {"quick": (0, 1), "full": (0, 1, 2)}
"""Seeds of every β-sweep a reproduction target runs (``--quick`` or not), so its figures and tables can show
the spread across seeds; a target's own ``--seeds`` flag wins."""


def resolve(preset: str | None, overrides: dict) -> dict:
    """DEFAULTS ← PRESETS[preset] ← the non-None ``overrides``; unknown preset raises KeyError."""
    settings = dict(DEFAULTS)
    if preset is not None:
        settings.update(PRESETS[preset])
    settings.update({name: value for name, value in overrides.items() if value is not None})
    return settings
