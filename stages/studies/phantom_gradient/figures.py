"""Figures of the phantom-gradient study, each as the paper's counterpart at our scale (no wall-clock
number enters a figure: they are drawn from the byte-stable table).

- cosine_vs_k (the paper's cosine-similarity figure): cosine of the unrolled phantom gradient with the exact one
  against k, one panel per checkpoint epoch, one line per (trajectory, λ), median over seeds with
  the interquartile band;
- backward_cost (the paper's backward-time comparison, as counts): passes through f of each
  backward on the convolutional cell, and per training step on the dense model;
- accuracy_curves (the paper's accuracy tables, as curves): test accuracy per epoch for each training variant.
"""

from __future__ import annotations

import pandas as pd
import seaborn as sns

from ...common.figures import new_figure, seed_band_lines


def cosine_vs_k(table: pd.DataFrame):
    rows = table[
        (table["experiment"] == "direction")
        & (table["backward"] == "unrolled")
        & table["metric"].str.startswith("cosine_")
    ].copy()
    rows["trajectory, λ"] = rows["variant"] + ", λ=" + rows["damping"].map(lambda d: f"{d:g}")
    epochs = sorted(rows["step"].unique())
    figure, axes = new_figure(columns=len(epochs), width=3.4, height=3.4)
    for ax, epoch in zip(axes, epochs, strict=True):
        seed_band_lines(
            ax,
            rows[rows["step"] == epoch],
            "k",
            "value",
            "trajectory, λ",
            log_y=False,
            hue_order=sorted(rows["trajectory, λ"].unique()),
        )
        ax.set(
            title=f"epoch {epoch}",
            xscale="log",
            xlabel="k (unrolled steps)",
            ylabel="cosine with exact",
        )
        if ax is not axes[-1]:
            ax.get_legend().remove()
    axes[-1].legend(fontsize=6, loc="lower right")
    return figure


def backward_cost(table: pd.DataFrame):
    figure, (conv_ax, dense_ax) = new_figure(columns=2)
    conv = table[
        (table["experiment"] == "conv_timing") & table["metric"].str.startswith("backward_passes_")
    ]
    sns.barplot(
        data=conv,
        x="backward",
        y="value",
        estimator="median",
        errorbar=("pi", 50),
        ax=conv_ax,
        order=["exact", "unrolled", "neumann"],
    )
    conv_ax.set(
        title="conv cell: passes through f per backward", ylabel="evaluations with graph + VJPs"
    )
    dense = table[
        (table["experiment"] == "dense") & (table["metric"] == "backward_passes_per_step")
    ]
    per_seed = dense.groupby(["variant", "seed"])["value"].mean().reset_index()
    sns.barplot(
        data=per_seed, x="variant", y="value", estimator="median", errorbar=("pi", 50), ax=dense_ax
    )
    dense_ax.set(title="dense model: passes through f per training step", ylabel="")
    dense_ax.tick_params(axis="x", labelrotation=20)
    return figure


def accuracy_curves(table: pd.DataFrame):
    figure, (ax,) = new_figure(width=5.5)
    rows = table[(table["experiment"] == "dense") & (table["metric"] == "test_accuracy")]
    seed_band_lines(ax, rows, "step", "value", "variant", log_y=False)
    ax.set(
        title="test accuracy (digits) per training gradient",
        xlabel="epoch",
        ylabel="test accuracy",
        ylim=(0.8, 1.0),
    )
    return figure


FIGURES = {
    "cosine_vs_k": (cosine_vs_k, "direction"),
    "backward_cost": (backward_cost, "conv_timing"),
    "accuracy_curves": (accuracy_curves, "dense"),
}


def figures(config, table: pd.DataFrame) -> dict:
    """Every figure whose rows are in the table (a profile with fewer variants draws fewer)."""
    present = set(table["experiment"])
    return {name: draw(table) for name, (draw, needs) in FIGURES.items() if needs in present}
