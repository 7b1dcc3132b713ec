"""The tidy measurement table: schema, validation and byte-stable Parquet.

One row per (study, variant, seed, step, metric): `value` holds the number, setting columns
declared by the study (e.g. `optimizer`, `decay_at`) say what was varied. Rows are sorted and the
schema and compression are fixed, so equal measurements always give equal bytes.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from .atomic import DataError, atomic_path

CORE_COLUMNS: dict[str, pa.DataType] = {
    "study": pa.string(),
    "variant": pa.string(),
    "seed": pa.int64(),
    "step": pa.int64(),
    "metric": pa.string(),
    "value": pa.float64(),
}
SORT_KEYS = ["study", "variant", "metric", "seed", "step"]
SETTING_TYPES = {"string": pa.string(), "float64": pa.float64(), "int64": pa.int64()}


def arrow_schema(setting_columns: dict[str, str]) -> pa.Schema:
    fields = [
        pa.field(name, kind, nullable=name in ("value",)) for name, kind in CORE_COLUMNS.items()
    ]
    fields += [
        pa.field(name, SETTING_TYPES[kind]) for name, kind in sorted(setting_columns.items())
    ]
    return pa.schema(fields)


def validate(frame: pd.DataFrame, setting_columns: dict[str, str], source: str) -> None:
    """Raise DataError unless `frame` has exactly the core and setting columns, no nulls in keys,
    and one row per key."""
    expected = list(CORE_COLUMNS) + sorted(setting_columns)
    if sorted(frame.columns) != sorted(expected):
        raise DataError(
            f"{source}: columns {sorted(frame.columns)} differ from the schema {sorted(expected)}"
        )
    keys = ["study", "variant", "seed", "step", "metric"]
    if frame[keys].isna().any().any():
        raise DataError(f"{source}: null in a key column")
    duplicated = frame.duplicated(keys)
    if duplicated.any():
        raise DataError(
            f"{source}: {int(duplicated.sum())} duplicate (variant, seed, step, metric) rows, "
            f"first: {frame.loc[duplicated, keys].iloc[0].to_dict()}"
        )


def to_arrow(frame: pd.DataFrame, setting_columns: dict[str, str], source: str) -> pa.Table:
    validate(frame, setting_columns, source)
    ordered = frame.sort_values(SORT_KEYS, kind="mergesort").reset_index(drop=True)
    schema = arrow_schema(setting_columns)
    return pa.Table.from_pandas(
        ordered[schema.names], schema=schema, preserve_index=False
    ).replace_schema_metadata(None)


def write_table(destination: Path, frame: pd.DataFrame, setting_columns: dict[str, str]) -> None:
    """Validate, sort and write atomically with a fixed schema and codec."""
    table = to_arrow(frame, setting_columns, str(destination))
    with atomic_path(destination) as temporary:
        pq.write_table(table, temporary, compression="zstd", compression_level=9)


def read_table(path: Path, setting_columns: dict[str, str] | None = None) -> pd.DataFrame:
    """Read a tidy table; a corrupt file or a schema mismatch is a DataError naming the file."""
    try:
        table = pq.read_table(path)
    except FileNotFoundError:
        raise DataError(f"{path} is missing: run `dvc repro` to produce it") from None
    except (pa.ArrowInvalid, OSError) as error:
        raise DataError(f"{path} is corrupt ({error}): delete it and run `dvc repro`") from None
    frame = table.to_pandas()
    if setting_columns is not None:
        validate(frame, setting_columns, str(path))
    return frame
