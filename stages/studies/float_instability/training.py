"""Train one variant in this process: every seed's copies of a CNN variant, or every learning rate
of a board variant (a baseline and a perturbed copy per η)."""

from __future__ import annotations

import numpy as np
import torch

from ...common.study import Execution, TrainResult
from .board import model_for
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
            # the test accuracy is taken at the end of the last average_epochs epochs only
            "test_accuracy": np.stack([r.test_accuracy for r in results]),
            "train_loss": np.stack([r.train_loss for r in results]),
            "weights": np.stack([r.weights for r in results]),
            "predictions": np.stack([r.predictions for r in results]),
        },
        run_steps=len(seeds) * len(ks) * setup.epochs * epoch_steps,
        runs=len(seeds) * len(ks),
    )


def train_board(config: Config, variant: BoardVariant, data) -> TrainResult:
    """Per (α, η), gradient descent from one kernel with k = 1 and with k =
    setup.board.perturbation (Sun et al. §4; public code single_layer/PySun2.py)."""
    setup, size = config.board, config.board.sizes[variant.size]
    models = {alpha: model_for(config, variant, data, alpha) for alpha in variant.weight_decays}
    start = models[variant.weight_decays[0]].initial(config.first_seed)  # the same for every α
    runs = {
        k: [
            models[alpha].descend(start, lr, k, setup.divergence_norm) for alpha, lr in variant.runs
        ]
        for k in (1, setup.perturbation)
    }
    baseline, perturbed = runs[1], runs[setup.perturbation]
    return TrainResult(
        {
            "weight_decays": np.array([alpha for alpha, _ in variant.runs]),
            "lrs": np.array([lr for _, lr in variant.runs]),
            "checkpoint_steps": np.arange(0, size.steps + 1, size.checkpoint_every),
            "baseline_kernels": np.stack([run.kernels for run in baseline]),
            "perturbed_kernels": np.stack([run.kernels for run in perturbed]),
            "baseline_responses": np.stack([run.responses for run in baseline]),
            "baseline_squared_norms": np.stack([run.squared_norms for run in baseline]),
        },
        run_steps=2 * len(variant.runs) * size.steps,
        runs=2 * len(variant.runs),
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
