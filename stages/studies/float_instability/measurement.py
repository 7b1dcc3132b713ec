"""Measurements of one variant's runs, as tidy rows (the `seed` column numbers the runs: copy or η).

cnn:   per seed and copy, test accuracy and train loss per epoch; at the end the mean test accuracy
       over the last `average_epochs` epochs, and against the seed's baseline (k = 1) the relative
       weight difference and the prediction disagreement; the twin's bitwise identity to the baseline.
board: per learning rate, along the baseline trajectory the loss and (late half) the sharpness
       λmax(∇²L) with S·η/2; between baseline and perturbed copy the relative weight difference.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from ...common.hessian import dense_hessian
from .board import CheckerboardModel
from .config import Config, Variant
from .copy_divergence import bitwise_identical, prediction_disagreement, relative_weight_difference


class Rows:
    def __init__(self, variant: Variant, config: Config):
        self.variant, self.config, self.rows = variant, config, []

    def add(
        self,
        run: int,
        seed: int,
        step: int,
        metric: str,
        value: float,
        k: int,
        lr: float,
        weight_decay: float,
    ) -> None:
        self.rows.append(
            {
                "seed": int(run),
                "step": int(step),
                "metric": metric,
                "value": float(value),
                "experiment": self.variant.experiment,
                "activation": self.variant.activation,
                "init_seed": int(seed),
                "perturbation": int(k),
                "lr": float(lr),
                "weight_decay": float(weight_decay),
            }
        )

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows)


def measure_cnn(config: Config, variant: Variant, runs) -> Rows:
    setup, rows = config.cnn, Rows(variant, config)
    ks = [int(k) for k in runs["perturbations"]]
    for s, seed in enumerate(runs["seeds"]):
        base_weights, base_predictions = runs["weights"][s, 0], runs["predictions"][s, 0]
        rows.add(
            s * len(ks) + 1,
            seed,
            setup.epochs,
            "unperturbed_twin_identical",
            float(bitwise_identical(base_weights, runs["weights"][s, 1])),
            1,
            setup.lr,
            setup.weight_decay,
        )
        for c, k in enumerate(ks):
            if c == 1:
                continue  # the twin only serves the identity check
            run = s * len(ks) + c

            def add(step, metric, value, run=run, seed=seed, k=k):
                rows.add(run, seed, step, metric, value, k, setup.lr, setup.weight_decay)

            for epoch in range(setup.epochs):
                add(epoch + 1, "test_accuracy", runs["test_accuracy"][s, c, epoch])
                add(epoch + 1, "train_loss", runs["train_loss"][s, c, epoch])
            add(
                setup.epochs,
                "test_accuracy_last_epochs_mean",
                runs["test_accuracy"][s, c, -setup.average_epochs :].mean(),
            )
            add(setup.epochs, "diverged", float(not np.isfinite(runs["train_loss"][s, c, -1])))
            if k != 1:
                add(
                    setup.epochs,
                    "relative_weight_difference",
                    relative_weight_difference(base_weights, runs["weights"][s, c]),
                )
                add(
                    setup.epochs,
                    "prediction_disagreement",
                    prediction_disagreement(base_predictions, runs["predictions"][s, c]),
                )
    return rows


def sharpness(model: CheckerboardModel, kernel: np.ndarray) -> float:
    """λmax of the exact Hessian of L (m² × m², dense: the kernel has few entries)."""
    hessian = dense_hessian(model.loss, torch.as_tensor(kernel))
    return float(torch.linalg.eigvalsh(hessian)[-1])


def measure_board(config: Config, variant: Variant, data, runs) -> Rows:
    setup, rows, alpha = config.board, Rows(variant, config), variant.weight_decay
    model = CheckerboardModel(data["checkerboard"], setup.kernel_side, alpha)
    steps, k = runs["steps"], setup.perturbation
    for index, lr in enumerate(runs["lrs"]):

        def add(step, metric, value, index=index, lr=lr):
            rows.add(index, config.first_seed, step, metric, value, k, lr, alpha)

        baseline, perturbed = runs["baseline"][index], runs["perturbed"][index]
        diverged = not (np.isfinite(baseline[-1]).all() and np.isfinite(perturbed[-1]).all())
        add(steps[-1], "diverged", float(diverged))
        for step, first, second in zip(steps, baseline, perturbed, strict=True):
            finite = np.isfinite(first).all() and np.isfinite(second).all()
            add(
                step,
                "relative_weight_difference",
                relative_weight_difference(first, second) if finite else np.nan,
            )
            with torch.no_grad():
                add(step, "loss", float(model.loss(torch.as_tensor(first))) if finite else np.nan)
            if finite and step >= steps[-1] / 2:
                curvature = sharpness(model, first)
                add(step, "sharpness", curvature)
                add(step, "sharpness_times_lr_over_2", curvature * lr / 2)
    return rows


def measure(config: Config, variant_name: str, data, runs, *, reads) -> pd.DataFrame:
    torch.set_num_threads(1)
    variant = config.variants[variant_name]
    rows = (
        measure_cnn(config, variant, runs)
        if variant.experiment == "cnn"
        else measure_board(config, variant, data, runs)
    )
    return rows.frame()
