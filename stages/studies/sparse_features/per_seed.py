"""Per-seed values of one variant from the tidy table (its final value, a window median, its
trajectory, whether the run diverged): the inputs of every claim check.

Values of seeds whose run diverged (metric `diverged` = 1) are NaN: the checks count them as lost
runs, which fail the criterion (stages/common/decision.py).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ...common.atomic import DataError


def _rows(table: pd.DataFrame, variant: str, metric: str) -> pd.DataFrame:
    rows = table[(table["variant"] == variant) & (table["metric"] == metric)]
    if rows.empty:
        raise DataError(f"the results table has no rows for variant {variant!r}, metric {metric!r}")
    return rows


def seeds(table: pd.DataFrame, variant: str) -> np.ndarray:
    return np.sort(table.loc[table["variant"] == variant, "seed"].unique())


def diverged(table: pd.DataFrame, variant: str) -> pd.Series:
    """Per seed: True where the run diverged (absent metric: nothing diverged)."""
    rows = table[(table["variant"] == variant) & (table["metric"] == "diverged")]
    if rows.empty:
        return pd.Series(False, index=seeds(table, variant))
    return rows.set_index("seed")["value"].astype(bool).sort_index()


def final(table: pd.DataFrame, variant: str, metric: str) -> pd.Series:
    """Per seed: the value at the last recorded step; NaN for diverged runs."""
    rows = _rows(table, variant, metric)
    last = rows.loc[rows.groupby("seed")["step"].idxmax()].set_index("seed")["value"].sort_index()
    return last.where(~diverged(table, variant).reindex(last.index, fill_value=False))


def window_median(
    table: pd.DataFrame, variant: str, metric: str, start: int, stop: int
) -> pd.Series:
    """Per seed: median of the values recorded at steps in [start, stop); NaN for diverged runs."""
    rows = _rows(table, variant, metric)
    inside = rows[(rows["step"] >= start) & (rows["step"] < stop)]
    if inside.empty:
        raise DataError(
            f"variant {variant!r} has no {metric!r} recorded between steps {start} and {stop}: "
            "raise the study's eval_points"
        )
    medians = inside.groupby("seed")["value"].median().sort_index()
    return medians.where(~diverged(table, variant).reindex(medians.index, fill_value=False))


def last_step(table: pd.DataFrame, variant: str) -> int:
    return int(table.loc[table["variant"] == variant, "step"].max())


def trajectories(table: pd.DataFrame, variant: str, metric: str) -> pd.DataFrame:
    """Per seed (rows) and evaluation step (columns, increasing): the recorded values; a diverged
    run's row is all NaN."""
    rows = _rows(table, variant, metric)
    grid = rows.pivot_table(index="seed", columns="step", values="value", dropna=False)
    grid = grid.sort_index().sort_index(axis=1)
    lost = diverged(table, variant).reindex(grid.index, fill_value=False)
    grid.loc[lost.to_numpy()] = np.nan
    return grid


def final_unmasked(table: pd.DataFrame, variant: str, metric: str) -> pd.Series:
    """Per seed: the value at the last recorded step, diverged runs included (for what a run used,
    such as its large step, rather than what it reached)."""
    rows = _rows(table, variant, metric)
    return rows.loc[rows.groupby("seed")["step"].idxmax()].set_index("seed")["value"].sort_index()
