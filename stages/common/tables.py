"""The tidy measurement table: schema, validation and byte-stable Parquet.

One row per (study, variant, seed, step, metric, settings): `value` holds the number; `seed` is
always the seed and `step` always an optimisation step (the step the measured parameters come
from: 0 before any training, the last step for a trained network); the setting columns declared by
the study (e.g. `optimizer`, `decay_at`, `layer`, `method`) say what was varied, so no setting is
ever part of a metric name. Rows are sorted and the schema and compression are fixed, so equal
measurements always give equal bytes; pages carry checksums that every read verifies.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
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
SORT_KEYS = ["study", "variant", "metric", "seed", "step"]  # then the setting columns, by name
SETTING_TYPES = {
    "string": pa.string(),
    "float64": pa.float64(),
    "int64": pa.int64(),
    "bool": pa.bool_(),  # a yes/no setting (e.g. bias correction on); None where it does not apply
}


def arrow_schema(setting_columns: dict[str, str]) -> pa.Schema:
    fields = [
        pa.field(name, kind, nullable=name in ("value",)) for name, kind in CORE_COLUMNS.items()
    ]
    fields += [
        pa.field(name, SETTING_TYPES[kind]) for name, kind in sorted(setting_columns.items())
    ]
    return pa.schema(fields)


def validate(frame: pd.DataFrame, setting_columns: dict[str, str], source: str) -> None:
    """Raise DataError unless `frame` has exactly the core and setting columns, no nulls in the core
    keys, and one row per (core keys, settings)."""
    expected = list(CORE_COLUMNS) + sorted(setting_columns)
    if sorted(frame.columns) != sorted(expected):
        raise DataError(
            f"{source}: columns {sorted(frame.columns)} differ from the schema {sorted(expected)}"
        )
    core = ["study", "variant", "seed", "step", "metric"]
    if frame[core].isna().any().any():
        raise DataError(f"{source}: null in a key column")
    keys = core + sorted(setting_columns)
    duplicated = frame.duplicated(keys)
    if duplicated.any():
        raise DataError(
            f"{source}: {int(duplicated.sum())} duplicate (variant, seed, step, metric, settings) "
            f"rows, first: {frame.loc[duplicated, keys].iloc[0].to_dict()}"
        )


def to_arrow(frame: pd.DataFrame, setting_columns: dict[str, str], source: str) -> pa.Table:
    validate(frame, setting_columns, source)
    keys = SORT_KEYS + sorted(setting_columns)
    ordered = frame.sort_values(keys, kind="mergesort", na_position="first").reset_index(drop=True)
    schema = arrow_schema(setting_columns)
    return pa.Table.from_pandas(
        ordered[schema.names], schema=schema, preserve_index=False
    ).replace_schema_metadata(None)


def write_table(destination: Path, frame: pd.DataFrame, setting_columns: dict[str, str]) -> None:
    """Validate, sort and write atomically with a fixed schema and codec."""
    table = to_arrow(frame, setting_columns, str(destination))
    with atomic_path(destination) as temporary:
        pq.write_table(
            table, temporary, compression="zstd", compression_level=9, write_page_checksum=True
        )


def read_table(path: Path, setting_columns: dict[str, str] | None = None) -> pd.DataFrame:
    """Read a tidy table; a corrupt file or a schema mismatch is a DataError naming the file."""
    try:
        table = pq.read_table(path, page_checksum_verification=True)
    except FileNotFoundError:
        raise DataError(f"{path} is missing: run `dvc repro` to produce it") from None
    except (pa.ArrowInvalid, OSError) as error:
        raise DataError(f"{path} is corrupt ({error}): delete it and run `dvc repro`") from None
    frame = table.to_pandas()
    if setting_columns is not None:
        validate(frame, setting_columns, str(path))
    return frame


class TidyRows:
    """Collects one variant's measurements as tidy rows: (seed, step, metric, value) plus every
    setting column of the study's schema. Settings fixed for the whole variant are given once;
    the others per row (a per-row value overrides a fixed one). A setting that does not apply to a
    row is None (a null in the table), never a placeholder number.

        rows = TidyRows(SETTING_COLUMNS, experiment="float_training", model="mlp")
        rows.add(seed, step, "test_accuracy_percent", 97.4, method="gpfq", layer=None)
        rows.add_series(seed, steps, "train_loss", losses)
        frame = rows.frame()
    """

    def __init__(self, setting_columns: dict[str, str], **fixed):
        self.setting_columns = dict(setting_columns)
        self._check(fixed)
        self.fixed, self.rows = fixed, []

    def _check(self, settings: dict) -> None:
        unknown = sorted(set(settings) - set(self.setting_columns))
        if unknown:
            raise ValueError(
                f"settings {unknown} are not columns of the schema {self.setting_columns}"
            )

    def add(self, seed: int, step: int, metric: str, value: float, **settings) -> None:
        self._check(settings)
        self.rows.append(
            {
                "seed": int(seed),
                "step": int(step),
                "metric": metric,
                "value": float(value),
                **self.fixed,
                **settings,
            }
        )

    def add_series(self, seed: int, steps, metric: str, values, **settings) -> None:
        """One row per (step, value) pair of equal-length sequences."""
        for step, value in zip(np.atleast_1d(steps), np.atleast_1d(values), strict=True):
            self.add(seed, step, metric, value, **settings)

    def frame(self) -> pd.DataFrame:
        """The rows with every schema column typed as declared; a setting no row gave is an error."""
        frame = pd.DataFrame(
            self.rows, columns=["seed", "step", "metric", "value", *sorted(self.setting_columns)]
        )
        given = set(self.fixed).union(*(row.keys() for row in self.rows)) if self.rows else set()
        missing = sorted(set(self.setting_columns) - given)
        if self.rows and missing:
            raise ValueError(
                f"no row gives the settings {missing}: pass None where one does not apply"
            )
        for name, kind in self.setting_columns.items():
            frame[name] = frame[name].astype(
                {"string": object, "float64": "float64", "int64": "Int64", "bool": "boolean"}[kind]
            )
        return frame
