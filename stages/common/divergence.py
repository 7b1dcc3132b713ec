"""How far apart copies of one training run end up (Sun et al. 2022, §3, Table 1 and Fig. 2).

- relative weight difference: the mean over entries of 2|w1 − w2| / (|w1| + |w2|) (entries where
  both are 0 count as 0), the paper's per-layer divergence measure; 0 for identical copies, 2 at most;
- prediction disagreement: the share of examples on which two copies predict different classes;
- spreads: the population standard deviation (ddof = 0, as the paper's Table 1) of a score across
  one axis of a (seeds × perturbations) grid, averaged over the other axis.
"""

from __future__ import annotations

import numpy as np


def relative_weight_difference(first: np.ndarray, second: np.ndarray) -> float:
    first, second = np.asarray(first, dtype=np.float64), np.asarray(second, dtype=np.float64)
    if first.shape != second.shape:
        raise ValueError(f"shapes differ: {first.shape} and {second.shape}")
    scale = np.abs(first) + np.abs(second)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(scale > 0, 2 * np.abs(first - second) / scale, 0.0)
    return float(ratio.mean())


def prediction_disagreement(first_labels: np.ndarray, second_labels: np.ndarray) -> float:
    first_labels, second_labels = np.asarray(first_labels), np.asarray(second_labels)
    if first_labels.shape != second_labels.shape:
        raise ValueError(f"shapes differ: {first_labels.shape} and {second_labels.shape}")
    return float(np.mean(first_labels != second_labels))


def bitwise_identical(first: np.ndarray, second: np.ndarray) -> bool:
    """Same shape, dtype and bytes (NaNs with equal payloads count as identical; -0.0 ≠ 0.0)."""
    first, second = np.ascontiguousarray(first), np.ascontiguousarray(second)
    return (
        first.shape == second.shape
        and first.dtype == second.dtype
        and first.tobytes() == second.tobytes()
    )


def spread_across(scores: np.ndarray, axis: int) -> float:
    """Population std of `scores` (a 2-D grid) along `axis`, averaged over the other axis: with a
    (seeds × perturbations) grid, axis=1 is the spread across perturbations at a fixed seed and
    axis=0 the spread across seeds at a fixed perturbation."""
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 2 or scores.shape[axis] < 2:
        raise ValueError(
            f"need a 2-D grid with at least 2 entries along axis {axis}, got shape {scores.shape}"
        )
    return float(np.std(scores, axis=axis, ddof=0).mean())
