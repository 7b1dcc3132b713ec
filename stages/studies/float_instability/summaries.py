"""Reductions of the study's tidy table that the checks and the figures share (so a figure does not
import the checks, and an edit to a check reruns only the report)."""

from __future__ import annotations

import pandas as pd

from .config import BOARD


def late_differences(table: pd.DataFrame) -> pd.DataFrame:
    """One row per (α, η) of the board runs: the late trajectory difference (max over the last
    quarter of checkpoints; NaN once a copy is lost) and whether the run diverged."""
    board = table[table["experiment"] == BOARD]
    out = []
    for (alpha, lr), group in board.groupby(["weight_decay", "lr"]):
        diverged = bool(group[group["metric"] == "diverged"]["value"].max() == 1.0)
        difference = group[group["metric"] == "relative_weight_difference"]
        late = difference[difference["step"] >= 0.75 * difference["step"].max()]["value"]
        late_max = float(late.max()) if late.notna().all() and len(late) else float("nan")
        out.append(
            {"weight_decay": alpha, "lr": lr, "late_difference": late_max, "diverged": diverged}
        )
    return pd.DataFrame(out)
