"""Experiment settings as frozen dataclasses, and the named setups (presets) built from them.

A setting's field name is its command-line flag's name (``img_size`` ↔ ``--img-size``) and its key in
``config.json``. Variants are ``dataclasses.replace(config, ...)``, never argv strings.
"""

from __future__ import annotations

import dataclasses
import math

PAPER_BETAS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 2.0, 3.0, 5.0, 7.0, 10.0, 50.0, 100.0, math.inf)
"""The paper's β grid (Sec. 5) and ReLU (β = inf)."""

DEFAULT_BETAS = (0.5, 1.0, 2.0, 3.0, 5.0, 7.0, 10.0, 20.0, 50.0, 100.0, math.inf)
"""A grid spanning the paper's range that a laptop CPU trains in minutes. On the default synthetic task
β ≤ 0.2 stays at chance accuracy for 20 epochs (measured), so the grid starts at 0.5."""


@dataclasses.dataclass(frozen=True)
class SweepConfig:
    """One β-sweep (:func:`specxai_jax.sweep.run`): data, model, training and explanation settings.

    The defaults are the default run: synthetic 32 px grayscale images, 10 classes, depth-3 plain
    conv net, 11 β, one seed. ``acc_cap=None`` trains every model for ``max_epochs``. ``matched_epochs=N``
    (with a cap) also trains the β grid for exactly N epochs without the cap, to control the main claim for
    training length (:mod:`specxai_jax.sweep.confound`).
    """

    dataset: str = "synthetic"
    data_dir: str | None = None
    split: str | None = None
    model: str = "cnn"
    activation: str = "softplus"
    betas: tuple[float, ...] = DEFAULT_BETAS
    seeds: tuple[int, ...] = (0,)
    depth: int = 3
    width: int = 16
    dense: int = 512
    img_size: int = 32
    lr: float = 1e-3
    lr_decay: float = 0.95
    batch_size: int = 64
    acc_cap: float | None = 0.9
    max_epochs: int = 20
    input_noise: float = 0.0
    max_train: int | None = None
    max_test: int | None = None
    n_explain: int = 500
    explain_noise: float = 0.0
    explain_samples: int = 1
    explain_batch: int = 250
    ef_penalty: tuple[float, ...] = (0.0,)  # λ grid of EF-regularized training (training.ef_penalty); 0: plain
    preset: str | None = None
    matched_epochs: int | None = None


def _paper(preset: str, dataset: str, img_size: int, lr: float, depth: int, acc_cap: float) -> SweepConfig:
    return SweepConfig(preset=preset, dataset=dataset, img_size=img_size, lr=lr, depth=depth, acc_cap=acc_cap,
                       max_epochs=200, betas=PAPER_BETAS, n_explain=1000)


PRESETS: dict[str, SweepConfig] = {
    "synthetic": SweepConfig(preset="synthetic"),
    "fashion_mnist": _paper("fashion_mnist", "tfds:fashion_mnist", 28, 1e-4, 3, 0.8),
    "cifar10": _paper("cifar10", "tfds:cifar10", 32, 3e-3, 4, 0.7),
    "imagenette-224": _paper("imagenette-224", "tfds:imagenette/320px-v2", 224, 1e-4, 5, 0.6),
    "imagenette-112": _paper("imagenette-112", "tfds:imagenette/160px-v2", 112, 1e-4, 5, 0.6),
    "imagenette-64": _paper("imagenette-64", "tfds:imagenette/160px-v2", 64, 3e-4, 5, 0.6),
    "imagenette-46": _paper("imagenette-46", "tfds:imagenette/160px-v2", 46, 5e-4, 5, 0.6),
}
"""Tab. 3 of the paper (dataset, input size, learning rate, depth and accuracy cap per setup), and the default."""

REPRODUCE_SEEDS = {"quick": (0, 1), "full": (0, 1, 2)}
"""Seeds of every β-sweep a reproduction target runs (quick or not), so its figures and tables can show
the spread across seeds."""

QUICK_SWEEP = dict(dataset="synthetic:n_train=1024,n_test=256", img_size=16, depth=2, betas=(2.0, 5.0, 20.0, math.inf),
                   lr=3e-3, acc_cap=0.7, max_epochs=8, n_explain=64)
"""Overrides of every quick reproduction sweep (minutes on a CPU)."""


GAP_MODELS = ("cnn-relu", "cnn-softplus:3", "vit-relu", "vit-gelu")
GAP_SIGMAS = (0.02, 0.05, 0.1, 0.2, 0.3)


@dataclasses.dataclass(frozen=True)
class GapConfig:
    """One explanation-gap run (:func:`specxai_jax.gap.run`): models (specs ``FAMILY-ACTIVATION[:β]``, or
    Hugging Face checkpoints in ``pretrained``), data, training and the methods' settings.

    ``img_size=None`` with ``pretrained``: the ViT checkpoints' size, else 224. ``depth=None``: each
    family's own default.
    """

    dataset: str = "synthetic"
    data_dir: str | None = None
    split: str | None = None
    models: tuple[str, ...] = GAP_MODELS
    pretrained: tuple[str, ...] = ()
    checkpoint_dir: str | None = None
    img_size: int | None = 32
    depth: int | None = None
    n_explain: int = 256
    max_train: int | None = None
    max_test: int | None = None
    lr: float = 1e-3
    acc_cap: float | None = 0.9
    max_epochs: int = 20
    smooth_sigma: float = 0.15
    sigmas: tuple[float, ...] = GAP_SIGMAS
    samples: int = 16
    ig_steps: int = 32
    seed: int = 0


GAP_QUICK = GapConfig(img_size=16, n_explain=32, samples=8, ig_steps=16, max_train=512, max_test=128)
"""Small data, few images and samples: minutes on a CPU."""

QUICK_GAP = dict(max_train=1024, max_epochs=8, lr=2e-3, n_explain=16, sigmas=(0.05, 0.2, 0.4))
"""Overrides (on GAP_QUICK) of every quick reproduction explanation-gap run."""
