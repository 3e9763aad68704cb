"""Model families by name and experiment model specs such as ``cnn-softplus:3`` or ``vit-gelu``."""

from __future__ import annotations

import dataclasses
import math

from specxai_jax import activations
from specxai_jax.models.cnn_variants import ConvNet
from specxai_jax.models.resnet import ResNet
from specxai_jax.models.vit import ViT

CONV_VARIANTS = {
    "cnn": dict(skip=False, batch_norm=False),
    "cnn-skip": dict(skip=True, batch_norm=False),
    "cnn-bn": dict(skip=False, batch_norm=True),
    "cnn-skip-bn": dict(skip=True, batch_norm=True),
}
FAMILIES = (*CONV_VARIANTS, "resnet", "vit")


def build_model(name: str, *, num_classes: int, activation: str = "relu", depth: int | None = None, **options):
    """A Flax module of family ``name`` (one of FAMILIES); ``options`` go to the module (e.g. width).

    ``depth`` defaults to the module's own (conv blocks, ResNet stages or ViT blocks).
    """
    activations.get(activation)
    settings = dict(num_classes=num_classes, activation=activation, **options)
    if depth is not None:
        settings["depth"] = depth
    if name in CONV_VARIANTS:
        return ConvNet(**CONV_VARIANTS[name], **settings)
    if name == "resnet":
        return ResNet(**settings)
    if name == "vit":
        return ViT(**settings)
    raise ValueError(f"unknown model family {name!r}; choose one of {', '.join(FAMILIES)}")


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
