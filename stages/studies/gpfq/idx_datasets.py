"""MNIST from IDX files on a local disk (nothing is downloaded).

The IDX format (LeCun's MNIST page): a 4-byte magic number — two zero bytes, a type code (0x08 for
unsigned bytes) and the number of dimensions — then each dimension as a big-endian int32, then the
values in C order. The four MNIST files may be gzip-compressed (`.gz`). A missing, truncated or
malformed file is a DataError naming it.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from ...common.atomic import DataError

UNSIGNED_BYTE = 0x08
MNIST_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


def read_idx(path: Path) -> np.ndarray:
    """An IDX file of unsigned bytes as a uint8 array of its declared shape."""
    path = Path(path)
    try:
        payload = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError) as error:
        raise DataError(f"{path} cannot be read as IDX ({error})") from None
    if len(payload) < 4 or payload[0] != 0 or payload[1] != 0 or payload[2] != UNSIGNED_BYTE:
        raise DataError(f"{path} is not an IDX file of unsigned bytes (magic {payload[:4].hex()})")
    dimensions = payload[3]
    header = 4 + 4 * dimensions
    if dimensions == 0 or len(payload) < header:
        raise DataError(f"{path}: truncated IDX header")
    shape = tuple(int(d) for d in np.frombuffer(payload, dtype=">i4", count=dimensions, offset=4))
    if len(payload) != header + int(np.prod(shape)):
        raise DataError(
            f"{path}: {len(payload) - header} data bytes, the header declares shape {shape}"
        )
    return np.frombuffer(payload, dtype=np.uint8, offset=header).reshape(shape)


def find(directory: Path, stem: str) -> Path:
    for candidate in (directory / stem, directory / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    raise DataError(
        f"{directory / stem} (or .gz) is missing: the MNIST folder needs the four IDX files "
        f"{', '.join(MNIST_FILES.values())}"
    )


def mnist(directory: Path) -> dict[str, np.ndarray]:
    """{train,test}_{inputs (n, 784) float32 in [0, 1], labels (n,) int64} from the four files."""
    arrays = {name: read_idx(find(Path(directory), stem)) for name, stem in MNIST_FILES.items()}
    result = {}
    for part in ("train", "test"):
        images, labels = arrays[f"{part}_images"], arrays[f"{part}_labels"]
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise DataError(
                f"{directory}: {part} images {images.shape} and labels {labels.shape} do not match"
            )
        result[f"{part}_inputs"] = images.reshape(len(images), -1).astype(np.float32) / np.float32(
            255
        )
        result[f"{part}_labels"] = labels.astype(np.int64)
    return result
