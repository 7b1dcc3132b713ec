"""Atomic writes and checked reads.

Every output goes to a temporary file in the destination folder, is flushed to disk (fsync) and
renamed into place (`os.replace` is atomic on POSIX; the folder is fsynced after it), so an
interrupted stage or a crashed machine leaves the old file or none, never half of a new one. The
file gets the mode the umask gives (0644 under the usual 022), as any other new file would, so
others on a shared filesystem can read the reports. A stage confines its writes to the project's
data/ and reports/ (`confine_writes`, called by stages/common/entry.py): a destination that
resolves anywhere else is refused before any folder is made.

Reads of generated arrays turn a corrupt or truncated file into a `DataError` that names the file
and the stage that rewrites it; an array the file lacks is a DataError naming the file, the array
and the fix when the study asks for it.
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


class MissingArrayError(DataError, KeyError):
    """An array a study asked for is not in the file (a KeyError too, for code that tests for one)."""

    __str__ = BaseException.__str__  # the message as written, not KeyError's quoted repr


_writable_roots: tuple[Path, ...] = ()  # set by confine_writes; empty: writes go anywhere


def confine_writes(*roots: Path) -> None:
    """From now on, refuse any destination that does not resolve inside one of `roots` (symbolic
    links and `..` followed): a name from the params can never make a stage write elsewhere."""
    global _writable_roots
    _writable_roots = tuple(Path(os.path.realpath(root)) for root in roots)


def _check_destination(destination: Path) -> None:
    if not _writable_roots:
        return
    resolved = Path(os.path.realpath(destination))
    if not any(root in resolved.parents for root in _writable_roots):
        inside = " or ".join(f"{root}/" for root in _writable_roots)
        raise DataError(
            f"refusing to write {destination}: it resolves to {resolved}, outside {inside}"
        )


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_FILE_MODE = 0o666 & ~_umask()  # what open() would give a new file in this process


def _fsync(path: str, flags: int = os.O_RDONLY) -> None:
    handle = os.open(path, flags)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)


@contextmanager
def atomic_path(destination: Path) -> Iterator[Path]:
    """Yield a temporary path beside `destination`; on success give it the umask's mode, flush it
    to disk and rename it into place (then flush the folder)."""
    destination = Path(destination)
    _check_destination(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(
        prefix=f".{destination.name}.", suffix=".tmp", dir=destination.parent
    )
    os.close(handle)
    try:
        yield Path(temporary)
        os.chmod(temporary, _FILE_MODE)  # mkstemp's 0600 would hide the file from everyone else
        _fsync(temporary)
        os.replace(temporary, destination)
        _fsync(str(destination.parent), os.O_RDONLY | os.O_DIRECTORY)
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


class Record(dict):
    """One JSON object read from a generated file; asking for a key it lacks is a MissingArrayError
    naming the file and the key (not a bare KeyError in a study)."""

    def __init__(self, entries: dict, path: Path):
        super().__init__(entries)
        self.path = path

    def __missing__(self, key: str):
        raise MissingArrayError(
            f"{self.path} has no entry {key!r} where it holds {', '.join(map(str, self)) or 'none'}: "
            f"it is damaged or older than the code; `dvc checkout {self.path}` restores the "
            "version dvc.lock records, `dvc repro --force <the stage that writes it>` rewrites it"
        )


def read_json(path: Path) -> dict:
    try:
        return json.loads(Path(path).read_text(), object_hook=lambda entries: Record(entries, path))
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


class Arrays(dict):
    """The arrays of one .npz file, by name; asking for one it lacks is a MissingArrayError that
    names the file, the array and the fix (instead of a bare KeyError deep in a study)."""

    SHOWN_NAMES = 8  # of the names the file does hold, in the message

    def __init__(self, arrays: dict[str, np.ndarray], path: Path):
        super().__init__(arrays)
        self.path = path

    def __missing__(self, name: str):
        held = sorted(self)
        shown = ", ".join(held[: self.SHOWN_NAMES]) + (
            ", ..." if len(held) > self.SHOWN_NAMES else ""
        )
        raise MissingArrayError(
            f"{self.path} has no array {name!r} (it holds {len(held)}: {shown or 'none'}): it is "
            f"damaged or older than the code; `dvc checkout {self.path}` restores the version "
            "dvc.lock records, `dvc repro --force <the stage that writes it>` rewrites it"
        )


def read_arrays(path: Path, required: tuple[str, ...] = ()) -> Arrays:
    """Load every array of an .npz; a missing, corrupt or incomplete file is a DataError."""
    path = Path(path)
    if path.is_file() and not zipfile.is_zipfile(path):  # np.load would read it as a pickle
        raise DataError(f"{path} is corrupt (not an .npz archive): delete it and run `dvc repro`")
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = Arrays({name: archive[name] for name in archive.files}, path)
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
