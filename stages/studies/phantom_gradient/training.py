"""The skeleton's train: a dense variant trains the dense implicit model on digits with its gradient
(P3), keeping checkpoints for the direction measurement (P1) and the machine-independent cost of every
step (P2); the conv_timing variant counts and times the convolutional cell's backward passes
(backward_timing.py).

Every dense seed: initialisation and minibatch order from the seed, Adam, cross-entropy on logits
V z* + c, ‖W‖₂ projected back under the cap after every step where there is a cap. The forward and
the exact gradient's adjoint solves stop at their caps (MDEQ's F_THRES and B_THRES) and go on with
the last iterate, as MDEQ does. Per epoch: mean training loss, spectral norm of W, solver evaluations
and backward passes per step, training solves that stopped at their cap short of the tolerance and
the largest relative residual; at every checkpoint epoch (0 and the last included) the test accuracy
in percent (a forward solve of the whole test split costs about a fifth of an epoch, so it is not
taken every epoch). A non-finite loss marks the seed diverged; its later epochs stay NaN.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from ...common.digits import epoch_batches
from ...common.study import TrainResult
from .backward_timing import time_backwards
from .config import CLASSES, DIGIT_PIXELS, EPOCH_METRICS, Config, DenseSetup, DenseVariant
from .implicit_layer import Costs, equilibrium, solve_forward
from .models import DenseClassifier


def dense_model(setup: DenseSetup, seed: int) -> DenseClassifier:
    return DenseClassifier(
        DIGIT_PIXELS,
        setup.width,
        CLASSES,
        setup.max_spectral_norm,
        torch.Generator().manual_seed(seed),
    )


def tensors(data: dict[str, np.ndarray], part: str) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.as_tensor(data[f"{part}_inputs"]), torch.as_tensor(data[f"{part}_labels"])


def steps_per_epoch(data: dict[str, np.ndarray], setup: DenseSetup) -> int:
    """Optimisation steps in one epoch: one per minibatch, the last one possibly short."""
    return math.ceil(len(data["train_labels"]) / setup.batch_size)


def test_split_accuracy(
    model: DenseClassifier,
    inputs: torch.Tensor,
    labels: torch.Tensor,
    setup: DenseSetup,
    costs: Costs,
) -> float:
    """Percentage of the test digits classified correctly, in [0, 100]."""
    with torch.no_grad():
        state = solve_forward(model.cell, model.cell.inject(inputs), setup.forward_solver, costs)
        correct = (model.head(state).argmax(dim=1) == labels).to(torch.float64).sum()
        return 100.0 * float(correct) / len(labels)


def train_seed(setup: DenseSetup, variant: DenseVariant, seed: int, data) -> dict[str, np.ndarray]:
    model = dense_model(setup, seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=setup.lr)
    order = np.random.default_rng(seed)
    inputs, labels = tensors(data, "train")
    test = tensors(data, "test")
    history = {name: np.full(setup.epochs + 1, np.nan) for name in EPOCH_METRICS}
    checkpoints = {0: model.flat()}
    history["test_accuracy_percent"][0] = test_split_accuracy(model, *test, setup, Costs())
    history["spectral_norm_w"][0] = model.cell.spectral_norm()
    diverged = False
    for epoch in range(1, setup.epochs + 1):
        costs, losses = Costs(), []
        for batch in epoch_batches(len(labels), setup.batch_size, order):
            state = equilibrium(
                model.cell,
                inputs[batch],
                variant.gradient,
                setup.forward_solver,
                setup.adjoint_solver,
                costs,
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
        residuals = costs.forward_residuals + costs.adjoint_residuals
        unconverged = costs.forward_unconverged + costs.adjoint_unconverged
        if epoch in setup.checkpoint_epochs():
            history["test_accuracy_percent"][epoch] = test_split_accuracy(
                model, *test, setup, Costs()
            )
        for name, value in (
            ("train_loss_cross_entropy", float(np.mean(losses))),
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


def train_dense(config: Config, variant: DenseVariant, data: dict[str, np.ndarray]) -> TrainResult:
    setup = config.dense
    seeds = config.seeds(setup.seeds)
    runs = [train_seed(setup, variant, seed, data) for seed in seeds]
    arrays = {name: np.stack([run[name] for run in runs]) for name in runs[0]}
    steps = steps_per_epoch(data, setup)
    arrays.update(
        seeds=np.asarray(seeds, np.int64),
        checkpoint_epochs=np.asarray(setup.checkpoint_epochs(), np.int64),
        steps_per_epoch=np.asarray(steps, np.int64),
    )
    return TrainResult(arrays, run_steps=steps * setup.epochs * len(seeds), runs=len(seeds))


def train(
    config: Config, variant_name: str, data: dict[str, np.ndarray], *, probe, execution, reads
) -> TrainResult:
    """The skeleton's train, by the kind of variant: dense training, or the timing cell's backwards."""
    variant = config.variants[variant_name]
    if isinstance(variant, DenseVariant):
        return train_dense(config, variant, data)
    return time_backwards(config, variant, data)
