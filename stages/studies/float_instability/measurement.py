"""Measurements of one variant's runs, as tidy rows: `seed` is the seed of the run, `step` the
optimisation step the measured parameters come from, and the settings say which copy a row measures
(`copy`, its `perturbation` k) under which `lr` and `weight_decay`, and for the board which model
size (`image_side`, `kernel_side`) (config.SETTING_COLUMNS).

cnn:   per seed and copy (baseline, twin, perturbed), the test accuracy in percent at the end of
       each of the last `average_epochs` epochs and the train loss (mean over the epoch's
       minibatches) at every epoch's last step; at the last step the mean of those accuracies and
       whether the run diverged; against the seed's baseline, the relative weight difference and
       the prediction disagreement (percent of test images) of the twin and of each perturbed copy,
       and the bitwise identity of the twin (Sun et al. §3, Table 1); on the baseline's rows its
       disagreement with the other seeds' baselines (the mean over them). The twin's rows are the
       control of F1: the same comparisons without a perturbation.
board: per learning rate η of the grid (seed first_seed), on the perturbed copy's rows its relative
       weight difference to the baseline at every checkpoint and whether the pair diverged; along
       the baseline trajectory its loss at every checkpoint and, at every step of the late half,
       λmax·η/2 (the sharpness S·η/2) and λmin·η/2 of ∇²L (§4; every step, so that a period-2
       oscillation is not aliased); one row of the linear PDE's α_min per variant (board.py). A
       difference is NaN where either copy is no longer finite; the baseline's rows only where
       the baseline is.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

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

LATE_FROM = 0.5  # curvature is measured at every step from this fraction of the run on


def disagreement_across_seeds(predictions: np.ndarray) -> np.ndarray:
    """Per seed, the mean over the other seeds of the share of test images on which the two
    baselines predict different classes (predictions: (seeds, test examples))."""
    seeds = len(predictions)
    if seeds < 2:
        return np.full(seeds, np.nan)
    pairs = np.array([[prediction_disagreement(a, b) for b in predictions] for a in predictions])
    return pairs.sum(axis=1) / (seeds - 1)


def measure_cnn(config: Config, variant: CNNVariant, runs) -> pd.DataFrame:
    setup = config.cnn
    rows = TidyRows(
        SETTING_COLUMNS,
        experiment=CNN,
        activation=variant.activation,
        lr=setup.lr,
        weight_decay=setup.weight_decay,
        image_side=None,
        kernel_side=None,
    )
    epoch_end_steps = runs["epoch_end_steps"]
    last_step = int(epoch_end_steps[-1])
    evaluated_steps = epoch_end_steps[-setup.average_epochs :]  # where test accuracy was taken
    across_seeds = disagreement_across_seeds(runs["predictions"][:, 0])
    for s, seed in enumerate(runs["seeds"]):
        base_weights, base_predictions = runs["weights"][s, 0], runs["predictions"][s, 0]
        for c, (copy, k) in enumerate(variant.copies):
            settings = {"copy": copy, "perturbation": k}
            weights = runs["weights"][s, c]
            accuracy_percent = 100.0 * runs["test_accuracy"][s, c]
            loss = runs["train_loss"][s, c]
            rows.add_series(
                seed, evaluated_steps, "test_accuracy_percent", accuracy_percent, **settings
            )
            rows.add_series(seed, epoch_end_steps, "train_loss", loss, **settings)
            rows.add(
                seed,
                last_step,
                "test_accuracy_last_epochs_mean_percent",
                accuracy_percent.mean(),
                **settings,
            )
            rows.add(seed, last_step, "diverged", float(not np.isfinite(loss[-1])), **settings)
            if copy == BASELINE:
                rows.add(
                    seed,
                    last_step,
                    "prediction_disagreement_across_seeds_percent",
                    100.0 * across_seeds[s],
                    **settings,
                )
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


def measure_board(config: Config, variant: BoardVariant, data, runs) -> pd.DataFrame:
    setup, size, seed = config.board, config.board.sizes[variant.size], config.first_seed
    rows = TidyRows(
        SETTING_COLUMNS,
        experiment=BOARD,
        activation=board.ACTIVATION,
        image_side=size.image_side,
        kernel_side=size.kernel_side,
    )
    models = {
        alpha: board.model_for(config, variant, data, alpha) for alpha in variant.weight_decays
    }
    alpha_min = models[variant.weight_decays[0]].alpha_min()  # a property of the size alone
    rows.add(
        seed,
        0,
        "linear_pde_alpha_min",
        alpha_min,
        weight_decay=None,
        lr=None,
        copy=None,
        perturbation=None,
    )
    checkpoints = runs["checkpoint_steps"]
    steps = np.arange(size.steps + 1)
    late = steps >= LATE_FROM * size.steps
    for index, (alpha, lr) in enumerate(zip(runs["weight_decays"], runs["lrs"], strict=True)):
        model = models[float(alpha)]
        on_baseline = {"weight_decay": alpha, "lr": lr, "copy": BASELINE, "perturbation": 1}
        on_perturbed = {
            "weight_decay": alpha,
            "lr": lr,
            "copy": PERTURBED,
            "perturbation": setup.perturbation,
        }
        first_kernels = runs["baseline_kernels"][index]
        second_kernels = runs["perturbed_kernels"][index]
        diverged = not (
            np.isfinite(first_kernels[-1]).all() and np.isfinite(second_kernels[-1]).all()
        )
        rows.add(seed, steps[-1], "diverged", float(diverged), **on_perturbed)
        for step, first, second in zip(checkpoints, first_kernels, second_kernels, strict=True):
            both_finite = np.isfinite(first).all() and np.isfinite(second).all()
            difference = relative_weight_difference(first, second) if both_finite else np.nan
            rows.add(seed, step, "relative_weight_difference", difference, **on_perturbed)
        responses = runs["baseline_responses"][index]
        norms = runs["baseline_squared_norms"][index]
        finite = np.isfinite(norms)
        losses = model.loss_of(responses[finite], norms[finite])
        kept = steps[finite]
        at_checkpoints = np.isin(kept, checkpoints)
        rows.add_series(seed, kept[at_checkpoints], "loss", losses[at_checkpoints], **on_baseline)
        measured = finite & late
        if measured.any():
            lowest, highest = model.curvature(responses[measured])
            rows.add_series(
                seed, steps[measured], "sharpness_times_lr_over_2", highest * lr / 2, **on_baseline
            )
            rows.add_series(
                seed,
                steps[measured],
                "lowest_curvature_times_lr_over_2",
                lowest * lr / 2,
                **on_baseline,
            )
    return rows.frame()


def measure(config: Config, variant_name: str, data, runs, *, reads) -> pd.DataFrame:
    torch.set_num_threads(1)
    match config.variants[variant_name]:
        case CNNVariant() as variant:
            return measure_cnn(config, variant, runs)
        case BoardVariant() as variant:
            return measure_board(config, variant, data, runs)
