"""scikit-learn's bundled 8×8 digits (nothing is downloaded), loaded and split one way for every study.

1,797 images of 64 pixels with values 0..16; `pixels()` divides them by 16. Studies that need
standardised inputs use `standardised`; studies that train classifiers take a seeded train/test
split from `split` and shuffle minibatches with `epoch_batches`, so two studies never differ in
how they read the same data.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

IMAGE_SIDE = 8
CLASSES = 10
STD_OFFSET = (
    0.1  # added to each pixel's std: constant border pixels stay 0 instead of dividing by 0
)


def pixels() -> tuple[np.ndarray, np.ndarray]:
    """(inputs (1797, 64) float64 in [0, 1], labels (1797,) int64), in the package's order."""
    from sklearn.datasets import (
        load_digits,
    )  # ~1 s to import: only stages that load the data pay it

    bunch = load_digits()
    return bunch.data.astype(np.float64) / 16.0, bunch.target.astype(np.int64)


def standardised(inputs: np.ndarray) -> np.ndarray:
    """Centre each pixel and divide by (its std + STD_OFFSET), statistics taken over `inputs`."""
    return (inputs - inputs.mean(axis=0)) / (inputs.std(axis=0) + STD_OFFSET)


@dataclass(frozen=True)
class Split:
    """A seeded train/test split; inputs keep the (n, 64) layout, `images` reshapes to (n, 1, 8, 8)."""

    train_inputs: np.ndarray
    train_labels: np.ndarray
    test_inputs: np.ndarray
    test_labels: np.ndarray

    @staticmethod
    def images(inputs: np.ndarray) -> np.ndarray:
        return inputs.reshape(-1, 1, IMAGE_SIDE, IMAGE_SIDE)


def split(test_fraction: float, seed: int) -> Split:
    """Random train/test split of all 1,797 digits; test statistics never leak into training."""
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must lie in (0, 1), got {test_fraction}")
    inputs, labels = pixels()
    order = np.random.default_rng(seed).permutation(len(labels))
    test_count = int(round(test_fraction * len(labels)))
    test, train = order[:test_count], order[test_count:]
    return Split(inputs[train], labels[train], inputs[test], labels[test])


def epoch_batches(count: int, batch_size: int, generator: np.random.Generator) -> list[np.ndarray]:
    """One epoch's minibatch indices: a fresh permutation cut into batches (the last may be short)."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    order = generator.permutation(count)
    return [order[start : start + batch_size] for start in range(0, count, batch_size)]
