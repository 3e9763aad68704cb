"""Experiment settings as frozen dataclasses, and the named setups (presets) built from them.

A setting's field name is its command-line flag's name (``img_size`` ↔ ``--img-size``) and its key in
``config.json``; its metadata carries the flag's help text and the kind of value it takes
(:func:`setting`), from which :mod:`specxai_jax.cli.flags` builds every command line. :func:`to_flags`
is the inverse (a config → the flags that give it), and :func:`from_mapping` reads a config back from its
``config.json``. Variants are ``dataclasses.replace(config, ...)``, never argv strings.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Mapping, Sequence, TypeVar

Config = TypeVar("Config")


def setting(default: Any, help: str, *, kind: str | None = None, unset: str | None = None) -> Any:
    """A config field with its command line: ``help`` text, ``kind`` of value (a key of
    :data:`specxai_jax.cli.flags.KINDS`; None: any text) and what ``unset`` (None) means."""
    return dataclasses.field(default=default, metadata={"help": help, "kind": kind, "unset": unset})


def flag_value(value: Any) -> str:
    """A setting as typed on the command line: β = inf as relu, tuples comma-separated, floats shortest."""
    if isinstance(value, (tuple, list)):
        return ",".join(map(flag_value, value))
    if isinstance(value, float):
        if math.isinf(value):
            return "relu"
        short = f"{value:g}"
        return short if float(short) == value else repr(value)
    return str(value)


def to_flags(config: Any, base: Any, skip: Sequence[str] = ()) -> list[str]:
    """``--name value`` for every field of ``config`` that differs from ``base`` (``acc_cap=None``: --no-cap):
    the command line that turns ``base`` into ``config`` (inverse of :func:`specxai_jax.cli.flags.given`)."""
    flags = []
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        if field.name in skip or value == getattr(base, field.name):
            continue
        if field.name == "acc_cap" and value is None:
            flags.append("--no-cap")
        elif value is None:
            raise ValueError(f"{field.name}=None has no flag (default {getattr(base, field.name)!r})")
        else:
            flags += ["--" + field.name.replace("_", "-"), flag_value(value)]
    return flags


def from_mapping(cls: type[Config], mapping: Mapping[str, Any]) -> Config:
    """The ``cls`` config a JSON mapping (e.g. a run's ``config.json``) describes: its keys that are fields
    (others, such as the environment, are ignored), lists as tuples; fields it lacks keep their defaults."""
    names = {field.name for field in dataclasses.fields(cls)}  # type: ignore[arg-type]
    given = {name: tuple(value) if isinstance(value, list) else value
             for name, value in mapping.items() if name in names}
    return cls(**given)

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

    dataset: str = setting("synthetic", "synthetic[:size=..,classes=..,channels=..], tfds:NAME, npz:PATH or folder:PATH",
                           kind="dataset")
    data_dir: str | None = setting(None, "where TFDS keeps prepared datasets", unset="TFDS's own")
    split: str | None = setting(None, "tfds: the test split (EVAL) or both (TRAIN,EVAL), e.g. validation or "
                                      "train[:90%],train[90%:]", unset="the dataset's own")
    model: str = setting("cnn", "plain conv net, or with skip connections and/or batch norm (Fig. 9)", kind="conv_model")
    activation: str = setting("softplus", "activation family", kind="activation")
    betas: tuple[float, ...] = setting(DEFAULT_BETAS, "β grid, e.g. 0.5,1,3,10,relu (relu = inf)", kind="betas")
    seeds: tuple[int, ...] = setting((0,), "seeds, e.g. 0,1,2 (each seed: its own init and data order)", kind="seeds")
    depth: int = setting(3, "conv blocks L", kind="depth")
    width: int = setting(16, "channels of the first conv block (doubles per block)", kind="count")
    dense: int = setting(512, "units of the hidden dense layer", kind="count")
    img_size: int = setting(32, "resize images to this many pixels per side", kind="img_size")
    lr: float = setting(1e-3, "Adam learning rate", kind="positive")
    lr_decay: float = setting(0.95, "learning-rate factor per epoch", kind="fraction")
    batch_size: int = setting(64, "training images per step", kind="count")
    acc_cap: float | None = setting(0.9, "stop a model once its test accuracy reaches this", kind="fraction",
                                    unset="none (--no-cap)")
    max_epochs: int = setting(20, "most epochs a model trains", kind="count")
    input_noise: float = setting(0.0, "std of Gaussian noise on training inputs (App. B)", kind="nonnegative")
    max_train: int | None = setting(None, "use at most this many training images", kind="count", unset="all")
    max_test: int | None = setting(None, "use at most this many test images", kind="count", unset="all")
    n_explain: int = setting(500, "test images explained per model", kind="count")
    explain_noise: float = setting(0.0, "std of the tiny input noise averaged over for VanillaGrad (authors: "
                                        "√1e-5 ≈ 0.0032; 0: exact)", kind="nonnegative")
    explain_samples: int = setting(1, "noisy copies averaged when --explain-noise > 0", kind="count")
    explain_batch: int = setting(250, "images per explanation batch (memory, not numbers)", kind="count")
    ef_penalty: tuple[float, ...] = setting((0.0,), "λ grid of EF-regularized training, λ·EF_raw(VanillaGrad map) "
                                                    "added to the loss, e.g. 0,0.3,1 (0: plain cross-entropy)",
                                            kind="penalties")
    preset: str | None = setting(None, "a named setup from the paper's Tab. 3", kind="preset", unset="none")
    matched_epochs: int | None = setting(None, "control for training length: also train the β grid exactly this "
                                               "many epochs without the cap, and report ρ(β, EF) on those models",
                                         kind="count", unset="off")


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

QUICK_SWEEP_OVERRIDES = dict(dataset="synthetic:n_train=1024,n_test=256", img_size=16, depth=2, betas=(2.0, 5.0, 20.0, math.inf),
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

    dataset: str = setting("synthetic", "synthetic[:k=v,..], tfds:NAME, npz:PATH or folder:PATH", kind="dataset")
    data_dir: str | None = setting(None, "where TFDS keeps prepared datasets", unset="TFDS's own")
    split: str | None = setting(None, "tfds: the test split (EVAL) or both (TRAIN,EVAL), e.g. validation or "
                                      "train[:90%],train[90%:]", unset="the dataset's own")
    models: tuple[str, ...] = setting(GAP_MODELS, "model specs FAMILY-ACTIVATION[:β], comma-separated, e.g. "
                                                  "cnn-relu,cnn-softplus:3,vit-gelu,resnet-relu", kind="models")
    pretrained: tuple[str, ...] = setting((), "explain these Hugging Face ResNet/ViT checkpoints (save_pretrained "
                                              "directories or hub names) instead of training models; images at the "
                                              "ViT's size (else img_size, default 224)", kind="paths", unset="none")
    checkpoint_dir: str | None = setting(None, "keep trained models in DIR/models and reuse those of the same "
                                               "settings", kind="directory", unset="nothing is kept")
    img_size: int | None = setting(32, "image side", kind="img_size", unset="the checkpoints'")
    depth: int | None = setting(None, "conv blocks / ResNet stages / ViT blocks", kind="gap_depth", unset="the model's")
    n_explain: int = setting(256, "test images explained per model", kind="count")
    max_train: int | None = setting(None, "use at most this many training images", kind="count", unset="all")
    max_test: int | None = setting(None, "use at most this many test images", kind="count", unset="all")
    lr: float = setting(1e-3, "Adam learning rate", kind="positive")
    acc_cap: float | None = setting(0.9, "stop training once test accuracy reaches this", kind="fraction",
                                    unset="none (--no-cap)")
    max_epochs: int = setting(20, "most epochs a model trains", kind="count")
    smooth_sigma: float = setting(0.15, "SmoothGrad σ of the table", kind="positive")
    sigmas: tuple[float, ...] = setting(GAP_SIGMAS, "σ grid for G vs ΔEF, comma-separated", kind="sigmas")
    samples: int = setting(16, "SmoothGrad noise samples (≥ 2: G uses two halves)", kind="count")
    ig_steps: int = setting(32, "IntGrad quadrature nodes", kind="count")
    seed: int = setting(0, "initialisation, data order and SmoothGrad noise", kind="seed")


GAP_QUICK = GapConfig(img_size=16, n_explain=32, samples=8, ig_steps=16, max_train=512, max_test=128)
"""Small data, few images and samples: minutes on a CPU."""

QUICK_GAP_OVERRIDES = dict(max_train=1024, max_epochs=8, lr=2e-3, n_explain=16, sigmas=(0.05, 0.2, 0.4))
"""Overrides (on GAP_QUICK) of every quick reproduction explanation-gap run."""
