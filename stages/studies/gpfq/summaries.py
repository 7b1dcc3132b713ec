"""Reductions of the study's tidy table that the checks and the figures share (so a figure does not
import the checks, and an edit to a check reruns only the report)."""

from __future__ import annotations

import numpy as np
import pandas as pd


def log_log_slope(steps, values) -> float:
    """Least-squares slope of log(value) against log(step)."""
    return float(
        np.polyfit(np.log(np.asarray(steps, float)), np.log(np.asarray(values, float)), 1)[0]
    )


def hidden_layers(table: pd.DataFrame, variant: str) -> list[int]:
    metrics = table.loc[table["variant"] == variant, "metric"]
    layers = sorted(
        {int(m.split("_layer")[1].split("_")[0]) for m in metrics if m.startswith("gpfq_layer")}
    )
    return layers[:-1]
