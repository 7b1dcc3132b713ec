"""The images the float networks learn, the quantizers calibrate on, C is chosen on and accuracy is
measured on: scikit-learn's digits, or MNIST / Fashion-MNIST from local IDX files
(`setup.data.images`). Fashion-MNIST comes as Debian's package dataset-fashion-mnist (IDX files
under /usr/share/datasets/fashion-mnist); nothing is downloaded.

Pixels are scaled to [0, 1] (torchvision's ToTensor) and stored flat in float32. The training
images are shuffled with `first_seed`: the first `validation_images` are the validation split, the
next `training_images` the float networks' training set (calibration images are drawn from it);
an IDX set keeps its own 10,000 test images, digits hold out `test_fraction` with the shared
seeded split.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ...common import digits
from ...common.atomic import DataError
from . import idx_datasets
from .config import FASHION_MNIST_PACKAGE, Config

SPLITS = ("train", "validation", "test")


def generate(config: Config) -> dict[str, np.ndarray]:
    setup = config.data
    if setup.images == "digits":
        split = digits.split(setup.test_fraction, config.first_seed)
        pool = (split.train_inputs.astype(np.float32), split.train_labels)
        test = (split.test_inputs.astype(np.float32), split.test_labels)
    else:
        directory = Path(setup.idx_dir)
        if not directory.is_dir():
            package = (
                f"install Debian's package {FASHION_MNIST_PACKAGE} (apt-get install -y "
                f"{FASHION_MNIST_PACKAGE})"
                if setup.images == "fashion_mnist"
                else "put the four MNIST IDX files there"
            )
            raise DataError(f"gpfq.setup.data.idx_dir = {directory} is missing: {package}")
        arrays = idx_datasets.mnist(directory)
        pool = (arrays["train_inputs"], arrays["train_labels"])
        test = (arrays["test_inputs"], arrays["test_labels"])
    wanted = setup.validation_images + setup.training_images
    if wanted > len(pool[1]):
        raise DataError(
            f"{setup.images} has {len(pool[1])} training images, fewer than the {wanted} that "
            "gpfq.setup.data.validation_images + training_images ask for"
        )
    order = np.random.default_rng(config.first_seed).permutation(len(pool[1]))
    validation = order[: setup.validation_images]
    training = order[setup.validation_images : setup.validation_images + setup.training_images]
    return {
        "train_inputs": pool[0][training],
        "train_labels": pool[1][training],
        "validation_inputs": pool[0][validation],
        "validation_labels": pool[1][validation],
        "test_inputs": test[0],
        "test_labels": test[1],
    }


def image_side(data: dict[str, np.ndarray]) -> int:
    return int(round(np.sqrt(data["train_inputs"].shape[1])))
