"""The study's figures.

- trajectory_difference (the paper's Fig. on the one-layer model): relative weight difference between
  the baseline and the perturbed copy over GD steps, one line per η, log scale, one panel per α;
- regime_map: the late trajectory difference of each (η, α) against η/(2/α), diverged runs as ×;
- sharpness_over_edge: S·η/2 along the late baseline trajectory of each η, the edge at 1;
- accuracy_spread (the paper's Table 1 as a picture): last-epochs test accuracy of every copy, per
  seed (x) and perturbation k (colour), ReLU CNN and the smooth control.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import seaborn as sns

from ...common.figures import new_figure, seed_band_lines
from .config import BOARD, CNN, TWIN
from .summaries import late_differences

FLOOR = 1e-18  # zero differences drawn at this floor on the log axis


def board_rows(table: pd.DataFrame, metric: str) -> pd.DataFrame:
    rows = table[(table["experiment"] == BOARD) & (table["metric"] == metric)].copy()
    rows["η"] = rows["lr"].map(lambda lr: f"{lr:g}")
    return rows


def trajectory_difference(table: pd.DataFrame):
    rows = board_rows(table, "relative_weight_difference")
    alphas = sorted(rows["weight_decay"].unique())
    figure, axes = new_figure(columns=len(alphas))
    for ax, alpha in zip(axes, alphas, strict=True):
        panel = rows[rows["weight_decay"] == alpha].assign(
            value=lambda f: f["value"].clip(lower=FLOOR)
        )
        order = [f"{lr:g}" for lr in sorted(panel["lr"].unique())]
        seed_band_lines(ax, panel, "step", "value", "η", log_y=True, hue_order=order)
        ax.set(
            title=f"α = {alpha:g} (2/α = {2 / alpha:g}): baseline vs k-perturbed copy",
            xlabel="GD step",
            ylabel="mean 2|w1−w2|/(|w1|+|w2|)",
        )
        ax.legend(fontsize=6, title="η", title_fontsize=7)
    return figure


def regime_map(table: pd.DataFrame):
    found = late_differences(table)
    found["fraction"] = found["lr"] * found["weight_decay"] / 2
    kept, lost = found[~found["diverged"]], found[found["diverged"]]
    figure, (ax,) = new_figure(width=5.5)
    points = ax.scatter(
        kept["fraction"],
        kept["weight_decay"],
        c=np.log10(kept["late_difference"].clip(lower=FLOOR)),
        cmap="viridis",
        vmin=np.log10(FLOOR),
        vmax=0.5,
        s=90,
    )
    ax.scatter(
        lost["fraction"], lost["weight_decay"], marker="x", color="black", s=60, label="diverged"
    )
    figure.colorbar(points, ax=ax, label="log10 late max of 2|w1−w2|/(|w1|+|w2|)")
    ax.axvline(1.0, color="black", linestyle="--", linewidth=0.9)
    ax.set(
        xlabel="η / (2/α)",
        ylabel="weight decay α",
        title="regimes: ≈0 stable, O(1) restrained, × diverged",
    )
    ax.legend(fontsize=7, loc="lower left")
    return figure


def sharpness_over_edge(table: pd.DataFrame):
    rows = board_rows(table, "sharpness_times_lr_over_2")
    figure, (ax,) = new_figure(width=5.5)
    rows["α, η"] = [
        f"α={a:g}, η={lr:g}" for a, lr in zip(rows["weight_decay"], rows["lr"], strict=True)
    ]
    seed_band_lines(ax, rows, "step", "value", "α, η", log_y=False)
    ax.axhline(1.0, color="black", linestyle="--", linewidth=0.9)
    ax.set(
        title="S·η/2 along the late baseline trajectory (edge at 1)",
        xlabel="GD step",
        ylabel="S·η/2",
    )
    ax.legend(fontsize=6)
    return figure


def accuracy_spread(table: pd.DataFrame):
    rows = table[
        (table["experiment"] == CNN)
        & (table["metric"] == "test_accuracy_last_epochs_mean_percent")
        & (table["copy"] != TWIN)
    ].copy()
    activations = sorted(rows["activation"].unique())
    figure, axes = new_figure(columns=len(activations))
    for ax, activation in zip(axes, activations, strict=True):
        panel = rows[rows["activation"] == activation].copy()
        panel["k"] = panel["perturbation"].astype(str)
        sns.stripplot(data=panel, x="seed", y="value", hue="k", dodge=True, ax=ax, size=5)
        ax.set(
            title=f"{activation} CNN: test accuracy (mean of last epochs)",
            ylabel="test accuracy (%)",
        )
        ax.legend(fontsize=6, title="k", title_fontsize=7)
    return figure


def figures(config, table: pd.DataFrame) -> dict:
    out = {}
    if (table["experiment"] == BOARD).any():
        out["trajectory_difference"] = trajectory_difference(table)
        out["sharpness_over_edge"] = sharpness_over_edge(table)
        out["regime_map"] = regime_map(table)
    if (table["experiment"] == CNN).any():
        out["accuracy_spread"] = accuracy_spread(table)
    return out
