"""The study's data: a seeded digits split (F1) and the ±1 checkerboard image (F2, F3)."""

from __future__ import annotations

import numpy as np

from ...common import digits
from .config import Config


def checkerboard(image_side: int, square_side: int) -> np.ndarray:
    """(image_side, image_side) float64 image of ±1 squares of `square_side` pixels, +1 at the origin."""
    index = np.arange(image_side) // square_side
    return 1.0 - 2.0 * ((index[:, None] + index[None, :]) % 2)


def generate(config: Config) -> dict[str, np.ndarray]:
    split = digits.split(config.cnn.test_fraction, config.cnn.split_seed)
    return {
        "train_images": digits.Split.images(split.train_inputs).astype(np.float32),
        "train_labels": split.train_labels,
        "test_images": digits.Split.images(split.test_inputs).astype(np.float32),
        "test_labels": split.test_labels,
        "checkerboard": checkerboard(config.board.image_side, config.board.square_side),
    }
