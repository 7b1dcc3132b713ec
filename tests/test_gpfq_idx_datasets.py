"""Study gpfq's local MNIST IDX loader (stages/studies/gpfq/idx_datasets.py), on a fixture written
here: a round trip with MNIST's scaling, the study's generate reading such a folder, and truncated,
mistyped or missing files as data errors."""

import copy
import gzip
import struct

import numpy as np
import pytest
import yaml
from conftest import REPO

from stages.common.atomic import DataError
from stages.common.params import Section
from stages.studies.gpfq import STUDY, config, idx_datasets

PARAMS = yaml.safe_load((REPO / "params.yaml").read_text())["gpfq"]


def idx_bytes(array: np.ndarray) -> bytes:
    return (
        bytes([0, 0, idx_datasets.UNSIGNED_BYTE, array.ndim])
        + struct.pack(f">{array.ndim}i", *array.shape)
        + array.astype(np.uint8).tobytes()
    )


@pytest.fixture()
def mnist_folder(tmp_path):
    rng = np.random.default_rng(0)
    arrays = {
        "train_images": rng.integers(0, 256, (5, 28, 28)),
        "train_labels": np.array([0, 1, 2, 3, 9]),
        "test_images": rng.integers(0, 256, (2, 28, 28)),
        "test_labels": np.array([7, 4]),
    }
    for name, stem in idx_datasets.MNIST_FILES.items():
        payload = idx_bytes(arrays[name])
        if name == "test_images":  # one file gzip-compressed, as downloads often are
            (tmp_path / f"{stem}.gz").write_bytes(gzip.compress(payload, mtime=0))
        else:
            (tmp_path / stem).write_bytes(payload)
    return tmp_path, arrays


def test_idx_round_trip_and_mnist_scaling(mnist_folder):
    folder, arrays = mnist_folder
    np.testing.assert_array_equal(
        idx_datasets.read_idx(folder / idx_datasets.MNIST_FILES["train_images"]),
        arrays["train_images"],
    )
    data = idx_datasets.mnist(folder)
    assert data["train_inputs"].shape == (5, 784) and data["test_inputs"].shape == (2, 784)
    np.testing.assert_allclose(
        data["test_inputs"] * 255, arrays["test_images"].reshape(2, -1), atol=1e-4
    )
    assert (
        data["train_labels"].tolist() == [0, 1, 2, 3, 9] and data["test_labels"].dtype == np.int64
    )


def test_the_study_generates_from_a_local_mnist_folder(mnist_folder):
    folder, _ = mnist_folder
    section = copy.deepcopy(PARAMS)
    section["setup"].update(
        data={
            "images": "mnist",
            "idx_dir": str(folder),
            "training_images": 3,
            "validation_images": 2,
            "test_fraction": 0.25,
        },
        quantization={"calibration_samples": 3},
    )
    data = STUDY.module("data").generate(config.parse(Section(section, "gpfq")))
    assert data["train_inputs"].shape == (3, 784) and data["validation_inputs"].shape == (2, 784)
    section["setup"]["data"]["training_images"] = 4  # 2 + 4 > the folder's 5 training images
    with pytest.raises(DataError, match="has 5 training images"):
        STUDY.module("data").generate(config.parse(Section(section, "gpfq")))


def test_truncated_or_missing_idx_files_are_data_errors(mnist_folder):
    folder, _ = mnist_folder
    labels = folder / idx_datasets.MNIST_FILES["train_labels"]
    labels.write_bytes(labels.read_bytes()[:-1])
    with pytest.raises(DataError, match="data bytes"):
        idx_datasets.read_idx(labels)
    labels.write_bytes(b"\x00\x00\x0d\x01")  # float32 type code: not MNIST's unsigned bytes
    with pytest.raises(DataError, match="unsigned bytes"):
        idx_datasets.read_idx(labels)
    labels.unlink()
    with pytest.raises(DataError, match="is missing"):
        idx_datasets.mnist(folder)
