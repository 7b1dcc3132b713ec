"""The study's figures, drawn like the papers' (median over seeds with an interquartile band).

- progressive_sharpening (Cohen et al. Fig. 1): loss over steps, and S over steps with a dashed
  2/η line per η;
- sharpness_over_edge: S·η/2 and λ2·η/2 over steps, the edge at 1 (E2);
- self_stabilization (Damian et al.'s comparison from the edge): GD's distance to θ†, to θ† + the
  predicted dynamics, to its second-order twin and to gradient flow; x along θ†'s top eigenvector;
  S·η/2 along GD, θ† and the flow;
- toy_cubic (Damian et al.'s two-variable model): window means of x² against δ² = 2α/b, and of S·η/2 against 1;
- sgd_trace (Wu & Su): tr(H) of converged batch-1 SGD runs against η with the 2/η bound, and GD's
  tr(H) and λmax near its edge.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ...common.figures import new_figure, seed_band_lines


def metric_rows(table: pd.DataFrame, experiment: str, method: str, metric: str) -> pd.DataFrame:
    rows = table[
        (table["experiment"] == experiment)
        & (table["method"] == method)
        & (table["metric"] == metric)
    ].copy()
    rows["η"] = rows["lr"].map(lambda lr: f"{lr:g}")
    return rows


def lr_order(rows: pd.DataFrame) -> list[str]:
    return [f"{lr:g}" for lr in sorted(rows["lr"].unique())]


def progressive_sharpening(table: pd.DataFrame):
    figure, (loss_ax, sharp_ax) = new_figure(columns=2)
    losses, sharpness = (
        metric_rows(table, "cohen_gd", "gd", "loss_half_mse"),
        metric_rows(table, "cohen_gd", "gd", "sharpness"),
    )
    seed_band_lines(loss_ax, losses, "step", "value", "η", log_y=True, hue_order=lr_order(losses))
    seed_band_lines(
        sharp_ax, sharpness, "step", "value", "η", log_y=True, hue_order=lr_order(sharpness)
    )
    colors = [line.get_color() for line in sharp_ax.get_lines()]  # one line per η, in hue order
    for label, color in zip(lr_order(sharpness), colors, strict=False):
        sharp_ax.axhline(2 / float(label), color=color, linestyle="--", linewidth=0.9)
    loss_ax.set(title="train loss ½·Σ(f − onehot)², full-batch GD", ylabel="loss")
    sharp_ax.set(title="sharpness S (dashed: 2/η of the same colour)", ylabel="S = λmax(H)")
    return figure


def sharpness_over_edge(table: pd.DataFrame):
    """λ1·η/2 = S·η/2 and, beside it, λ2·η/2: both top eigenvalues reach the edge (E2)."""
    figure, axes = new_figure(columns=2)
    top = metric_rows(table, "cohen_gd", "gd", "sharpness_times_lr_over_2")
    second = metric_rows(table, "cohen_gd", "gd", "lambda2")
    second["value"] = second["value"] * second["lr"] / 2
    for ax, rows, name in zip(axes, (top, second), ("λ1·η/2 = S·η/2", "λ2·η/2"), strict=True):
        seed_band_lines(ax, rows, "step", "value", "η", log_y=False, hue_order=lr_order(top))
        ax.axhline(1.0, color="black", linestyle="--", linewidth=0.9)
        ax.set(title=f"{name} under GD (edge of stability at 1)", ylabel=name, ylim=(0, 1.8))
    return figure


TRAJECTORIES = {
    "gd": "GD",
    "constrained": "θ† (constrained)",
    "predicted": "θ† + v (predicted)",
    "quadratic": "θ† + w (second order)",
    "flow": "gradient flow",
}


def tracked_rows(table: pd.DataFrame, metric: str, methods) -> pd.DataFrame:
    rows = pd.concat([metric_rows(table, "self_stabilization", m, metric) for m in methods])
    rows["trajectory"] = rows["method"].map(TRAJECTORIES)
    return rows


def self_stabilization(table: pd.DataFrame):
    """Damian et al.'s comparison from the edge: GD's distance to θ†, to θ† + the predicted v, to
    θ† + its second-order twin w and to gradient flow; GD's displacement x along θ†'s top
    eigenvector against the predictions' (the first seed); S·η/2 along GD, θ† and the flow."""
    figure, (distance_ax, x_ax, sharp_ax) = new_figure(columns=3, width=4.6)
    distances = tracked_rows(
        table, "distance_to_gd", ("constrained", "predicted", "quadratic", "flow")
    )
    seed_band_lines(distance_ax, distances, "steps_since_edge", "value", "trajectory", log_y=False)
    distance_ax.set(
        title="‖θ_GD − θ‖ since the edge", xlabel="steps since S reached 2/η", ylabel="distance"
    )
    x = tracked_rows(table, "x_along_top_eigenvector", ("gd", "predicted", "quadratic"))
    first = x[x["seed"] == x["seed"].min()] if len(x) else x
    for trajectory, rows in first.groupby("trajectory", sort=False):
        x_ax.plot(rows["steps_since_edge"], rows["value"], linewidth=0.8, label=trajectory)
    x_ax.set(title="x = u·(θ − θ†), first seed", xlabel="steps since S reached 2/η", ylabel="x")
    x_ax.legend(fontsize=7)
    sharpness = tracked_rows(table, "sharpness_times_lr_over_2", ("gd", "constrained", "flow"))
    seed_band_lines(sharp_ax, sharpness, "steps_since_edge", "value", "trajectory", log_y=False)
    sharp_ax.axhline(1.0, color="black", linestyle="--", linewidth=0.9)
    sharp_ax.set(
        title="S·η/2 along each trajectory", xlabel="steps since S reached 2/η", ylabel="S·η/2"
    )
    return figure


