"""The Table-1 analogue (Sun et al. §3): copies of a small CNN trained in lockstep on digits.

Net: conv 3×3 (c1) → BatchNorm → act → pool 2 → conv 3×3 (c2) → BatchNorm → act → pool 2 → linear
(10 classes), in float32 like the paper's runs. act/pool is ReLU/max-pool, or SiLU/average-pool for
the smooth control. Every copy of one seed starts from the same initialisation and sees the same
minibatches with the same ±shift augmentation; copies differ only in the perturbation k of their
update (perturbed_sgd.py). SGD with Nesterov momentum and L2 weight decay, constant lr.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ...common.digits import CLASSES, IMAGE_SIDE, epoch_batches
from .config import POOLING, CNNSetup
from .perturbed_sgd import PerturbedNesterovSGD


def network(channels: tuple[int, int], activation: str, seed: int) -> nn.Module:
    act = {"relu": nn.ReLU, "silu": nn.SiLU}[activation]
    pool = {"max": nn.MaxPool2d, "avg": nn.AvgPool2d}[POOLING[activation]]
    first, second = channels
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return nn.Sequential(
            nn.Conv2d(1, first, 3, padding=1),
            nn.BatchNorm2d(first),
            act(),
            pool(2),
            nn.Conv2d(first, second, 3, padding=1),
            nn.BatchNorm2d(second),
            act(),
            pool(2),
            nn.Flatten(),
            nn.Linear(second * (IMAGE_SIDE // 4) ** 2, CLASSES),
        )


def steps_per_epoch(examples: int, batch: int) -> int:
    """Optimisation steps in one epoch: minibatches of `batch`, the last one possibly short."""
    return -(-examples // batch)


def shifted(images: torch.Tensor, shifts: np.ndarray, pixels: int) -> torch.Tensor:
    """Each image moved by its (dy, dx) ∈ [−pixels, pixels]², zero fill."""
    padded = nn.functional.pad(images, (pixels,) * 4)
    out = torch.empty_like(images)
    for index, (dy, dx) in enumerate(shifts):
        out[index] = padded[
            index, :, pixels + dy : pixels + dy + IMAGE_SIDE, pixels + dx : pixels + dx + IMAGE_SIDE
        ]
    return out


@dataclass
class CopiesResult:
    """Per copy (baseline, twin, perturbations…): test accuracy and train loss per epoch, final
    flat weights (BatchNorm running statistics included) and final test predictions."""

    test_accuracy: np.ndarray  # (copies, epochs)
    train_loss: np.ndarray  # (copies, epochs), mean over the epoch's batches
    weights: np.ndarray  # (copies, P)
    predictions: np.ndarray  # (copies, test examples)


def evaluate(
    model: nn.Module, images: torch.Tensor, labels: torch.Tensor
) -> tuple[float, np.ndarray]:
    model.eval()
    with torch.no_grad():
        predicted = model(images).argmax(dim=1)
    model.train()
    return float((predicted == labels).double().mean()), predicted.numpy()


def train_copies(
    setup: CNNSetup, activation: str, ks: list[int], seed: int, data: dict
) -> CopiesResult:
    """One seed: a copy per k in `ks` (k = 1 may repeat), in lockstep on identical batches."""
    models = [network(setup.channels, activation, seed) for _ in ks]
    optimizers = [
        PerturbedNesterovSGD(m.parameters(), setup.lr, setup.momentum, setup.weight_decay, k)
        for m, k in zip(models, ks, strict=True)
    ]
    train_images, train_labels = (
        torch.as_tensor(data["train_images"]),
        torch.as_tensor(data["train_labels"]),
    )
    test_images, test_labels = (
        torch.as_tensor(data["test_images"]),
        torch.as_tensor(data["test_labels"]),
    )
    generator = np.random.default_rng(seed)
    accuracy, losses = np.zeros((len(ks), setup.epochs)), np.zeros((len(ks), setup.epochs))
    for epoch in range(setup.epochs):
        batches = epoch_batches(len(train_labels), setup.batch, generator)
        for batch in batches:
            shifts = generator.integers(
                -setup.shift_pixels, setup.shift_pixels + 1, size=(len(batch), 2)
            )
            images = (
                shifted(train_images[batch], shifts, setup.shift_pixels)
                if setup.shift_pixels
                else train_images[batch]
            )
            for index, (model, optimizer) in enumerate(zip(models, optimizers, strict=True)):
                loss = nn.functional.cross_entropy(model(images), train_labels[batch])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                losses[index, epoch] += float(loss.detach()) / len(batches)
        for index, model in enumerate(models):
            accuracy[index, epoch], _ = evaluate(model, test_images, test_labels)
    predictions = np.stack([evaluate(m, test_images, test_labels)[1] for m in models])
    weights = np.stack(
        [
            torch.cat(
                [
                    t.detach().reshape(-1).double()
                    for t in m.state_dict().values()
                    if t.is_floating_point()
                ]
            ).numpy()
            for m in models
        ]
    )
    return CopiesResult(accuracy, losses, weights, predictions)
