"""The one map from model family names to modules (:func:`build_model`), and model specs such as
``cnn-softplus:3`` or ``vit-gelu``."""

from __future__ import annotations

import dataclasses
import math

from specxai_jax.errors import UsageError
from specxai_jax.models.cnn import PlainCNN
from specxai_jax.models.resnet import ResNet
from specxai_jax.models.vit import ViT
from specxai_jax.ops import activations

CONV_VARIANTS = {  # PlainCNN's options per conv family
    "cnn": dict(skip=False, batch_norm=False),
    "cnn-skip": dict(skip=True, batch_norm=False),
    "cnn-bn": dict(skip=False, batch_norm=True),
    "cnn-skip-bn": dict(skip=True, batch_norm=True),
}
MODULES = {**dict.fromkeys(CONV_VARIANTS, PlainCNN), "resnet": ResNet, "vit": ViT}
FAMILIES = tuple(MODULES)


def build_model(name: str, *, num_classes: int, activation: str = "relu", depth: int | None = None, **options):
    """A Flax module of family ``name`` (one of FAMILIES); ``options`` go to the module (e.g. width, dense).

    The conv families are :class:`~specxai_jax.models.cnn.PlainCNN` with the skips and batch norm of
    CONV_VARIANTS; ``depth`` defaults to the module's own (conv blocks, ResNet stages or ViT blocks).
    """
    if name not in MODULES:
        raise UsageError(f"unknown model family {name!r}; choose one of {', '.join(FAMILIES)}")
    activations.get(activation)
    module, fixed = MODULES[name], CONV_VARIANTS.get(name, {})
    settings = dict(num_classes=num_classes, activation=activation, **options)
    if depth is not None:
        settings["depth"] = depth
    accepted = {field.name for field in dataclasses.fields(module)} - {"parent", "name", *fixed}
    unknown = sorted(set(settings) - accepted)
    if unknown:
        raise UsageError(f"model family {name!r} takes no option {', '.join(unknown)}; "
                         f"its options: {', '.join(sorted(accepted))}")
    return module(**fixed, **settings)


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """A parsed ``FAMILY-ACTIVATION[:β]`` spec; β = inf for ReLU and GELU."""

    family: str
    activation: str
    beta: float

    @property
    def name(self) -> str:
        """Canonical spelling, e.g. ``cnn-softplus:3`` or ``vit-gelu``."""
        if math.isinf(self.beta) or self.activation not in activations.SMOOTHED:
            return f"{self.family}-{self.activation}"
        return f"{self.family}-{self.activation}:{self.beta:g}"


def parse_model_spec(text: str) -> ModelSpec:
    """``cnn-relu``, ``cnn-softplus:3``, ``vit-gelu``, ``cnn-skip-bn-gauss:10`` → ModelSpec.

    SoftPlus and Gauss need β (a number, or ``relu``/``inf``); ReLU and GELU take none.
    """
    body, _, beta_text = text.strip().partition(":")
    family, _, activation = body.rpartition("-")
    if family not in FAMILIES or activation not in activations.ACTIVATIONS:
        raise ValueError(f"model spec {text!r} is not FAMILY-ACTIVATION[:β] with FAMILY in {FAMILIES} "
                         f"and ACTIVATION in {activations.ACTIVATIONS}")
    if activation in activations.SMOOTHED:
        if not beta_text:
            raise ValueError(f"model spec {text!r} needs β for {activation}, e.g. {body}:3")
        return ModelSpec(family, activation, activations.parse_beta(beta_text))
    if beta_text:
        raise ValueError(f"model spec {text!r}: {activation} takes no β")
    return ModelSpec(family, activation, math.inf)
