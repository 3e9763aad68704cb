"""Datasets as arrays: ``load_dataset("synthetic" | "tfds:NAME" | "npz:PATH" | "folder:PATH")``.

Every source yields a :class:`Dataset` of images (N, H, W, C) float32 in [0, 1] and labels (N,) int32;
every problem raises :class:`DataError` (a ``ValueError``) whose message is one line.
"""

from specxai_jax.data.dataset import Dataset
from specxai_jax.data.load import load_dataset
from specxai_jax.data.spec import DatasetSpec, parse_spec
from specxai_jax.errors import DataError

__all__ = ["Dataset", "DataError", "DatasetSpec", "load_dataset", "parse_spec"]
