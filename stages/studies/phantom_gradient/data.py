"""The digits split every variant reads: scikit-learn's bundled 8×8 digits, pixels/16 (values in [0, 1]),
one seeded train/test split (stages/common/digits.py), so seeds vary initialisation and batch order
against one fixed test set, as a benchmark's fixed test split."""

from __future__ import annotations

import numpy as np

from ...common import digits
from .config import Config


def generate(config: Config) -> dict[str, np.ndarray]:
    split = digits.split(config.test_fraction, config.split_seed)
    return {
        "train_inputs": split.train_inputs,
        "train_labels": split.train_labels,
        "test_inputs": split.test_inputs,
        "test_labels": split.test_labels,
    }
