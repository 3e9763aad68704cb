"""Dataset spec strings: ``synthetic[:k=v,...]``, ``tfds:NAME``, ``npz:PATH``, ``folder:PATH``, and
``permuted:SPEC`` (SPEC with one fixed pixel permutation applied to every image)."""

from __future__ import annotations

import dataclasses
from types import MappingProxyType
from typing import Mapping

from specxai_jax.errors import DataError

SCHEMES = ("synthetic", "tfds", "npz", "folder", "permuted")
EXAMPLES = "synthetic, synthetic:size=64,classes=10, tfds:cifar10, npz:PATH, folder:PATH or permuted:synthetic"


@dataclasses.dataclass(frozen=True)
class DatasetSpec:
    """A parsed spec: ``scheme``, ``target`` (TFDS name, path or permuted's inner spec; "" for synthetic),
    ``options``."""

    scheme: str
    target: str = ""
    options: Mapping[str, int | float] = dataclasses.field(default_factory=lambda: MappingProxyType({}))


def parse_spec(spec: str) -> DatasetSpec:
    """Split and check a spec string; synthetic options are parsed to ints and range-checked.

    Paths are not touched here (a missing path is reported when the dataset is loaded).
    """
    from specxai_jax.data import synthetic  # the option table lives with the generator

    if not isinstance(spec, str) or not spec.strip():
        raise DataError(f"empty dataset spec {spec!r}; use one of: {EXAMPLES}")
    scheme, sep, rest = spec.strip().partition(":")
    if scheme not in SCHEMES:
        raise DataError(f"unknown dataset {spec!r}; use one of: {EXAMPLES}")
    if scheme == "synthetic":
        return DatasetSpec("synthetic", "", MappingProxyType(synthetic.parse_options(rest)))
    if scheme == "permuted":
        inner = parse_spec(rest) if rest.strip() else None
        if inner is None or inner.scheme == "permuted":
            raise DataError(f"dataset spec {spec!r} needs one dataset to permute, e.g. permuted:synthetic")
        return DatasetSpec("permuted", rest.strip())
    if not rest.strip():
        what = "a TFDS dataset name, e.g. tfds:cifar10" if scheme == "tfds" else f"a path, e.g. {scheme}:/data/mine"
        raise DataError(f"dataset spec {spec!r} lacks {what}")
    return DatasetSpec(scheme, rest.strip())
