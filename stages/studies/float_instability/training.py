"""Train one variant: every seed and perturbation (cnn) or every learning rate (board), in this process."""

from __future__ import annotations

import numpy as np
import torch

from ...common.study import Execution, TrainResult
from .board import CheckerboardModel
from .cnn import train_copies
from .config import Config, Variant


def copy_perturbations(variant: Variant) -> list[int]:
    """The copies of one cnn seed: the baseline k = 1, its unperturbed twin, then each perturbation."""
    return [1, 1, *variant.perturbations]


def train_cnn(config: Config, variant: Variant, data) -> TrainResult:
    ks = copy_perturbations(variant)
    seeds = [config.first_seed + index for index in range(variant.seeds)]
    results = [train_copies(config.cnn, variant.activation, ks, seed, data) for seed in seeds]
    steps_per_epoch = -(-len(data["train_labels"]) // config.cnn.batch)
    return TrainResult(
        {
            "seeds": np.array(seeds),
            "perturbations": np.array(ks),
            "test_accuracy": np.stack([r.test_accuracy for r in results]),
            "train_loss": np.stack([r.train_loss for r in results]),
            "weights": np.stack([r.weights for r in results]),
            "predictions": np.stack([r.predictions for r in results]),
        },
        run_steps=len(seeds) * len(ks) * config.cnn.epochs * steps_per_epoch,
        runs=len(seeds) * len(ks),
    )


def train_board(config: Config, variant: Variant, data) -> TrainResult:
    setup = config.board
    model = CheckerboardModel(data["checkerboard"], setup.kernel_side, variant.weight_decay)
    start = model.initial(config.first_seed)
    trajectories = {
        k: np.stack(
            [
                model.descend(
                    start, lr, k, setup.steps, setup.checkpoint_every, setup.divergence_norm
                )
                for lr in variant.lrs
            ]
        )
        for k in (1, setup.perturbation)
    }
    return TrainResult(
        {
            "lrs": np.array(variant.lrs),
            "baseline": trajectories[1],
            "perturbed": trajectories[setup.perturbation],
            "steps": np.arange(0, setup.steps + 1, setup.checkpoint_every),
        },
        run_steps=2 * len(variant.lrs) * setup.steps,
        runs=2 * len(variant.lrs),
    )


def train(
    config: Config, variant_name: str, data, *, probe, execution: Execution, reads
) -> TrainResult:
    torch.set_num_threads(1)
    variant = config.variants[variant_name]
    return (train_cnn if variant.experiment == "cnn" else train_board)(config, variant, data)
