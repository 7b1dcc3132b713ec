"""Train the dense implicit model on digits with one backward choice (P3), keeping checkpoints for
the direction measurement (P1) and the machine-independent cost of every step (P2).

Every seed: initialisation and minibatch order from the seed, Adam, cross-entropy on logits V z* + c,
‖W‖₂ projected back under the cap after every step (the layer stays a contraction). Per epoch: mean
training loss, test accuracy, spectral norm of W, solver evaluations and backward passes per step,
solves that missed their tolerance and the largest relative residual. A non-finite loss marks the
seed diverged; its later epochs stay NaN.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from ...common.digits import epoch_batches
from ...common.study import TrainResult
from .cells import DenseClassifier
from .config import CLASSES, DIGIT_PIXELS, Config, Dense
from .implicit import Costs, equilibrium, solve_forward
from .settings import Backward
from .timing import train_conv_timing

EPOCH_METRICS = (
    "train_loss",
    "test_accuracy",
    "spectral_norm_w",
    "forward_evaluations_per_step",
    "backward_passes_per_step",
    "backward_vjps_per_step",
    "unconverged_solves",
    "max_relative_residual",
)


def dense_model(setup: Dense, seed: int) -> DenseClassifier:
    return DenseClassifier(
        DIGIT_PIXELS,
        setup.width,
        CLASSES,
        setup.max_spectral_norm,
        torch.Generator().manual_seed(seed),
    )


def tensors(data: dict[str, np.ndarray], part: str) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.as_tensor(data[f"{part}_inputs"]), torch.as_tensor(data[f"{part}_labels"])


def test_accuracy(
    model: DenseClassifier, inputs: torch.Tensor, labels: torch.Tensor, setup: Dense, costs: Costs
) -> float:
    with torch.no_grad():
        state = solve_forward(model.cell, model.cell.inject(inputs), setup.solver, costs)
        return float((model.head(state).argmax(dim=1) == labels).to(torch.float64).mean())


def train_seed(setup: Dense, backward: Backward, seed: int, data) -> dict[str, np.ndarray]:
    model = dense_model(setup, seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=setup.lr)
    order = np.random.default_rng(seed)
    inputs, labels = tensors(data, "train")
    test = tensors(data, "test")
    history = {name: np.full(setup.epochs + 1, np.nan) for name in EPOCH_METRICS}
    checkpoints = {0: model.flat()}
    history["test_accuracy"][0] = test_accuracy(model, *test, setup, Costs())
    history["spectral_norm_w"][0] = model.cell.spectral_norm()
    diverged = False
    for epoch in range(1, setup.epochs + 1):
        costs, losses = Costs(), []
        for batch in epoch_batches(len(labels), setup.batch_size, order):
            state = equilibrium(
                model.cell, inputs[batch], backward, setup.solver, setup.solver, costs
            )
            loss = F.cross_entropy(model.head(state), labels[batch])
            if not math.isfinite(loss.item()):
                diverged = True
                break
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            model.cell.cap_spectral_norm()
            losses.append(loss.item())
        if diverged:
            break
        steps = len(losses)
        evaluation = Costs()
        accuracy = test_accuracy(model, *test, setup, evaluation)
        residuals = costs.forward_residuals + costs.adjoint_residuals + evaluation.forward_residuals
        unconverged = (
            costs.forward_unconverged + costs.adjoint_unconverged + evaluation.forward_unconverged
        )
        for name, value in (
            ("train_loss", float(np.mean(losses))),
            ("test_accuracy", accuracy),
            ("spectral_norm_w", model.cell.spectral_norm()),
            ("forward_evaluations_per_step", costs.forward_evaluations / steps),
            ("backward_passes_per_step", costs.backward_passes / steps),
            ("backward_vjps_per_step", costs.backward_vjps / steps),
            ("unconverged_solves", unconverged),
            ("max_relative_residual", max(residuals)),
        ):
            history[name][epoch] = value
        if epoch in setup.checkpoint_epochs():
            checkpoints[epoch] = model.flat()
    saved = setup.checkpoint_epochs()
    stacked = torch.stack(
        [checkpoints.get(e, torch.full_like(checkpoints[0], math.nan)) for e in saved]
    )
    return {**history, "checkpoints": stacked.numpy(), "diverged": np.asarray(diverged)}


def train_dense(config: Config, backward: Backward, data: dict[str, np.ndarray]) -> TrainResult:
    setup = config.dense
    seeds = config.seeds(setup.seeds)
    runs = [train_seed(setup, backward, seed, data) for seed in seeds]
    arrays = {name: np.stack([run[name] for run in runs]) for name in runs[0]}
    arrays.update(
        seeds=np.asarray(seeds, np.int64),
        checkpoint_epochs=np.asarray(setup.checkpoint_epochs(), np.int64),
    )
    steps_per_epoch = math.ceil(len(data["train_labels"]) / setup.batch_size)
    return TrainResult(
        arrays, run_steps=steps_per_epoch * setup.epochs * len(seeds), runs=len(seeds)
    )


def train(
    config: Config, variant_name: str, data: dict[str, np.ndarray], *, probe, execution, reads
) -> TrainResult:
    """The skeleton's train: the dense model with the variant's backward, or the timing cell."""
    variant = config.variants[variant_name]
    if variant.experiment == "dense":
        return train_dense(config, variant.backward, data)
    return train_conv_timing(config, variant.backward, data)
