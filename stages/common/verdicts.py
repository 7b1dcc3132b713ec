"""Turning seed samples into verdicts.

A claim's check states a criterion on a seed sample (usually per-seed ratios of two runs on the
same seed) with a tolerance fixed in claims.yaml before the run. The seed spread decides between a
verdict and `inconclusive`:
- reproduced: the criterion holds on the median and still holds at the unfavourable quartile;
- not_reproduced: the criterion fails on the median and also at the favourable quartile;
- inconclusive: anything in between (the interquartile range straddles the tolerance), or a
  group lost more than half of its seeds to divergence.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE = "reproduced", "not_reproduced", "inconclusive"
VERDICTS = (REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE)
MAX_DIVERGED_SHARE = 0.5  # a group that lost more seeds than this cannot support a verdict


@dataclass(frozen=True)
class Spread:
    """Median and quartiles of the finite values of one group, with how many seeds it had."""

    median: float
    q25: float
    q75: float
    kept: int
    total: int

    @classmethod
    def of(cls, values, total: int | None = None) -> Spread:
        values = np.asarray(values, dtype=np.float64)
        finite = values[np.isfinite(values)]
        total = len(values) if total is None else total
        if finite.size == 0:
            return cls(float("nan"), float("nan"), float("nan"), 0, total)
        q25, median, q75 = np.quantile(finite, [0.25, 0.5, 0.75])
        return cls(float(median), float(q25), float(q75), int(finite.size), total)

    @property
    def lost(self) -> int:
        return self.total - self.kept

    def text(self, digits: int = 3) -> str:
        return (
            f"{self.median:.{digits}g} [{self.q25:.{digits}g}, {self.q75:.{digits}g}] "
            f"(n={self.kept}{f', {self.lost} lost' if self.lost else ''})"
        )

    def as_numbers(self, prefix: str) -> dict[str, float]:
        return {
            f"{prefix}_median": self.median,
            f"{prefix}_q25": self.q25,
            f"{prefix}_q75": self.q75,
            f"{prefix}_seeds_kept": float(self.kept),
            f"{prefix}_seeds_lost": float(self.lost),
        }


def too_many_lost(*spreads: Spread) -> bool:
    """More than half of some group's seeds diverged or were excluded."""
    return any(s.total == 0 or s.lost > MAX_DIVERGED_SHARE * s.total for s in spreads)


def decide(at_median: bool, at_pessimistic: bool, at_optimistic: bool) -> str:
    """Combine the criterion evaluated at the medians and at both quartile extremes."""
    if at_median and at_pessimistic:
        return REPRODUCED
    if not at_median and not at_optimistic:
        return NOT_REPRODUCED
    return INCONCLUSIVE


def threshold_verdict(spread: Spread, threshold: float, at_most: bool = False) -> str:
    """Verdict for `value >= threshold` (or <= with `at_most`) on a seed sample, e.g. paired per-seed
    ratios: the median decides, the quartile on the unfavourable side must agree to reproduce."""
    if too_many_lost(spread):
        return INCONCLUSIVE

    def holds(value: float) -> bool:
        return bool(value <= threshold) if at_most else bool(value >= threshold)

    pessimistic, optimistic = (spread.q75, spread.q25) if at_most else (spread.q25, spread.q75)
    return decide(holds(spread.median), holds(pessimistic), holds(optimistic))


def band_verdict(spread: Spread, low: float, high: float) -> str:
    """Verdict for `low <= value <= high` on a seed sample: the median decides, both quartiles must lie
    inside to reproduce, and the interquartile range must at least meet the band not to fail."""
    if too_many_lost(spread):
        return INCONCLUSIVE
    return decide(
        low <= spread.median <= high,
        low <= spread.q25 and spread.q75 <= high,
        spread.q25 <= high and spread.q75 >= low,
    )


def paired_ratio(numerator, denominator) -> np.ndarray:
    """Per-seed ratios of two runs on the same seed (same data set); NaN where either is lost."""
    numerator = np.asarray(numerator, dtype=np.float64)
    denominator = np.asarray(denominator, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = numerator / denominator
    return np.where(np.isfinite(ratio), ratio, np.nan)


def spearman(x, y) -> float:
    """Spearman rank correlation (average ranks for ties); NaN when either side is constant or has NaN."""
    if (
        np.isnan(np.asarray(x, dtype=np.float64)).any()
        or np.isnan(np.asarray(y, dtype=np.float64)).any()
    ):
        return float("nan")
    x_ranks = _average_ranks(np.asarray(x, dtype=np.float64))
    y_ranks = _average_ranks(np.asarray(y, dtype=np.float64))
    if np.std(x_ranks) == 0 or np.std(y_ranks) == 0:
        return float("nan")
    return float(np.corrcoef(x_ranks, y_ranks)[0, 1])


def _average_ranks(values: np.ndarray) -> np.ndarray:
    order = np.argsort(values, kind="mergesort")
    ranks = np.empty(len(values), dtype=np.float64)
    ranks[order] = np.arange(1, len(values) + 1)
    for value in np.unique(values):
        tied = values == value
        ranks[tied] = ranks[tied].mean()
    return ranks


def combine(verdicts: list[str]) -> str:
    """All parts must reproduce; any failed part fails the claim; otherwise (or with no part at all:
    nothing was judged) inconclusive."""
    if verdicts and all(v == REPRODUCED for v in verdicts):
        return REPRODUCED
    if any(v == NOT_REPRODUCED for v in verdicts):
        return NOT_REPRODUCED
    return INCONCLUSIVE


@dataclass
class ClaimOutcome:
    """What a claim check returns: the verdict and every number behind it.

    headline: the one number `dvc metrics show` lists beside the verdict (name, value).
    rows: a small table for the report (list of dicts with the same keys), e.g. one row per variant.
    """

    verdict: str
    headline: tuple[str, float]
    numbers: dict[str, float]
    summary: str
    rows: list[dict] = field(default_factory=list)

    def __post_init__(self):
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict {self.verdict!r} is not one of {VERDICTS}")
