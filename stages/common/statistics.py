"""Small seed statistics the checks share: per-seed ratios of paired runs and Spearman's rank
correlation (the checks' inputs to decision.Part; the decision rule itself is decision.py)."""

from __future__ import annotations

import numpy as np


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
