"""The rows of the study's tidy table that the checks and the figures both read (the layout is in
measurement.py), so that neither imports the other."""

from __future__ import annotations

import pandas as pd

RANDOM_DIRECTION = "random_direction"  # the estimator column of P1's control rows
DIRECTION_METRICS = (
    "cosine_with_exact",
    "unrolled_neumann_relative_difference",
    "reference_unconverged_solves",
    "reference_max_relative_residual",
    "jacobian_spectral_radius_max",
)


def experiment_rows(
    table: pd.DataFrame, experiment: str, metric: str | None = None
) -> pd.DataFrame:
    """The rows of one experiment (dense | conv_timing), of one metric if given."""
    rows = table[table["experiment"] == experiment]
    return rows if metric is None else rows[rows["metric"] == metric]


def direction_rows(table: pd.DataFrame) -> pd.DataFrame:
    """P1's rows: what was measured at the dense variants' checkpoints."""
    rows = experiment_rows(table, "dense")
    return rows[rows["metric"].isin(DIRECTION_METRICS)]


def direction_cosines(table: pd.DataFrame, estimator: str) -> pd.DataFrame:
    """P1's cosines with the exact gradient for one phantom form (or RANDOM_DIRECTION, the control's
    random directions, one per k of the grid), with integer k and epoch."""
    rows = direction_rows(table)
    rows = rows[(rows["metric"] == "cosine_with_exact") & (rows["estimator"] == estimator)]
    return rows.astype({"estimator_k": "int64", "epoch": "int64"})


def training_backward_passes(table: pd.DataFrame) -> pd.DataFrame:
    """The dense variants' passes through f per training step, one row per (seed, epoch)."""
    return experiment_rows(table, "dense", "backward_passes_per_step")
