"""Atomic writes and checked reads.

Every output goes to a temporary file in the destination folder and is renamed into place
(`os.replace` is atomic on POSIX), so an interrupted stage leaves the old file or none, never half
of a new one. Reads of generated arrays turn a corrupt or truncated file into a `DataError` that
names the file and the stage that rewrites it.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np


class DataError(RuntimeError):
    """A generated file is missing, corrupt or does not hold what the reader expects."""


@contextmanager
def atomic_path(destination: Path) -> Iterator[Path]:
    """Yield a temporary path beside `destination`; rename it into place only on success."""
    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(
        prefix=f".{destination.name}.", suffix=".tmp", dir=destination.parent
    )
    os.close(handle)
    try:
        yield Path(temporary)
        os.replace(temporary, destination)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


def write_bytes(destination: Path, payload: bytes) -> None:
    with atomic_path(destination) as temporary:
        temporary.write_bytes(payload)


def write_text(destination: Path, text: str) -> None:
    write_bytes(destination, text.encode("utf-8"))


def write_json(destination: Path, payload: object) -> None:
    """Sorted keys and a trailing newline: the same payload always gives the same bytes."""
    write_text(destination, json.dumps(payload, indent=2, sort_keys=True, allow_nan=True) + "\n")


def read_json(path: Path) -> dict:
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise DataError(f"{path} is missing: run `dvc repro` to produce it") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise DataError(f"{path} is corrupt ({error}): delete it and run `dvc repro`") from None


def write_arrays(destination: Path, arrays: dict[str, np.ndarray]) -> None:
    """An uncompressed .npz with members in sorted order (byte-stable for equal arrays)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for name in sorted(arrays):
            member = io.BytesIO()
            np.save(member, np.ascontiguousarray(arrays[name]), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            archive.writestr(info, member.getvalue())
    write_bytes(destination, buffer.getvalue())


def read_arrays(path: Path, required: tuple[str, ...] = ()) -> dict[str, np.ndarray]:
    """Load every array of an .npz; a missing, corrupt or incomplete file is a DataError."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
    except FileNotFoundError:
        raise DataError(f"{path} is missing: run `dvc repro` to produce it") from None
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as error:
        raise DataError(f"{path} is corrupt ({error}): delete it and run `dvc repro`") from None
    missing = [name for name in required if name not in arrays]
    if missing:
        raise DataError(
            f"{path} lacks arrays {missing}; it holds {sorted(arrays)}: rerun the stage that writes it"
        )
    return arrays
