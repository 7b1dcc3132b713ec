"""Measurements of one variant's runs, in the tidy long format.

Per evaluation step and seed:
- diagonal nets (diag_net, diag_table1): train_loss and test_loss as ||X beta − y||²/(2n) (the public
  code's `loss`), nonzeros_paper (the paper's l0: #{i : |beta_i| > 1e-50}) and effective_nonzeros
  (participation ratio of beta, a threshold-free second count).
- relu_net: train_loss and test_loss as mean (f − y)² (no ½, as the public code),
  feature_sparsity (coefficient on the training inputs).
Per seed, at the last step: diverged (1/0), diverged_step (−1 if never), lr_large (the large step used).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from . import data as datasets
from .config import Config
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
        metrics[f"{split}_loss"] = 0.5 * _mean_squared_error(data[f"y_{split}"], predictions)
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
        metrics[f"{split}_loss"] = _mean_squared_error(data[f"y_{split}"], predictions)
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
    if config.experiments[variant.experiment].model == "diag_net":
        metrics = diag_net_metrics(data, run["beta"])
    else:
        metrics = relu_net_metrics(data, run["hidden"], run["output"])
    eval_steps = run["eval_steps"]
    seeds = run["seeds"]
    frames = [
        pd.DataFrame(
            {
                "seed": np.repeat(seeds, len(eval_steps)),
                "step": np.tile(eval_steps, len(seeds)),
                "metric": name,
                "value": values.reshape(-1),
            }
        )
        for name, values in metrics.items()
    ]
    final = {
        "diverged": run["diverged"].astype(np.float64),
        "diverged_step": run["diverged_step"].astype(np.float64),
        "lr_large": run["lr_large"],
    }
    frames += [
        pd.DataFrame({"seed": seeds, "step": int(eval_steps[-1]), "metric": name, "value": values})
        for name, values in final.items()
    ]
    frame = pd.concat(frames, ignore_index=True)
    frame["experiment"] = variant.experiment
    frame["optimizer"] = variant.optimizer
    frame["decay_at"] = (
        variant.schedule.decay_at if variant.schedule.decay_at is not None else np.nan
    )
    frame["large_step"] = "probe" if variant.schedule.probed else "fixed"
    return frame
