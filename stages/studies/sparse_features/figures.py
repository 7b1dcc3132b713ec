"""Figures of the study, one or two per claim: curves as the median over seeds with an
interquartile band, and C3 per seed at matched training loss."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ...common.figures import new_figure, seed_band_lines
from ...common.schedules import decay_step_index
from .config import Config
from .metrics import LOSS_NAMES, SPARSITY_METRIC, TEST_LOSS, TRAIN_LOSS
from .orderings import matched_steps, values_at

EXPERIMENT_TITLES = {  # short enough that a one-panel title fits its figure
    "diag_net": "diagonal net, 2-D notebook",
    "diag_table1": "diagonal net, n=80, d=200",
    "relu_net": "two-layer ReLU net",
    "diag_gd_stabilises": "diagonal net, GD stabilises (n=40, d=100)",
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
    """C3 as it is judged: sparsity and test loss against the decay point at matched training loss
    (orderings.py), one line per seed (the pairing), the median in red."""
    figure, axes = new_figure(columns=2, width=4.2)
    rows = table[
        (table.experiment == experiment)
        & (table.optimizer == "sgd")
        & table.decay_at.notna()
        & (table.large_step == ("probe" if (table.large_step == "probe").any() else "fixed"))
    ]
    settings = rows.drop_duplicates("variant").sort_values("decay_at")
    variants, points = list(settings.variant), settings.decay_at.to_numpy(dtype=np.float64)
    seeds = sorted(rows.seed.unique())
    last = int(rows.step.max())
    _, steps = matched_steps(
        table,
        variants,
        TRAIN_LOSS[experiment],
        [decay_step_index(p, last) for p in points],
        seeds,
    )
    test_loss = TEST_LOSS[experiment]
    for ax, metric in zip(axes, (SPARSITY_METRIC[experiment], test_loss), strict=True):
        values = values_at(table, variants, metric, steps, seeds)
        for row in values:
            ax.plot(points, row, color="tab:blue", alpha=0.25, linewidth=0.8, marker=".")
        ax.plot(
            points,
            np.nanmedian(values, axis=0),
            marker="o",
            color="tab:red",
            label="median over seeds",
        )
        if metric == test_loss:
            ax.set_yscale("log")
        ax.set_xlabel("decay point (fraction of steps)")
        ax.set_ylabel(f"{metric.replace('_', ' ')}\nat matched training loss")
        ax.legend(fontsize=7)
    figure.suptitle(f"{EXPERIMENT_TITLES[experiment]}: C3, one line per seed", y=1.0)
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
            "sparsity (C2)",
        )
        result[f"{experiment}_decay_point"] = _by_decay_point(table, experiment)
    result["diag_net_sgd_vs_gd"] = _curves(
        config,
        table,
        "diag_net",
        TEST_LOSS["diag_net"],
        by_experiment["diag_net"],
        "test loss, SGD vs GD (C4)",
    )
    result["diag_gd_stabilises_l0"] = _curves(
        config,
        table,
        "diag_gd_stabilises",
        SPARSITY_METRIC["diag_gd_stabilises"],
        by_experiment["diag_gd_stabilises"],
        "l0 of u⊙v, SGD vs GD (C4)",
    )
    return result
