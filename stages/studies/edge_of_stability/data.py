"""The data every variant trains on (stage generate), and the digits a network takes from it.

scikit-learn's bundled 8×8 digits (no download): the first `examples` images, pixels divided by 16,
centred per pixel and divided by (std + 0.1) per pixel (some border pixels are constant, so plain
standardisation would divide by zero). Targets are one-hot over the 10 classes, or ±1 with one output
for a two-class network (`network_examples`).
"""

from __future__ import annotations

import numpy as np

from ...common import digits as common_digits
from ...common.params import ParamError
from .config import CLASSES, Config, Network
from .diagonal_net import teacher_data


def digits(examples: int) -> dict[str, np.ndarray]:
    """{'inputs': (examples, 64) float64, 'labels': (examples,) int64} as described above."""
    inputs, labels = common_digits.pixels()
    return {"inputs": common_digits.standardised(inputs[:examples]), "labels": labels[:examples]}


def one_hot(labels: np.ndarray) -> np.ndarray:
    return np.eye(CLASSES, dtype=np.float64)[labels]


def network_examples(
    network: Network, inputs: np.ndarray, labels: np.ndarray, key: str = "network.examples"
) -> tuple[np.ndarray, np.ndarray]:
    """(inputs, targets) a network trains on: the first `examples` digits with one-hot targets, or
    with `binary_labels` = (a, b) the first examples/2 of class a (target −1) then of class b (+1),
    one column (Damian et al.'s binary MSE, y = ±1). Too few digits of a class: ParamError on `key`."""
    if network.binary_labels is None:
        return inputs[: network.examples], one_hot(labels[: network.examples])
    per_class = network.examples // 2
    chosen = [np.flatnonzero(labels == label)[:per_class] for label in network.binary_labels]
    if min(len(c) for c in chosen) < per_class:
        raise ParamError(
            key,
            network.examples,
            f"at most twice the generated digits of the rarer class in {network.binary_labels} "
            f"({2 * min(len(c) for c in chosen)})",
        )
    rows = np.concatenate(chosen)
    return inputs[rows], np.where(labels[rows] == network.binary_labels[1], 1.0, -1.0)[:, None]


def generate(config: Config) -> dict[str, np.ndarray]:
    """Everything the variants train on: the digits, and the diagonal net's teacher data."""
    settings = config.data
    images = digits(settings.digits_examples)
    for name, setup in (
        ("cohen_gd", config.cohen_gd),
        ("self_stabilization", config.self_stabilization),
    ):
        # fails here, before any training, when a binary network asks for more digits of a class than exist
        network_examples(
            setup.network,
            images["inputs"],
            images["labels"],
            f"edge_of_stability.setup.{name}.network.examples",
        )
    diagonal = teacher_data(
        settings.diagonal_examples,
        settings.diagonal_dimension,
        settings.diagonal_support,
        settings.diagonal_teacher_value,
        settings.diagonal_seed,
    )
    return {"digits_inputs": images["inputs"], "digits_labels": images["labels"], **diagonal}
