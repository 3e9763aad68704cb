"""The trained models of a β-sweep folder, for reuse: ``load_model(out, beta=1.0, seed=0) → (model, variables)``.

    model, variables = load_model("runs/sweep", beta=1.0, seed=0)
    logits = model.apply(variables, images)                  # images (B, H, W, C) as the sweep saw them

The model is found through its row of ``out/results.csv`` (its store key) and read, verified, from
``out/models/<store_key>/checkpoint``; the architecture comes from ``out/config.json``.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

from specxai_jax import configs
from specxai_jax.configs import SweepConfig
from specxai_jax.errors import UsageError
from specxai_jax.models.registry import build_model
from specxai_jax.storage import atomic, checkpoints
from specxai_jax.storage.store import ResultStore


def _rows(out: Path) -> list[dict]:
    path = out / "results.csv"
    if not path.is_file():
        raise UsageError(f"{out} has no results.csv: pass the --out folder of a finished sweep")
    with open(path, newline="") as stream:
        rows = list(csv.DictReader(stream))
    if rows and "store_key" not in rows[0]:
        raise UsageError(f"{path} has no store_key column (written by an older version); run the same sweep again "
                         "into this folder: it reuses every trained model and adds the column")
    return rows


def _same_beta(text: str, beta: float) -> bool:
    value = float(text)
    return value == beta or (math.isinf(value) and math.isinf(beta))


def load_model(out, *, beta: float, seed: int, activation: str | None = None, ef_penalty: float = 0.0):
    """(Flax module, variables) of the sweep model of ``beta`` (``math.inf`` or None for ReLU/GELU), ``seed``
    and EF-penalty weight ``ef_penalty`` (0: plain training) in the sweep folder ``out``; ``activation``, if
    given, must be the sweep's.

    ``model.apply(variables, x)`` gives the logits (B, classes) of images x (B, H, W, C).
    Raises :class:`~specxai_jax.errors.UsageError` when the folder holds no such model, and
    :class:`~specxai_jax.errors.CorruptCheckpoint` when its checkpoint does not verify.
    """
    out = Path(out)
    beta = math.inf if beta is None else float(beta)
    rows = _rows(out)
    matches = [row for row in rows if _same_beta(row["beta"], beta) and int(row["seed"]) == int(seed)
               and activation in (None, row["activation"]) and float(row.get("ef_penalty") or 0.0) == ef_penalty]
    if len(matches) != 1:
        models = ", ".join(f"{row['activation']} β={row['beta']} seed {row['seed']} λ={row.get('ef_penalty') or 0}"
                           for row in rows) or "none"
        raise UsageError(f"{out} has no model {activation or ''} β={beta:g} seed {seed} λ={ef_penalty:g}; "
                         f"its models: {models}")
    config = configs.from_mapping(SweepConfig, atomic.from_json((out / "config.json").read_text()))
    variables, _ = checkpoints.load_variables(ResultStore(out).checkpoint_path(matches[0]["store_key"]))
    return sweep_model(config, variables["params"]["head"]["kernel"].shape[-1]), variables


def sweep_model(config: SweepConfig, num_classes: int):
    """The sweep's conv net (``config.model``: plain, or with skips and/or batch norm) for ``num_classes``."""
    return build_model(config.model, num_classes=num_classes, activation=config.activation, depth=config.depth,
                       width=config.width, dense=config.dense)
