"""Figures of the study, one per claim: median over seeds with an interquartile band."""

from __future__ import annotations

import pandas as pd

from ...common.figures import new_figure, seed_band_lines
from .config import Config
from .metrics import LOSS_NAMES, SPARSITY_METRIC, TEST_LOSS, TRAIN_LOSS

EXPERIMENT_TITLES = {
    "diag_net": "diagonal linear net (2-D notebook setting)",
    "diag_table1": "diagonal linear net (Table 1 setting)",
    "relu_net": "two-layer ReLU net",
}
SCHEDULE_EXPERIMENTS = ("diag_table1", "relu_net")  # the experiments of C1-C3


def _label(config: Config, variant: str) -> str:
    spec = config.variants[variant]
    return f"{spec.optimizer.upper()} {spec.schedule.describe()}"


def _curves(
    config: Config,
    table: pd.DataFrame,
    experiment: str,
    metric: str,
    variants: list[str],
    title: str,
):
    figure, (ax,) = new_figure(width=6.0)
    rows = table[(table.metric == metric) & table.variant.isin(variants) & (table.step > 0)].copy()
    rows["schedule"] = rows.variant.map(lambda v: _label(config, v))
    order = [_label(config, v) for v in variants]
    is_loss = metric in (TRAIN_LOSS[experiment], TEST_LOSS[experiment])
    seed_band_lines(ax, rows, "step", "value", "schedule", log_y=is_loss, hue_order=order)
    ax.set_xscale("log")
    ax.set_ylabel(metric.replace("_", " ") + (f" ({LOSS_NAMES[experiment]})" if is_loss else ""))
    ax.set_title(f"{EXPERIMENT_TITLES[experiment]}: {title}")
    ax.legend(fontsize=7, loc="best")
    return figure


def _by_decay_point(table: pd.DataFrame, experiment: str):
    """Final test loss and sparsity against the decay point, one panel each, seeds as dots."""
    figure, axes = new_figure(columns=2, width=4.2)
    rows = table[
        (table.experiment == experiment)
        & (table.optimizer == "sgd")
        & table.decay_at.notna()
        & (table.large_step == ("probe" if (table.large_step == "probe").any() else "fixed"))
    ]
    last = rows[rows.step == rows.step.max()]
    test_loss = TEST_LOSS[experiment]
    for ax, metric in zip(axes, (test_loss, SPARSITY_METRIC[experiment]), strict=True):
        points = last[last.metric == metric]
        ax.scatter(points.decay_at, points.value, s=8, alpha=0.4, color="tab:blue")
        medians = points.groupby("decay_at")["value"].median()
        ax.plot(
            medians.index, medians.values, marker="o", color="tab:red", label="median over seeds"
        )
        if metric == test_loss:
            ax.set_yscale("log")
        ax.set_xlabel("decay point (fraction of training at the large step)")
        ax.set_ylabel(metric.replace("_", " "))
        ax.legend(fontsize=7)
    figure.suptitle(f"{EXPERIMENT_TITLES[experiment]}: longer large step")
    return figure


def figures(config: Config, table: pd.DataFrame) -> dict:
    by_experiment = {e: config.variants_of(e) for e in EXPERIMENT_TITLES}
    sgd = {
        e: [v for v in vs if config.variants[v].optimizer == "sgd"]
        for e, vs in by_experiment.items()
    }
    result = {}
    for experiment in SCHEDULE_EXPERIMENTS:
        result[f"{experiment}_train_loss"] = _curves(
            config,
            table,
            experiment,
            TRAIN_LOSS[experiment],
            sgd[experiment],
            "training loss (C1)",
        )
        result[f"{experiment}_sparsity"] = _curves(
            config,
            table,
            experiment,
            SPARSITY_METRIC[experiment],
            sgd[experiment],
            "sparsity during training (C2)",
        )
        result[f"{experiment}_decay_point"] = _by_decay_point(table, experiment)
    result["diag_net_sgd_vs_gd"] = _curves(
        config,
        table,
        "diag_net",
        TEST_LOSS["diag_net"],
        by_experiment["diag_net"],
        "test loss, SGD against GD (C4)",
    )
    return result
