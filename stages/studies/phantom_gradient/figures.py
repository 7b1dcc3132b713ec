"""Figures of the phantom-gradient study, each as the paper's counterpart at our scale (no wall-clock
number enters a figure: they are drawn from the byte-stable table).

- cosine_vs_k (the paper's cosine-similarity figure): cosine of the unrolled phantom gradient with the exact one
  against k, one panel per checkpoint epoch, one line per (trajectory, λ), median over seeds with
  the interquartile band;
- cosine_vs_spectral_radius (where the cosine drops as ρ(J) nears 1): each seed's checkpoint as a
  point, its cosine with the exact gradient against its ρ(J), one panel per λ, one colour per k;
- backward_cost (the paper's backward-time comparison, as counts): passes through f of each
  backward on the convolutional cell, and per training step on the dense model;
- accuracy_curves (the paper's accuracy tables, as curves): per training variant the training loss
  every epoch and the test accuracy at the checkpoint epochs.
"""

from __future__ import annotations

import pandas as pd
import seaborn as sns

from ...common.figures import new_figure, seed_band_lines
from .table_rows import (
    direction_cosines,
    direction_rows,
    experiment_rows,
    training_backward_passes,
)


def cosine_vs_k(table: pd.DataFrame):
    rows = direction_cosines(table, "unrolled").rename(columns={"estimator_k": "k"})
    rows["trajectory, λ"] = (
        rows["variant"] + ", λ=" + rows["estimator_damping"].map(lambda d: f"{d:g}")
    )
    epochs = sorted(rows["epoch"].unique())
    figure, axes = new_figure(columns=len(epochs), width=3.4, height=3.4)
    for ax, epoch in zip(axes, epochs, strict=True):
        seed_band_lines(
            ax,
            rows[rows["epoch"] == epoch],
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


def cosine_vs_spectral_radius(table: pd.DataFrame):
    cosines = direction_cosines(table, "unrolled")
    radius = direction_rows(table)
    radius = radius[radius["metric"] == "jacobian_spectral_radius_max"][
        ["variant", "seed", "epoch", "value"]
    ].rename(columns={"value": "ρ(J)"})
    rows = cosines.merge(radius.astype({"epoch": "int64"}), on=["variant", "seed", "epoch"])
    rows = rows.rename(columns={"estimator_k": "k", "value": "cosine with exact"})
    dampings = sorted(rows["estimator_damping"].unique())
    figure, axes = new_figure(columns=len(dampings), width=3.4, height=3.4)
    for ax, damping in zip(axes, dampings, strict=True):
        sns.scatterplot(
            data=rows[rows["estimator_damping"] == damping],
            x="ρ(J)",
            y="cosine with exact",
            hue="k",
            palette="viridis",
            ax=ax,
            s=18,
        )
        ax.set(title=f"λ = {damping:g}", xlabel="ρ(J) at the checkpoint")
        if ax is not axes[-1]:
            ax.get_legend().remove()
    return figure


def backward_cost(table: pd.DataFrame):
    figure, (conv_ax, dense_ax) = new_figure(columns=2)
    conv = experiment_rows(table, "conv_timing", "backward_passes")
    sns.barplot(
        data=conv.rename(columns={"estimator": "backward"}),
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
    dense = training_backward_passes(table)
    per_seed = dense.groupby(["variant", "seed"])["value"].mean().reset_index()
    sns.barplot(
        data=per_seed, x="variant", y="value", estimator="median", errorbar=("pi", 50), ax=dense_ax
    )
    dense_ax.set(title="dense model: passes through f per training step", ylabel="")
    dense_ax.tick_params(axis="x", labelrotation=20)
    return figure


def accuracy_curves(table: pd.DataFrame):
    figure, (loss_ax, accuracy_ax) = new_figure(columns=2, width=5.0)
    dense = experiment_rows(table, "dense")
    loss = dense[dense["metric"] == "train_loss_cross_entropy"].astype({"epoch": "int64"})
    seed_band_lines(loss_ax, loss, "epoch", "value", "variant", log_y=True)
    loss_ax.set(title="training loss per epoch", xlabel="epoch", ylabel="cross-entropy (nats)")
    loss_ax.get_legend().remove()
    accuracy = dense[dense["metric"] == "test_accuracy_percent"].astype({"epoch": "int64"})
    seed_band_lines(accuracy_ax, accuracy, "epoch", "value", "variant", log_y=False)
    accuracy_ax.set(
        title="test accuracy at the checkpoints",
        xlabel="epoch",
        ylabel="test accuracy (%)",
        ylim=(80.0, 100.0),
    )
    return figure


FIGURES = {  # name: (draw, the rows it needs)
    "cosine_vs_k": (cosine_vs_k, lambda table: direction_cosines(table, "unrolled")),
    "cosine_vs_spectral_radius": (
        cosine_vs_spectral_radius,
        lambda table: direction_cosines(table, "unrolled"),
    ),
    "backward_cost": (backward_cost, lambda table: experiment_rows(table, "conv_timing")),
    "accuracy_curves": (accuracy_curves, lambda table: experiment_rows(table, "dense")),
}


def figures(config, table: pd.DataFrame) -> dict:
    """Every figure whose rows are in the table (a profile with fewer variants draws fewer)."""
    return {name: draw(table) for name, (draw, needs) in FIGURES.items() if not needs(table).empty}
