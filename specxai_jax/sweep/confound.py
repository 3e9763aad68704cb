"""Is "EF rises with β" about β, or about how long each model trained?

With an accuracy cap, smooth (low-β) models train many more epochs than ReLU-like ones, so ρ(β, EF) among
capped models mixes β with training length. Two controls, each a :class:`~specxai_jax.results.Check` with a
bootstrap interval over models (seeds pooled):

- ρ(β, EF) at matched training length: the same β grid trained a fixed number of epochs without the cap
  (``SweepConfig.matched_epochs``);
- the Spearman partial correlation of EF and β given epochs among the capped models (:func:`partial_spearman`).

A claim holds only where its 95 % interval lies above 0, fails where it lies below, and is inconclusive
where it straddles 0.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Sequence

import numpy as np
from numpy.typing import ArrayLike

from specxai_jax import stats
from specxai_jax.results import Check

N_BOOT = 2000
LEVEL = 0.95


def partial_spearman(x: ArrayLike, y: ArrayLike, z: ArrayLike) -> float:
    """Spearman partial correlation of x and y given z, all (n,): the Pearson partial correlation of their
    :func:`~specxai_jax.stats.average_ranks` (inf ranks highest),
    (r_xy − r_xz r_yz) / √((1 − r_xz²)(1 − r_yz²)). NaN where it is undefined: a NaN value, a constant
    sequence, or x or y fully determined by z.
    """
    columns = [np.asarray(values, np.float64) for values in (x, y, z)]
    if any(np.isnan(column).any() for column in columns):
        return math.nan
    ranks = np.stack([stats.average_ranks(column) for column in columns])
    if (ranks.std(axis=1) == 0).any():
        return math.nan
    r = np.corrcoef(ranks)
    r_xy, r_xz, r_yz = r[0, 1], r[0, 2], r[1, 2]
    denominator = (1 - r_xz**2) * (1 - r_yz**2)
    if denominator <= 1e-12:
        return math.nan
    return float(np.clip((r_xy - r_xz * r_yz) / math.sqrt(denominator), -1.0, 1.0))


@dataclasses.dataclass(frozen=True)
class Correlation:
    """One rank correlation over ``n`` models with its percentile-bootstrap interval (low, high) at LEVEL.

    ``value`` NaN where it is undefined (too few distinct β, constant EF or epochs)."""

    value: float
    low: float
    high: float
    n: int

    @property
    def holds(self) -> bool | None:
        """True where the interval lies above 0, False where below, None where it straddles 0 or is undefined."""
        if not all(map(math.isfinite, (self.value, self.low, self.high))):
            return None
        return True if self.low > 0 else False if self.high < 0 else None

    def __str__(self) -> str:
        if not math.isfinite(self.value):
            return f"undefined over {self.n} models"
        return f"{self.value:+.3f} [{self.low:+.3f}, {self.high:+.3f}] over {self.n} models"


def _usable(rows: Sequence[dict]) -> list[dict]:
    return [r for r in rows if not r.get("diverged") and math.isfinite(r["ef"])]


def rank_correlation(rows: Sequence[dict]) -> Correlation:
    """Spearman ρ(β, EF) over the rows (models, seeds pooled) with its bootstrap interval."""
    rows = _usable(rows)
    beta, ef = [r["beta"] for r in rows], [r["ef"] for r in rows]
    if len(set(beta)) < 3:
        return Correlation(math.nan, math.nan, math.nan, len(rows))
    value = stats.spearman(beta, ef)
    low, high = stats.bootstrap_interval(stats.spearman, beta, ef, n_boot=N_BOOT, level=LEVEL)
    return Correlation(value, low, high, len(rows))


def partial_correlation(rows: Sequence[dict]) -> Correlation:
    """Spearman partial correlation of EF and β given epochs over the rows, with its bootstrap interval."""
    rows = _usable(rows)
    beta, ef, epochs = ([r[name] for r in rows] for name in ("beta", "ef", "epochs"))
    value = partial_spearman(ef, beta, epochs) if len(set(beta)) >= 3 else math.nan
    if math.isnan(value):
        return Correlation(math.nan, math.nan, math.nan, len(rows))
    low, high = stats.bootstrap_interval(partial_spearman, ef, beta, epochs, n_boot=N_BOOT, level=LEVEL)
    return Correlation(value, low, high, len(rows))


@dataclasses.dataclass(frozen=True)
class ConfoundControl:
    """The main claim among capped models and its two controls for training length.

    ``matched`` None where no matched-epoch run was made; ``matched_epochs`` its epoch count."""

    capped: Correlation
    partial: Correlation
    matched: Correlation | None
    matched_epochs: int | None
    among: str
    epochs_range: tuple[int, int] | None

    def checks(self) -> list[Check]:
        """One check per correlation, judged by its interval."""
        out = [_check(f"EF rises with β among {self.among}, seeds pooled (Spearman ρ(β, EF), "
                      f"{LEVEL:.0%} bootstrap interval above 0)", self.capped,
                      "" if self.epochs_range is None else f"; epochs {self.epochs_range[0]}–{self.epochs_range[1]}"),
               _check(f"EF rises with β given epochs among {self.among} (Spearman partial ρ of β and EF given epochs, "
                      f"{LEVEL:.0%} bootstrap interval above 0)", self.partial, "")]
        if self.matched is not None:
            out.insert(1, _check(f"EF rises with β at matched training length ({self.matched_epochs} epochs, no "
                                 f"cap; Spearman ρ(β, EF), {LEVEL:.0%} bootstrap interval above 0)", self.matched, ""))
        return out

    def disagreement(self) -> str | None:
        """A plain sentence where a control's verdict differs from the capped one's, else None."""
        verdicts = {None: "inconclusive", True: "holds", False: "fails"}
        controls = [("the partial ρ given epochs", self.partial)]
        if self.matched is not None:
            controls.insert(0, (f"ρ at matched training length ({self.matched_epochs} epochs)", self.matched))
        differing = [f"{name} {verdicts[c.holds]} (ρ = {c})" for name, c in controls if c.holds != self.capped.holds]
        if not differing:
            return None
        return (f"The controls disagree with the capped ρ: among {self.among} \"EF rises with β\" "
                f"{verdicts[self.capped.holds]} (ρ = {self.capped}), but " + "; ".join(differing) +
                ". Training length confounds the capped result.")


def _check(claim: str, correlation: Correlation, extra: str) -> Check:
    measured = f"ρ = {correlation}{extra}"
    interval = None if math.isnan(correlation.value) else (correlation.low, correlation.high)
    reason = None
    if correlation.holds is None:
        reason = "the interval contains 0" if interval is not None else \
            "undefined: fewer than 3 β, or EF, β or epochs constant"
    return Check(claim, correlation.holds, measured, interval=interval, inconclusive=reason)


def control(rows: Sequence[dict], matched_rows: Sequence[dict] | None, *, capped_only: bool,
            matched_epochs: int | None) -> ConfoundControl:
    """:class:`ConfoundControl` of a sweep's rows (only those that reached the cap where ``capped_only``) and
    of its matched-epoch rows (None: not run)."""
    comparable = [r for r in _usable(rows) if r["reached_cap"] or not capped_only]
    epochs = [r["epochs"] for r in comparable]
    return ConfoundControl(
        capped=rank_correlation(comparable), partial=partial_correlation(comparable),
        matched=None if matched_rows is None else rank_correlation(matched_rows), matched_epochs=matched_epochs,
        among="capped models" if capped_only else "all models (no cap)",
        epochs_range=(min(epochs), max(epochs)) if epochs else None)
