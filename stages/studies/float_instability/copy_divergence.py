"""How far apart two copies of one training run end up (Sun et al. 2022, §3 and Fig. 2).

- relative weight difference: the mean over entries of 2|w1 − w2| / (|w1| + |w2|) (entries where
  both are 0 count as 0), the paper's per-layer divergence measure; 0 for identical copies, 2 at most;
- prediction disagreement: the share of examples on which two copies predict different classes;
- bitwise identity: the precondition that copies with the same k stay equal to the last bit.
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
