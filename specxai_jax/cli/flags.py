"""Command lines built from the config dataclasses: one flag per field (``img_size`` ↔ ``--img-size``), its
help text and value kind taken from the field's metadata (:func:`specxai_jax.configs.setting`).

:func:`add_config_flags` adds the flags (each None unless given, so a preset, ``--quick`` or a ``--config``
file can fill it); :func:`given` reads back the fields a command line set; :func:`base_config` reads a
run's ``config.json`` as the starting point. :func:`specxai_jax.configs.to_flags` is the inverse: the flags
that turn a base config into a given one (tested as a round trip).
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Any, Callable, Sequence

from specxai_jax import configs
from specxai_jax.cli import validation
from specxai_jax.data.load import MAX_IMG_SIZE
from specxai_jax.errors import UsageError
from specxai_jax.storage import atomic

MAX_GAP_DEPTH = 100  # conv blocks, ResNet stages or ViT blocks: far above any of the paper's models


def _choices(name: str) -> Callable[[], list[str]]:
    """The allowed values of a kind, read when a parser is built (models and activations load Flax)."""
    def allowed() -> list[str]:
        if name == "activation":
            from specxai_jax.ops import activations
            return list(activations.ACTIVATIONS)
        if name == "conv_model":
            from specxai_jax.models.registry import CONV_VARIANTS
            return list(CONV_VARIANTS)
        return list(configs.PRESETS)
    return allowed


def _directory(text: str) -> str:
    """A writable directory (created if needed), as a string."""
    return str(validation.writable_dir(text))


KINDS: dict[str, Callable[[str], Any]] = {
    "dataset": validation.dataset_spec,
    "betas": validation.beta_list,
    "seeds": validation.seed_list,
    "penalties": validation.penalty_list,
    "models": validation.model_spec_list,
    "sigmas": validation.positive_float_list,
    "paths": validation.text_list,
    "directory": _directory,
    "depth": validation.int_in_range(1, validation.MAX_DEPTH, " (each halves the image)"),
    "gap_depth": validation.int_in_range(1, MAX_GAP_DEPTH),
    "img_size": validation.int_in_range(1, MAX_IMG_SIZE),
    "seed": validation.int_in_range(0, validation.MAX_SEED),
    "count": validation.positive_int,
    "positive": validation.positive_float,
    "nonnegative": validation.nonnegative_float,
    "fraction": validation.fraction,
}
"""Value kinds of config fields → the argparse type that checks a typed value (one-line errors)."""
CHOICES = {kind: _choices(kind) for kind in ("activation", "conv_model", "preset")}
LISTS = {"betas", "seeds", "penalties", "models", "sigmas", "paths"}
"""Kinds whose flag takes comma-separated values, also given as several words (``--sigmas 0.1 0.2``)."""


def add_config_flags(parser: argparse.ArgumentParser, cls: type, shown: Any, *, skip: Sequence[str] = (),
                     groups: dict[str, Any] | None = None) -> None:
    """``--NAME`` for every field of ``cls`` but ``skip``: default None, help from the field's metadata and the
    value ``shown`` (a config) has; ``groups`` puts a field's flag in a (mutually exclusive) group."""
    for field in dataclasses.fields(cls):
        if field.name in skip:
            continue
        meta, value = field.metadata, getattr(shown, field.name)
        default = meta.get("unset") or "none" if value is None else configs.flag_value(value)
        options: dict[str, Any] = {"default": None, "help": f"{meta.get('help', '')} (default: {default})".replace("%", "%%")}
        kind = meta.get("kind")
        if kind in CHOICES:
            options["choices"] = CHOICES[kind]()
        elif kind is not None:
            options["type"] = KINDS[kind]
        if kind in LISTS:
            options["nargs"] = "+"
        (groups or {}).get(field.name, parser).add_argument(f"--{field.name.replace('_', '-')}", **options)


def given(args: argparse.Namespace, cls: type) -> dict[str, Any]:
    """The fields of ``cls`` the command line set: non-None flags, lists (also several words) as one tuple."""
    out = {}
    for field in dataclasses.fields(cls):
        value = getattr(args, field.name, None)
        if value is None:
            continue
        if isinstance(value, list):
            value = tuple(item for part in value for item in (part if isinstance(part, list) else [part]))
        out[field.name] = value
    return out


def base_config(path: str | None, cls: type, default: Any) -> Any:
    """The run described by the ``config.json`` at ``path`` (a run's own: it reproduces that run), else
    ``default``. Every value is checked as its flag would check it; keys that are not fields are ignored."""
    if path is None:
        return default
    try:
        mapping = atomic.from_json(Path(path).read_text(encoding="utf-8"))
        if not isinstance(mapping, dict):
            raise ValueError("not a JSON object")
        return configs.from_mapping(cls, {name: _checked(field, mapping[name]) for name, field in
                                          ((f.name, f) for f in dataclasses.fields(cls)) if name in mapping})
    except (OSError, ValueError, TypeError, argparse.ArgumentTypeError) as error:
        raise UsageError(f"--config {path}: cannot read a {cls.__name__} from it ({error}); pass a run's "
                         "config.json") from None


def _checked(field: dataclasses.Field, value: Any) -> Any:
    """A config file's ``value`` of ``field``, checked by the field's flag (None stays None)."""
    kind = field.metadata.get("kind")
    if value is None or kind is None:
        return value
    if isinstance(value, (list, tuple)) and not value and field.default == ():
        return ()   # an empty list where the field's own default is one (e.g. no pretrained checkpoints)
    if kind in CHOICES:
        if value not in CHOICES[kind]():
            raise ValueError(f"{field.name} {value!r} is not one of {', '.join(CHOICES[kind]())}")
        return value
    try:
        parsed = KINDS[kind](configs.flag_value(value))
    except argparse.ArgumentTypeError as error:
        raise ValueError(f"{field.name}: {error}") from None
    return tuple(parsed) if isinstance(parsed, list) else parsed


def add_config_file_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="FILE.json",
                        help="start from the settings in this file (a run's config.json reproduces that run); "
                             "flags given override it")
