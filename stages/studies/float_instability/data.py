"""The study's data: a seeded digits split (F1) and a ±1 checkerboard image per board size (F2, F3)."""

from __future__ import annotations

import numpy as np

from ...common import digits
from .config import Config


def checkerboard(image_side: int, square_side: int) -> np.ndarray:
    """(image_side, image_side) float64 image of ±1 squares of `square_side` pixels, −1 at the origin
    as the public code's (single_layer/PySun.py: −1 where row + column, in squares, is even)."""
    index = np.arange(image_side) // square_side
    return 2.0 * ((index[:, None] + index[None, :]) % 2) - 1.0


def image_key(size_name: str) -> str:
    return f"checkerboard_{size_name}"


def generate(config: Config) -> dict[str, np.ndarray]:
    split = digits.split(config.cnn.test_fraction, config.cnn.split_seed)
    images = {
        image_key(name): checkerboard(size.image_side, size.square_side)
        for name, size in config.board.sizes.items()
    }
    return {
        "train_images": digits.Split.images(split.train_inputs).astype(np.float32),
        "train_labels": split.train_labels,
        "test_images": digits.Split.images(split.test_inputs).astype(np.float32),
        "test_labels": split.test_labels,
        **images,
    }
