"""Train one variant in this process: every seed and copy of a CNN variant, or every learning rate
of a board variant (a baseline and a perturbed copy per η)."""

from __future__ import annotations

import numpy as np
import torch

from ...common.study import Execution, TrainResult
from .board import CheckerboardModel
from .cnn import steps_per_epoch, train_copies
from .config import BoardVariant, CNNVariant, Config


def train_cnn(config: Config, variant: CNNVariant, data) -> TrainResult:
    """Per seed, the copies of `variant.copies` in lockstep (Sun et al. §3, Table 1)."""
    setup = config.cnn
    ks = [k for _, k in variant.copies]
    seeds = [config.first_seed + index for index in range(variant.seeds)]
    results = [train_copies(setup, variant.activation, ks, seed, data) for seed in seeds]
    epoch_steps = steps_per_epoch(len(data["train_labels"]), setup.batch)
    return TrainResult(
        {
            "seeds": np.array(seeds),
            "perturbations": np.array(ks),
            "epoch_end_steps": epoch_steps * np.arange(1, setup.epochs + 1),
            "test_accuracy": np.stack([r.test_accuracy for r in results]),
            "train_loss": np.stack([r.train_loss for r in results]),
            "weights": np.stack([r.weights for r in results]),
            "predictions": np.stack([r.predictions for r in results]),
        },
        run_steps=len(seeds) * len(ks) * setup.epochs * epoch_steps,
        runs=len(seeds) * len(ks),
    )


def train_board(config: Config, variant: BoardVariant, data) -> TrainResult:
    """Per η of the grid, gradient descent from one kernel (seed `first_seed`) with k = 1 and with
    k = setup.board.perturbation (Sun et al. §4)."""
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
    match config.variants[variant_name]:
        case CNNVariant() as variant:
            return train_cnn(config, variant, data)
        case BoardVariant() as variant:
            return train_board(config, variant, data)
