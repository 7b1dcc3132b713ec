"""Measurements of one variant's runs, as tidy rows: `seed` is the seed of the run, `step` the
optimisation step the measured parameters come from, and the settings say which copy a row measures
(`copy`, its `perturbation` k) under which `lr` and `weight_decay` (config.SETTING_COLUMNS).

cnn:   per seed and copy (baseline, twin, perturbed), the test accuracy in percent at the end of
       each epoch and the train loss (mean over the epoch's minibatches) at the epoch's last step; at
       the last step the mean test accuracy in percent over the last `average_epochs` epochs and
       whether the run diverged, and, against the seed's baseline, the relative weight difference
       and the prediction disagreement (percent of test images) of the twin and of each perturbed
       copy, and the bitwise identity of the twin (Sun et al. §3, Table 1). The twin's rows are the
       control of F1: the same comparisons without a perturbation.
board: per learning rate η of the grid (seed first_seed), along the baseline trajectory its loss and,
       over the late half, the sharpness S = λmax(∇²L) and S·η/2; on the perturbed copy's rows its
       relative weight difference to the baseline and whether the pair diverged (§4). A difference
       is NaN at a checkpoint where either copy is no longer finite; the baseline's loss and
       sharpness only where the baseline is.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from ...common.hessian import dense_hessian
from ...common.tables import TidyRows
from . import board
from .config import (
    BASELINE,
    BOARD,
    CNN,
    PERTURBED,
    SETTING_COLUMNS,
    TWIN,
    BoardVariant,
    CNNVariant,
    Config,
)
from .copy_divergence import bitwise_identical, prediction_disagreement, relative_weight_difference


def measure_cnn(config: Config, variant: CNNVariant, runs) -> pd.DataFrame:
    setup = config.cnn
    rows = TidyRows(
        SETTING_COLUMNS,
        experiment=CNN,
        activation=variant.activation,
        lr=setup.lr,
        weight_decay=setup.weight_decay,
    )
    epoch_end_steps = runs["epoch_end_steps"]
    last_step = int(epoch_end_steps[-1])
    for s, seed in enumerate(runs["seeds"]):
        base_weights, base_predictions = runs["weights"][s, 0], runs["predictions"][s, 0]
        for c, (copy, k) in enumerate(variant.copies):
            settings = {"copy": copy, "perturbation": k}
            weights = runs["weights"][s, c]
            accuracy_percent = 100.0 * runs["test_accuracy"][s, c]
            loss = runs["train_loss"][s, c]
            rows.add_series(
                seed, epoch_end_steps, "test_accuracy_percent", accuracy_percent, **settings
            )
            rows.add_series(seed, epoch_end_steps, "train_loss", loss, **settings)
            rows.add(
                seed,
                last_step,
                "test_accuracy_last_epochs_mean_percent",
                accuracy_percent[-setup.average_epochs :].mean(),
                **settings,
            )
            rows.add(seed, last_step, "diverged", float(not np.isfinite(loss[-1])), **settings)
            if copy == BASELINE:
                continue
            if copy == TWIN:
                identical = bitwise_identical(base_weights, weights)
                rows.add(
                    seed, last_step, "unperturbed_twin_identical", float(identical), **settings
                )
            rows.add(
                seed,
                last_step,
                "relative_weight_difference",
                relative_weight_difference(base_weights, weights),
                **settings,
            )
            rows.add(
                seed,
                last_step,
                "prediction_disagreement_percent",
                100.0 * prediction_disagreement(base_predictions, runs["predictions"][s, c]),
                **settings,
            )
    return rows.frame()


def sharpness(model: board.CheckerboardModel, kernel: np.ndarray) -> float:
    """λmax of the exact Hessian of L (m² × m², dense: the kernel has few entries)."""
    hessian = dense_hessian(model.loss, torch.as_tensor(kernel))
    return float(torch.linalg.eigvalsh(hessian)[-1])


def measure_board(config: Config, variant: BoardVariant, data, runs) -> pd.DataFrame:
    setup, alpha, seed = config.board, variant.weight_decay, config.first_seed
    rows = TidyRows(
        SETTING_COLUMNS, experiment=BOARD, activation=board.ACTIVATION, weight_decay=alpha
    )
    model = board.CheckerboardModel(data["checkerboard"], setup.kernel_side, alpha)
    steps = runs["steps"]
    for index, lr in enumerate(runs["lrs"]):
        on_baseline = {"lr": lr, "copy": BASELINE, "perturbation": 1}
        on_perturbed = {"lr": lr, "copy": PERTURBED, "perturbation": setup.perturbation}
        baseline, perturbed = runs["baseline"][index], runs["perturbed"][index]
        diverged = not (np.isfinite(baseline[-1]).all() and np.isfinite(perturbed[-1]).all())
        rows.add(seed, steps[-1], "diverged", float(diverged), **on_perturbed)
        for step, first, second in zip(steps, baseline, perturbed, strict=True):
            baseline_finite = bool(np.isfinite(first).all())
            both_finite = baseline_finite and bool(np.isfinite(second).all())
            difference = relative_weight_difference(first, second) if both_finite else np.nan
            rows.add(seed, step, "relative_weight_difference", difference, **on_perturbed)
            with torch.no_grad():
                loss = float(model.loss(torch.as_tensor(first))) if baseline_finite else np.nan
            rows.add(seed, step, "loss", loss, **on_baseline)
            if baseline_finite and step >= steps[-1] / 2:
                curvature = sharpness(model, first)
                rows.add(seed, step, "sharpness", curvature, **on_baseline)
                rows.add(seed, step, "sharpness_times_lr_over_2", curvature * lr / 2, **on_baseline)
    return rows.frame()


def measure(config: Config, variant_name: str, data, runs, *, reads) -> pd.DataFrame:
    torch.set_num_threads(1)
    match config.variants[variant_name]:
        case CNNVariant() as variant:
            return measure_cnn(config, variant, runs)
        case BoardVariant() as variant:
            return measure_board(config, variant, data, runs)
