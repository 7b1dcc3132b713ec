"""The Table-1 analogue (Sun et al. §3): copies of a small CNN trained in lockstep on digits.

Net: conv 3×3 (c1) → BatchNorm → act → pool 2 → conv 3×3 (c2) → BatchNorm → act → pool 2 → linear
(10 classes), in float32 like the paper's runs. act/pool is ReLU/max-pool, or the public code's
Swish x·σ(5x) (instability/resnet_swish.py) with average pooling, a network without kinks. Every
copy of one seed starts from the same initialisation and sees the same minibatches with the same
±shift augmentation; copies differ only in the perturbation k of their update (perturbed_sgd.py).
SGD with Nesterov momentum and L2 weight decay, the step divided by 10 at fixed fractions of the
epochs (the public code's instability/main6.py: at epochs 40 / 80 / 120 / 160 of 200).

The copies of one seed are held side by side in one module (`LockstepCopies`): their channels
concatenated, the second convolution grouped by copy and one linear map per copy, so one pass
trains them all; nothing mixes copies (BatchNorm, pooling and the activation act per channel), and
the unperturbed twin, which the study checks bit for bit, shows that the arrangement adds no
difference of its own.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional

from ...common.digits import CLASSES, IMAGE_SIDE, epoch_batches
from ...common.schedules import multi_step_rates
from .config import POOLING, CNNSetup
from .perturbed_sgd import PerturbedNesterovSGD

SWISH_SLOPE = 5.0  # x·σ(5x): the public code's Swish (instability/resnet_swish.py)
ACTIVATIONS = {"relu": torch.relu, "swish5": lambda x: x * torch.sigmoid(SWISH_SLOPE * x)}
POOLS = {"max": functional.max_pool2d, "avg": functional.avg_pool2d}


def single_network(channels: tuple[int, int], seed: int) -> nn.Sequential:
    """One copy's initial layers, drawn by PyTorch's default initialisation from `seed`."""
    first, second = channels
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return nn.Sequential(
            nn.Conv2d(1, first, 3, padding=1),
            nn.Conv2d(first, second, 3, padding=1),
            nn.Linear(second * (IMAGE_SIDE // 4) ** 2, CLASSES),
        )


class LockstepCopies(nn.Module):
    """`copies` copies of one initialisation, side by side: copy c owns channels c·c1 … (c+1)·c1 − 1
    of the first block, c·c2 … of the second and the c-th linear map. Every parameter has the
    copy as its leading axis (PerturbedNesterovSGD steps each copy with its own k)."""

    def __init__(self, channels: tuple[int, int], activation: str, seed: int, copies: int):
        super().__init__()
        first, second = channels
        conv1, conv2, linear = single_network(channels, seed)
        self.copies, self.activation = copies, ACTIVATIONS[activation]
        self.pool = POOLS[POOLING[activation]]

        def repeated(tensor: torch.Tensor) -> nn.Parameter:
            return nn.Parameter(tensor.detach().repeat(copies, *([1] * (tensor.dim() - 1))))

        self.conv1_weight, self.conv1_bias = repeated(conv1.weight), repeated(conv1.bias)
        self.norm1 = nn.BatchNorm2d(copies * first)
        self.conv2_weight, self.conv2_bias = repeated(conv2.weight), repeated(conv2.bias)
        self.norm2 = nn.BatchNorm2d(copies * second)
        self.linear_weight = repeated(linear.weight[None])  # (copies, classes, features)
        self.linear_bias = repeated(linear.bias[None])
        for weight in (self.conv1_weight, self.conv2_weight):  # channels-last: ~1.2x faster on CPU
            weight.data = weight.data.contiguous(memory_format=torch.channels_last)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Logits of every copy, shape (batch, copies, classes)."""
        hidden = functional.conv2d(images, self.conv1_weight, self.conv1_bias, padding=1)
        hidden = self.pool(self.activation(self.norm1(hidden)), 2)
        hidden = functional.conv2d(
            hidden, self.conv2_weight, self.conv2_bias, padding=1, groups=self.copies
        )
        hidden = self.pool(self.activation(self.norm2(hidden)), 2)
        features = hidden.reshape(len(images), self.copies, -1)
        return torch.einsum("bcf,cof->bco", features, self.linear_weight) + self.linear_bias

    def flat_weights(self) -> np.ndarray:
        """(copies, P) float64: each copy's parameters and BatchNorm running statistics, in layer
        order."""
        tensors = [
            self.conv1_weight,
            self.conv1_bias,
            self.norm1.weight,
            self.norm1.bias,
            self.norm1.running_mean,
            self.norm1.running_var,
            self.conv2_weight,
            self.conv2_bias,
            self.norm2.weight,
            self.norm2.bias,
            self.norm2.running_mean,
            self.norm2.running_var,
            self.linear_weight,
            self.linear_bias,
        ]
        return torch.cat(
            [t.detach().reshape(self.copies, -1).double() for t in tensors], dim=1
        ).numpy()


