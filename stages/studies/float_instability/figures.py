"""The study's figures.

- trajectory_difference (the paper's Fig. 4 right): relative weight difference between the baseline
  and the perturbed copy over GD steps, one line per η, log scale, one panel per size and α;
- regime_map: the late trajectory difference of each run against η/(2/α), one panel per model size,
  diverged runs as ×, the bound 2/α dashed;
- sharpness_over_edge: λmax·η/2 (thick) and λmin·η/2 (thin) at every late step of each run below
  the bound, one panel per size and α, the classical bound at 1;
- accuracy_spread (the paper's Table 1 as a picture): the test accuracy of every copy averaged over
  the last `average_epochs` epochs, per seed (x) and perturbation k (colour), one panel per network.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import seaborn as sns

from ...common.figures import new_figure, seed_band_lines
from .config import BOARD, CNN, TWIN
from .summaries import NETWORKS, late_differences

FLOOR = 1e-18  # zero differences drawn at this floor on the log axis


def board_rows(table: pd.DataFrame, metric: str) -> pd.DataFrame:
    rows = table[(table["experiment"] == BOARD) & (table["metric"] == metric)].copy()
    rows["η"] = rows["lr"].map(lambda lr: f"{lr:g}")
    return rows


def variant_title(panel: pd.DataFrame) -> str:
    first = panel.iloc[0]
    n, m, alpha = int(first["image_side"]), int(first["kernel_side"]), first["weight_decay"]
    return f"{n}×{n}, {m}×{m} kernel, α = {alpha:g} (2/α = {2 / alpha:g})"


def trajectory_difference(table: pd.DataFrame):
    rows = board_rows(table, "relative_weight_difference")
    panels = list(dict.fromkeys(zip(rows["variant"], rows["weight_decay"], strict=True)))
    figure, axes = new_figure(columns=len(panels))
    for ax, (variant, alpha) in zip(axes, panels, strict=True):
        chosen = (rows["variant"] == variant) & (rows["weight_decay"] == alpha)
        panel = rows[chosen].assign(value=lambda f: f["value"].clip(lower=FLOOR))
        order = [f"{lr:g}" for lr in sorted(panel["lr"].unique())]
        seed_band_lines(ax, panel, "step", "value", "η", log_y=True, hue_order=order)
        ax.set(title=variant_title(panel), xlabel="GD step", ylabel="mean 2|w1−w2|/(|w1|+|w2|)")
        ax.legend(fontsize=6, title="η", title_fontsize=7)
    return figure


def regime_map(table: pd.DataFrame):
    found = late_differences(table)
    sizes = list(dict.fromkeys(zip(found["image_side"], found["kernel_side"], strict=True)))
    figure, axes = new_figure(columns=len(sizes))
    for ax, (n, m) in zip(axes, sizes, strict=True):
        panel = found[(found["image_side"] == n) & (found["kernel_side"] == m)]
        kept, lost = panel[~panel["diverged"]], panel[panel["diverged"]]
        points = ax.scatter(
            kept["fraction_of_bound"],
            kept["weight_decay"],
            c=np.log10(kept["late_difference"].clip(lower=FLOOR)),
            cmap="viridis",
            vmin=np.log10(FLOOR),
            vmax=0.5,
            s=90,
        )
        ax.scatter(
            lost["fraction_of_bound"],
            lost["weight_decay"],
            marker="x",
            color="black",
            s=60,
            label="diverged",
        )
        figure.colorbar(points, ax=ax, label="log10 late max of 2|w1−w2|/(|w1|+|w2|)")
        ax.axvline(1.0, color="black", linestyle="--", linewidth=0.9)
        ax.set_yscale("log")
        n, m = int(n), int(m)
        ax.set(xlabel="η / (2/α)", ylabel="weight decay α", title=f"{n}×{n}, {m}×{m} kernel")
        ax.legend(fontsize=7, loc="lower left")
    return figure


def sharpness_over_edge(table: pd.DataFrame):
    high = board_rows(table, "sharpness_times_lr_over_2")
    low = board_rows(table, "lowest_curvature_times_lr_over_2")
    below = high[high["lr"] * high["weight_decay"] / 2 < 1]
    panels = list(dict.fromkeys(zip(below["variant"], below["weight_decay"], strict=True)))
    figure, axes = new_figure(columns=max(len(panels), 1), width=5.5)
    for ax, (variant, alpha) in zip(axes, panels, strict=False):
        panel = below[(below["variant"] == variant) & (below["weight_decay"] == alpha)]
        lowest = low[(low["variant"] == variant) & (low["weight_decay"] == alpha)]
        order = sorted(panel["lr"].unique())
        colours = dict(zip(order, sns.color_palette("viridis", len(order)), strict=True))
        for lr, line in panel.groupby("lr"):  # one value per step: plain lines, no estimator
            ax.plot(line["step"], line["value"], color=colours[lr], lw=0.7, label=f"{lr:g}")
            under = lowest[lowest["lr"] == lr]
            ax.plot(under["step"], under["value"], color=colours[lr], lw=0.4, alpha=0.6)
        ax.axhline(1.0, color="black", linestyle="--", linewidth=0.9)
        ax.axhline(0.0, color="grey", linewidth=0.6)
        ax.set(
            title=variant_title(panel),
            xlabel="GD step (every step of the late half)",
            ylabel="λmax·η/2 (thick), λmin·η/2 (thin)",
        )
        ax.legend(fontsize=6, title="η", title_fontsize=7)
    return figure


def accuracy_spread(table: pd.DataFrame, average_epochs: int):
    rows = table[
        (table["experiment"] == CNN)
        & (table["metric"] == "test_accuracy_last_epochs_mean_percent")
        & (table["copy"] != TWIN)
    ].copy()
    activations = list(dict.fromkeys(rows["activation"]))
    figure, axes = new_figure(columns=len(activations))
    for ax, activation in zip(axes, activations, strict=True):
        panel = rows[rows["activation"] == activation].copy()
        panel["k"] = panel["perturbation"].astype(int).astype(str)
        sns.stripplot(data=panel, x="seed", y="value", hue="k", dodge=True, ax=ax, size=4)
        ax.set(
            title=NETWORKS[activation],
            ylabel=f"test accuracy (%), last {average_epochs} epochs",
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
        out["accuracy_spread"] = accuracy_spread(table, config.cnn.average_epochs)
    return out
