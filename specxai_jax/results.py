"""Typed records of what runs produce, and their files.

One record type per output row: :class:`ModelResult` (a β-sweep's results.csv), :class:`GapRow` (gap.csv),
:class:`SigmaRow` (gap_vs_sigma.csv), and :class:`Check` (one computed check of a paper's claim, listed in
a run's checks.json). A CSV's columns are its record's fields, in order (:func:`columns`).
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any, Iterable, Sequence

from specxai_jax.errors import DataError
from specxai_jax.storage import atomic

CHECKS_FILE = "checks.json"


@dataclasses.dataclass(frozen=True)
class ModelResult:
    """One trained and explained model of a β-sweep (a row of results.csv).

    EF statistics are on the unit frequency scale (``ef_ref`` = EF/K); NaN for a diverged model. ``ef``,
    ``ef_std`` and ``ef_ref`` are of the rank-normalized maps (the paper's protocol); ``ef_penalty``: the λ of EF-regularized training (0: plain); ``ef_raw`` is the mean EF
    of the same maps without rank normalization (unit scale).
    ``store_key``: the model's entry in the sweep's store (``out/models/<store_key>``); ``score``: what the
    maps explain ("log_prob": the predicted class's log-softmax, or "logit").
    """

    activation: str
    beta: float
    seed: int
    test_accuracy: float
    epochs: int
    ef: float
    ef_std: float
    ef_ref: float
    n_images: int
    train_seconds: float
    reached_cap: bool
    dead_maps: int
    diverged: bool
    store_key: str
    score: str
    ef_raw: float
    ef_penalty: float


@dataclasses.dataclass(frozen=True)
class GapRow:
    """EF of one method's maps of one model (a row of gap.csv).

    ``ef_change`` = EF(method) − EF(VanillaGrad), signed; ``delta_ef`` = |ef_change| (the paper's ΔEF);
    ``pixel_gap``: mean squared difference of the rank-normalized maps to VanillaGrad's. NaN where the
    method is undefined for the model or the model diverged.
    """

    model: str
    activation: str
    method: str
    ef: float
    ef_std: float
    delta_ef: float
    pixel_gap: float
    n_images: int
    diverged: bool
    ef_change: float


@dataclasses.dataclass(frozen=True)
class SigmaRow:
    """SmoothGrad at one noise level σ, or IntGrad (σ NaN), of one model (a row of gap_vs_sigma.csv).

    ``gap``: the direct gap G = E‖∇f − ∇f̂‖²; ``spearman_delta_ef_vs_gap``: ρ(ΔEF, G) over the model's σ grid.
    """

    model: str
    method: str
    sigma: float
    ef: float
    delta_ef: float
    gap: float
    spearman_delta_ef_vs_gap: float
    diverged: bool
    ef_change: float


@dataclasses.dataclass(frozen=True)
class Check:
    """One computed check of a claim.

    ``holds``: True or False as computed, None when it could not be decided (``inconclusive`` says why);
    ``measured``: the numbers behind it; ``interval``: the (low, high) interval it was judged with, if any.
    """

    claim: str
    holds: bool | None
    measured: str
    interval: tuple[float, float] | None = None
    inconclusive: str | None = None

    def __post_init__(self):
        if self.holds not in (True, False, None) or not isinstance(self.holds, (bool, type(None))):
            raise TypeError(f"holds must be True, False or None, got {self.holds!r}")
        if self.interval is not None:
            object.__setattr__(self, "interval", tuple(float(v) for v in self.interval))
            if len(self.interval) != 2:
                raise ValueError(f"interval must be (low, high), got {self.interval}")

    def to_json(self) -> dict:
        """Standard JSON values (a non-finite interval end is null)."""
        interval = None if self.interval is None else [v if math.isfinite(v) else None for v in self.interval]
        return {"claim": self.claim, "holds": self.holds, "measured": self.measured, "interval": interval,
                "inconclusive": self.inconclusive}

    @classmethod
    def from_json(cls, data: Any) -> Check:
        """The check written by :meth:`to_json`; DataError for anything else."""
        try:
            if not isinstance(data, dict) or not isinstance(data["claim"], str) \
                    or not isinstance(data["measured"], str):
                raise TypeError("claim and measured must be strings")
            interval = data.get("interval")
            if interval is not None:
                interval = tuple(math.nan if v is None else float(v) for v in interval)
            return cls(data["claim"], data["holds"], data["measured"], interval, data.get("inconclusive"))
        except (KeyError, TypeError, ValueError) as error:
            raise DataError(f"not a check record ({error}): {data!r}") from None


def columns(record_type: type) -> list[str]:
    """A record type's CSV columns: its field names, in order."""
    return [field.name for field in dataclasses.fields(record_type)]


def write_csv(path: str | Path, records: Sequence, record_type: type) -> None:
    """Atomically write ``records`` (instances of ``record_type``) as CSV with :func:`columns`."""
    atomic.write_csv(path, [dataclasses.asdict(record) for record in records], columns(record_type))


def write_checks(directory: str | Path, checks: Iterable[Check]) -> Path:
    """Atomically write ``directory/checks.json`` (a JSON list of checks); returns its path."""
    path = Path(directory) / CHECKS_FILE
    atomic.write_text(path, json.dumps([check.to_json() for check in checks], indent=2, ensure_ascii=False,
                                       allow_nan=False) + "\n")
    return path


def read_checks(path: str | Path) -> list[Check]:
    """The checks of a checks.json file; DataError when it is not one."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as error:
        raise DataError(f"cannot read checks from {path}: {error}") from None
    if not isinstance(data, list):
        raise DataError(f"{path} does not hold a list of checks")
    return [Check.from_json(item) for item in data]


def verdict(check: Check) -> str:
    """A check's outcome as a table cell: "yes" only where it was computed to hold, "**no**", or
    "inconclusive" (never computed, or undecidable)."""
    return {True: "yes", False: "**no**", None: "inconclusive"}[check.holds]
