"""Reductions of the study's tidy table that the checks and the figures share (so a figure does not
import the checks, and an edit to a check reruns only the report)."""

from __future__ import annotations

import numpy as np
import pandas as pd


def log_log_slope(x, values) -> float:
    """Least-squares slope of log(value) against log(x)."""
    return float(np.polyfit(np.log(np.asarray(x, float)), np.log(np.asarray(values, float)), 1)[0])


def select(table: pd.DataFrame, variant: str | None, metric: str, **settings) -> pd.DataFrame:
    """The rows of one metric of one variant (None: of every variant) at the given settings (None: a
    setting that does not apply, i.e. null)."""
    rows = table[table["metric"] == metric]
    if variant is not None:
        rows = rows[rows["variant"] == variant]
    for name, value in settings.items():
        rows = rows[rows[name].isna() if value is None else rows[name] == value]
    return rows


def quantized_variants(table: pd.DataFrame) -> list[str]:
    """The quantization variants: those with GPFQ-quantized networks' test accuracies."""
    rows = table[(table["metric"] == "test_accuracy_percent") & (table["method"] == "gpfq")]
    return sorted(rows["variant"].unique())


def quantized_setting(table: pd.DataFrame, variant: str, column: str):
    """A setting every quantized row of `variant` shares (its model, its inputs)."""
    (value,) = table.loc[(table["variant"] == variant) & table["alphabet"].notna(), column].unique()
    return value


def hidden_layers(table: pd.DataFrame, variant: str) -> list[int]:
    """The layers ℓ of a quantized network but the last, from the `layer` column of its calibration
    errors."""
    layers = select(table, variant, "calibration_relative_error")["layer"].dropna().unique()
    return sorted(int(layer) for layer in layers)[:-1]
