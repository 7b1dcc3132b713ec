"""Measurements of one variant's runs, as tidy rows (stages/common/tables.py).

Per evaluation step (`step`: the optimisation steps taken) and seed:
- diagonal nets (DiagonalNetSetup): train_loss_half_mse and test_loss_half_mse, ||X beta − y||²/(2n)
  (the public code's `loss`), nonzeros_paper (the paper's l0: #{i : |beta_i| > 1e-50}) and effective_nonzeros
  (participation ratio of beta, a threshold-free second count).
- ReLU nets (ReluNetSetup): train_loss_mse and test_loss_mse, mean (f − y)² (no ½, as the public code),
  feature_sparsity (coefficient on the training inputs).
Per seed, at the last step T: diverged (1/0), diverged_step (−1 if never), lr_large (the large step
used) and large_step_reruns (how often a diverged probed run was rerun at a lower probed step). Every row carries the variant's settings (config.SETTING_COLUMNS).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ...common.tables import TidyRows
from . import data as datasets
from .config import SETTING_COLUMNS, Config, DiagonalNetSetup
from .sparsity import (
    effective_nonzeros,
    feature_sparsity_coefficient,
    nonzeros_paper,
    normalised_features,
)


def _mean_squared_error(targets: np.ndarray, predictions: np.ndarray) -> np.ndarray:
    """Mean over examples of (prediction − target)², predictions (seeds, steps, examples)."""
    return np.mean((predictions - targets[:, None, :]) ** 2, axis=-1)


def diag_net_metrics(data: dict, beta: np.ndarray) -> dict[str, np.ndarray]:
    """(seeds, steps) arrays; beta (seeds, steps, d)."""
    metrics = {}
    for split in ("train", "test"):
        predictions = beta @ np.swapaxes(data[f"x_{split}"], 1, 2)  # (seeds, steps, examples)
        metrics[f"{split}_loss_half_mse"] = 0.5 * _mean_squared_error(
            data[f"y_{split}"], predictions
        )
    metrics["effective_nonzeros"] = effective_nonzeros(beta)
    metrics["nonzeros_paper"] = nonzeros_paper(beta)
    return metrics


def relu_net_metrics(data: dict, hidden: np.ndarray, output: np.ndarray) -> dict[str, np.ndarray]:
    """(seeds, steps) arrays; hidden (seeds, steps, m, d), output (seeds, steps, m)."""
    seeds, steps = hidden.shape[:2]
    metrics = {}
    for split in ("train", "test"):
        predictions = np.stack(
            [
                np.stack(
                    [
                        datasets.two_layer_relu(hidden[r, k], output[r, k], data[f"x_{split}"][r])
                        for k in range(steps)
                    ]
                )
                for r in range(seeds)
            ]
        )
        metrics[f"{split}_loss_mse"] = _mean_squared_error(data[f"y_{split}"], predictions)
    sparsity = np.full((seeds, steps), np.nan)
    for seed in range(seeds):
        for step in range(steps):
            if np.isfinite(hidden[seed, step]).all():
                features = normalised_features(hidden[seed, step], data["x_train"][seed])
                sparsity[seed, step] = feature_sparsity_coefficient(features)
    metrics["feature_sparsity"] = sparsity
    return metrics


def measure(config: Config, variant_name: str, arrays: dict, run: dict, *, reads) -> pd.DataFrame:
    variant = config.variants[variant_name]
    data = datasets.unstack(arrays, variant.experiment)
    if isinstance(config.setup_of(variant_name), DiagonalNetSetup):
        metrics = diag_net_metrics(data, run["beta"])
    else:
        metrics = relu_net_metrics(data, run["hidden"], run["output"])
    rows = TidyRows(
        SETTING_COLUMNS,
        experiment=variant.experiment,
        optimizer=variant.optimizer,
        decay_at=variant.schedule.decay_at,
        large_step="probe" if variant.schedule.probed else "fixed",
    )
    eval_steps, seeds = run["eval_steps"], run["seeds"]
    for name, values in metrics.items():
        for seed, series in zip(seeds, values, strict=True):
            rows.add_series(seed, eval_steps, name, series)
    final = {
        "diverged": run["diverged"].astype(np.float64),
        "diverged_step": run["diverged_step"].astype(np.float64),
        "lr_large": run["lr_large"],
        "large_step_reruns": run["large_step_reruns"].astype(np.float64),
    }
    for name, values in final.items():
        for seed, value in zip(seeds, values, strict=True):
            rows.add(seed, eval_steps[-1], name, value)
    return rows.frame()
