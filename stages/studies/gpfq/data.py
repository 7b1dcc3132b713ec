"""The images the float networks learn and the quantizers calibrate on: scikit-learn's digits, or
MNIST from local IDX files when `setup.data.mnist_idx_dir` names a folder (the paper's MLP setting).

Pixels are scaled to [0, 1] (torchvision's ToTensor) and stored flat in float32 (exact for the
digits' sixteenths); digits are split with the shared seeded split at `first_seed`, MNIST keeps its
own 60,000 / 10,000 split.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ...common import digits
from . import idx_datasets
from .config import Config


def generate(config: Config) -> dict[str, np.ndarray]:
    if config.data.mnist_idx_dir:
        return idx_datasets.mnist(Path(config.data.mnist_idx_dir))
    split = digits.split(config.data.test_fraction, config.first_seed)
    return {
        "train_inputs": split.train_inputs.astype(np.float32),
        "train_labels": split.train_labels,
        "test_inputs": split.test_inputs.astype(np.float32),
        "test_labels": split.test_labels,
    }


def image_side(data: dict[str, np.ndarray]) -> int:
    return int(round(np.sqrt(data["train_inputs"].shape[1])))