def toy_cubic(table: pd.DataFrame):
    figure, (x_ax, sharp_ax) = new_figure(columns=2)
    x_squared = metric_rows(table, "toy_cubic", "gd", "x_squared_window_mean")
    seed_band_lines(x_ax, x_squared, "step", "value", "η", log_y=True)
    predicted = metric_rows(table, "toy_cubic", "gd", "predicted_x_squared")["value"]
    if len(predicted):
        x_ax.axhline(
            float(predicted.iloc[0]),
            color="black",
            linestyle="--",
            linewidth=0.9,
            label="δ² = 2α/b",
        )
        x_ax.legend(loc="lower right")
    x_ax.set(title="toy L = ½(a+by)x² + εx − αy: window mean of x²", ylabel="x²")
    sharpness = metric_rows(table, "toy_cubic", "gd", "sharpness_times_lr_over_2_window_mean")
    seed_band_lines(sharp_ax, sharpness, "step", "value", "η", log_y=False)
    sharp_ax.axhline(1.0, color="black", linestyle="--", linewidth=0.9)
    sharp_ax.set(title="window mean of S·η/2", ylabel="S·η/2")
    return figure


def sgd_trace(table: pd.DataFrame):
    figure, (ax,) = new_figure(width=5.5)
    diagonal = table[table["experiment"] == "diagonal_net"]
    run = ["method", "batch_size", "lr", "seed"]
    converged = diagonal[(diagonal["metric"] == "converged") & (diagonal["value"] == 1.0)][run]
    traces = diagonal[diagonal["metric"].isin(["trace_hessian", "sharpness"])].merge(
        converged, on=run
    )
    sgd = traces[
        (traces["method"] == "sgd")
        & traces["batch_size"].eq(1).fillna(False)
        & (traces["metric"] == "trace_hessian")
    ]
    ax.scatter(sgd["lr"], sgd["value"], s=12, alpha=0.5, label="SGD batch 1: tr(H), each run")
    medians = sgd.groupby("lr")["value"].median()
    ax.plot(medians.index, medians.values, marker="o", label="SGD batch 1: median tr(H)")
    for metric, marker, label in (
        ("trace_hessian", "s", "GD: tr(H)"),
        ("sharpness", "^", "GD: λmax(H)"),
    ):
        gd = traces[(traces["method"] == "gd") & (traces["metric"] == metric)]
        ax.scatter(gd["lr"], gd["value"], marker=marker, s=40, label=label)
    diagonal_lrs = traces["lr"]
    lrs = np.geomspace(diagonal_lrs.min() / 1.5, diagonal_lrs.max() * 1.5, 100)
    ax.plot(lrs, 2 / lrs, color="black", linestyle="--", linewidth=0.9, label="2/η")
    ax.set(
        xscale="log",
        yscale="log",
        xlabel="η",
        ylabel="curvature at the final θ",
        title="diagonal net: converged SGD has tr(H) ≤ 2/η",
    )
    ax.legend(fontsize=7)
    return figure


FIGURES = {  # name: (draw, the (experiment, method) pairs whose rows it needs)
    "progressive_sharpening": (progressive_sharpening, {("cohen_gd", "gd")}),
    "sharpness_over_edge": (sharpness_over_edge, {("cohen_gd", "gd")}),
    "self_stabilization": (self_stabilization, {("self_stabilization", m) for m in TRAJECTORIES}),
    "toy_cubic": (toy_cubic, {("toy_cubic", "gd")}),
    "sgd_trace": (sgd_trace, {("diagonal_net", "sgd"), ("diagonal_net", "gd")}),
}


def figures(config, table: pd.DataFrame) -> dict:
    """Every figure whose runs are in the table (a profile that runs fewer variants draws fewer)."""
    present = set(zip(table["experiment"], table["method"], strict=True))
    return {name: draw(table) for name, (draw, needs) in FIGURES.items() if needs <= present}