def steps_per_epoch(examples: int, batch: int) -> int:
    """Optimisation steps in one epoch: minibatches of `batch`, the last one possibly short."""
    return -(-examples // batch)


def shifted(images: torch.Tensor, shifts: np.ndarray, pixels: int) -> torch.Tensor:
    """Each image moved by its (dy, dx) ∈ [−pixels, pixels]², zero fill (one gather for the batch)."""
    padded = nn.functional.pad(images, (pixels,) * 4)
    window = torch.arange(IMAGE_SIDE)
    rows = torch.as_tensor(pixels + shifts[:, 0])[:, None] + window  # (batch, side)
    columns = torch.as_tensor(pixels + shifts[:, 1])[:, None] + window
    batch = torch.arange(len(images))[:, None, None]
    return padded[batch, 0, rows[:, :, None], columns[:, None, :]][:, None]


@dataclass
class CopiesResult:
    """Per copy (baseline, twin, perturbations…): test accuracy (a fraction) at the end of each of
    the last `average_epochs` epochs, train loss per epoch, final flat weights (BatchNorm running
    statistics included) and final test predictions."""

    test_accuracy: np.ndarray  # (copies, average_epochs)
    train_loss: np.ndarray  # (copies, epochs), mean over the epoch's batches
    weights: np.ndarray  # (copies, P)
    predictions: np.ndarray  # (copies, test examples)


def predict(model: LockstepCopies, images: torch.Tensor) -> np.ndarray:
    """(copies, examples) predicted classes, BatchNorm on its running statistics."""
    model.eval()
    with torch.no_grad():
        predicted = model(images).argmax(dim=2).T
    model.train()
    return predicted.numpy()


def train_copies(
    setup: CNNSetup, activation: str, ks: list[int], seed: int, data: dict
) -> CopiesResult:
    """One seed: a copy per k in `ks` (k = 1 may repeat), in lockstep on identical batches."""
    model = LockstepCopies(setup.channels, activation, seed, len(ks))
    optimizer = PerturbedNesterovSGD(model.parameters(), setup.momentum, setup.weight_decay, ks)
    train_images = torch.as_tensor(data["train_images"])
    train_labels = torch.as_tensor(data["train_labels"])
    test_images = torch.as_tensor(data["test_images"]).contiguous(memory_format=torch.channels_last)
    test_labels = data["test_labels"]
    rates = multi_step_rates(setup.lr, setup.lr_decay_factor, setup.lr_decay_at, setup.epochs)
    generator = np.random.default_rng(seed)
    first_evaluated = setup.epochs - setup.average_epochs
    accuracy = np.zeros((len(ks), setup.average_epochs))
    losses = np.zeros((len(ks), setup.epochs))
    for epoch, lr in enumerate(rates):
        batches = epoch_batches(len(train_labels), setup.batch, generator)
        for batch in batches:
            shifts = generator.integers(
                -setup.shift_pixels, setup.shift_pixels + 1, size=(len(batch), 2)
            )
            images = (
                shifted(train_images[batch], shifts, setup.shift_pixels)
                if setup.shift_pixels
                else train_images[batch]
            ).contiguous(memory_format=torch.channels_last)
            logits = model(images)  # (batch, copies, classes)
            labels = train_labels[batch][:, None].expand(-1, len(ks))
            per_example = functional.cross_entropy(logits.transpose(1, 2), labels, reduction="none")
            # the sum over copies of each copy's mean loss: each copy gets its own gradient
            loss = per_example.sum() / len(batch)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step(float(lr))
            losses[:, epoch] += per_example.detach().mean(dim=0).double().numpy() / len(batches)
        if epoch >= first_evaluated:  # the test accuracy is only averaged over the last epochs
            predicted = predict(model, test_images)
            accuracy[:, epoch - first_evaluated] = (predicted == test_labels).mean(axis=1)
    return CopiesResult(accuracy, losses, model.flat_weights(), predicted)
