"""C3's statistics: the decay points compared at matched training loss, and the order of a measure
along the decay points per seed (Andriushchenko et al. 2023, §3 and §4.1: the longer the large
step, the sparser and the better, with the decay factors tuned so that the final training losses
match; the notebooks print 6.3e-5 / 6.0e-5 / 6.7e-5 and 1.02e-5 / 1.12e-5 / 1.11e-5).

Matched training loss: for each seed, the common level is the largest of its runs' final training
losses (the level every run of the seed reaches by its end); each run is then read at the first
evaluation step, from its decay on, where its training loss is at or below that level. This needs
no extra runs (the alternative, a decayed step searched per seed so that the final losses match,
costs a run per candidate) and compares the runs where the paper compares them: at one training
loss.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from . import per_seed


def matched_steps(
    table: pd.DataFrame, variants: list[str], loss: str, decay_steps: list[int], seeds: list[int]
) -> tuple[np.ndarray, np.ndarray]:
    """Per seed: the common training-loss level (seeds,) and the step at which each variant first
    reaches it after its decay (seeds, variants); NaN where a run of the seed is lost."""
    grids = [per_seed.trajectories(table, v, loss).reindex(seeds) for v in variants]
    finals = np.stack([g.iloc[:, -1].to_numpy(dtype=np.float64) for g in grids], axis=1)
    lost = np.isnan(finals).any(axis=1)  # a diverged (or missing) run of the seed
    level = np.where(lost, np.nan, finals.max(axis=1))
    steps = np.full((len(seeds), len(variants)), np.nan)
    for k, (grid, start) in enumerate(zip(grids, decay_steps, strict=True)):
        after = grid.loc[:, grid.columns >= start]
        values = after.to_numpy(dtype=np.float64)
        reached = values <= level[:, None]
        first = np.argmax(reached, axis=1)
        found = reached.any(axis=1) & ~lost
        steps[found, k] = after.columns.to_numpy()[first[found]]
    return level, steps


def values_at(
    table: pd.DataFrame, variants: list[str], metric: str, steps: np.ndarray, seeds: list[int]
) -> np.ndarray:
    """(seeds, variants): each variant's `metric` at the given step of each seed (NaN: no step)."""
    out = np.full(steps.shape, np.nan)
    for k, variant in enumerate(variants):
        grid = per_seed.trajectories(table, variant, metric).reindex(seeds)
        columns = {step: j for j, step in enumerate(grid.columns)}
        values = grid.to_numpy(dtype=np.float64)
        for i, step in enumerate(steps[:, k]):
            if np.isfinite(step):
                out[i, k] = values[i, columns[int(step)]]
    return out


def ranks(values: np.ndarray) -> np.ndarray:
    """Average ranks along the last axis (ties share their mean rank); rows with NaN are NaN."""
    less = (values[..., :, None] > values[..., None, :]).sum(axis=-1)
    equal = (values[..., :, None] == values[..., None, :]).sum(axis=-1)
    ranked = (less + (equal + 1) / 2).astype(np.float64)
    return np.where(np.isnan(values).any(axis=-1, keepdims=True), np.nan, ranked)


def rank_correlation(points, values: np.ndarray) -> np.ndarray:
    """Spearman's rho between distinct `points` (k,) and each row of `values` (..., k): the Pearson
    correlation of their average ranks; 0 where a row is constant (all tied: no order), NaN where
    it has NaN (a lost run)."""
    x = ranks(np.asarray(points, dtype=np.float64)[None, :])[0]
    x = x - x.mean()
    y = ranks(values)
    y = y - y.mean(axis=-1, keepdims=True)
    norm = np.sqrt((x**2).sum() * (y**2).sum(axis=-1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(
            norm > 0, (y * x).sum(axis=-1) / norm, np.where(np.isnan(norm), np.nan, 0.0)
        )


def mean_order(values: np.ndarray) -> np.ndarray:
    """The statistic of C3's order parts: the mean over seeds of the per-seed rho, for a
    (resamples, seeds) array. A lost seed reaches it as the decision rule's failing value (+inf
    under an at-most criterion) and counts as the worst order, rho = +1. The mean, not the median:
    per-seed rho over three decay points takes only a few values, and a random order has
    P(rho <= -0.5) = 1/2, so a median would pass random orders half the time; the mean of random
    orders is 0."""
    return np.mean(np.minimum(values, 1.0), axis=1)
