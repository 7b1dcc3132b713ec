"""Reductions of the study's tidy table that the checks and the figures share (so a figure does not
import the checks, and an edit to a check reruns only the report)."""

from __future__ import annotations

import pandas as pd

from .config import BOARD

NETWORKS = {
    "relu": "ReLU + max-pool",
    "swish5": "Swish x·σ(5x) + avg-pool",
}  # CNN activation -> name
RUN_KEYS = ["variant", "image_side", "kernel_side", "weight_decay", "lr"]  # one board run (α, η)
LATE_DIFFERENCE_FROM = 0.75  # the late trajectory difference: max over the last quarter


def late_differences(table: pd.DataFrame) -> pd.DataFrame:
    """One row per board run: the late trajectory difference (max over the last quarter of
    checkpoints; NaN once a copy is lost), whether the run diverged, η as a fraction of 2/α, the
    linear PDE's α_min of its variant, and the run's median λmax·η/2 and λmin·η/2 over the late
    half (NaN without curvature rows)."""
    board = table[table["experiment"] == BOARD]
    alpha_min = (
        board[board["metric"] == "linear_pde_alpha_min"].set_index("variant")["value"].to_dict()
    )
    out = []
    for keys, group in board[board["lr"].notna()].groupby(RUN_KEYS):
        run = dict(zip(RUN_KEYS, keys, strict=True))
        diverged = bool(group[group["metric"] == "diverged"]["value"].max() == 1.0)
        difference = group[group["metric"] == "relative_weight_difference"]
        late = difference[difference["step"] >= LATE_DIFFERENCE_FROM * difference["step"].max()]
        late_max = (
            float(late["value"].max())
            if late["value"].notna().all() and len(late)
            else float("nan")
        )
        medians = {
            name: float(group[group["metric"] == metric]["value"].median())
            for name, metric in (
                ("sharpness_median", "sharpness_times_lr_over_2"),
                ("lowest_curvature_median", "lowest_curvature_times_lr_over_2"),
            )
        }
        out.append(
            {
                **run,
                "fraction_of_bound": run["lr"] * run["weight_decay"] / 2,
                "alpha_min": alpha_min.get(run["variant"], float("nan")),
                "late_difference": late_max,
                "diverged": diverged,
                **medians,
            }
        )
    return pd.DataFrame(out)
