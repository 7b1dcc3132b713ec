"""Sparsity measurements of Andriushchenko et al. 2023.

- effective_nonzeros (diagonal nets): the participation ratio ||beta||_1² / ||beta||_2², a
  threshold-free count of the coordinates of beta = u ⊙ v that carry weight (k for k equal
  non-zeros, 1 for one).
- nonzeros_paper (diagonal nets): #{i : |beta_i| > 1e-50}, the paper's l0 count (meaningful only in
  float64 and after many steps).
- feature_sparsity_coefficient (ReLU nets, §4.1 and the public code's `feature_sparsity`): the
  features phi = ReLU(W1 x) with each example's row normalised to unit norm; neurons never active
  are dropped; neurons are scanned in order and one is dropped when its |Pearson correlation| with
  a later neuron still present exceeds `correlation_threshold`; the coefficient is the share of
  non-zero entries of the kept columns among all n·m entries. Lower is sparser; a dead network
  scores 0, so only runs that fit the training data are judged.
"""

from __future__ import annotations

import numpy as np

PAPER_L0_THRESHOLD = 1e-50


def effective_nonzeros(beta: np.ndarray) -> np.ndarray:
    """Participation ratio over the last axis; NaN where beta is all zero or not finite."""
    l1 = np.abs(beta).sum(axis=-1)
    l2_squared = (beta**2).sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(l2_squared > 0, l1**2 / l2_squared, np.nan)


def nonzeros_paper(beta: np.ndarray) -> np.ndarray:
    counts = (np.abs(beta) > PAPER_L0_THRESHOLD).sum(axis=-1).astype(np.float64)
    return np.where(np.isfinite(beta).all(axis=-1), counts, np.nan)


def normalised_features(hidden: np.ndarray, inputs: np.ndarray) -> np.ndarray:
    """phi = ReLU(inputs @ hiddenᵀ) with each row (example) scaled to unit norm; all-zero rows stay 0."""
    features = np.maximum(inputs @ hidden.T, 0.0)
    norms = np.linalg.norm(features, axis=1, keepdims=True)
    return np.divide(features, norms, out=np.zeros_like(features), where=norms > 0)


def feature_sparsity_coefficient(
    features: np.ndarray, correlation_threshold: float = 0.99
) -> float:
    """Share of non-zero entries in the active, de-duplicated feature columns (see module doc)."""
    rows, columns = features.shape
    active = np.flatnonzero((features > 0).sum(axis=0) > 0)
    kept = []
    if len(active) > 1:
        correlation = np.corrcoef(features[:, active].T)
        remaining = list(range(len(active)))
        for position in range(len(active)):
            others = [j for j in remaining if j != position]
            if others and np.any(np.abs(correlation[position, others]) > correlation_threshold):
                remaining.remove(position)
        kept = [active[j] for j in remaining]
    elif len(active) == 1:
        kept = list(active)
    return float((features[:, kept] != 0).sum() / (rows * columns))
