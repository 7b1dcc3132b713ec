"""stages/common/atomic.py and stages/common/tables.py: atomic writes (flushed to disk, with the
umask's mode, confined to the project's data/ and reports/), checked reads (a missing array or entry
names the file and the fix), byte-stable .npz and Parquet, and the tidy table's schema."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from stages.common import atomic
from stages.common.atomic import (
    DataError,
    MissingArrayError,
    atomic_path,
    confine_writes,
    read_arrays,
    read_json,
    write_arrays,
    write_bytes,
    write_json,
)
from stages.common.tables import TidyRows, read_table, write_table

# ------------------------------------------------------------------------------------------ atomic


def sample_arrays() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {
        "diag_net/x_train": rng.standard_normal((3, 20, 30)),
        "diag_net/y_train": rng.standard_normal((3, 20)),
        "relu_net/teacher_output": np.array([[1.0, -1.0, 1.0]]),
        "diverged": np.array([True, False, True]),
        "diverged_step": np.array([-1, 40, 7], dtype=np.int64),
        "eval_steps": np.arange(0, 301, 30, dtype=np.int64),
        "fortran": np.asfortranarray(rng.standard_normal((4, 5))),
        "with_nan": np.array([np.nan, np.inf, -np.inf, 0.0, -0.0]),
    }


def test_arrays_round_trip_with_slashes_in_names(tmp_path):
    arrays = sample_arrays()
    path = tmp_path / "sub" / "generated.npz"
    write_arrays(path, arrays)
    loaded = read_arrays(path, required=("diag_net/x_train", "diverged"))
    assert sorted(loaded) == sorted(arrays)
    for name, array in arrays.items():
        assert loaded[name].dtype == array.dtype, name
        np.testing.assert_array_equal(loaded[name], array)
    assert np.signbit(loaded["with_nan"][4]), "-0.0 survives"


def test_equal_arrays_give_identical_bytes(tmp_path):
    arrays = sample_arrays()
    write_arrays(tmp_path / "a.npz", arrays)
    reordered = {name: np.array(arrays[name], copy=True) for name in reversed(list(arrays))}
    write_arrays(tmp_path / "b.npz", reordered)
    assert (tmp_path / "a.npz").read_bytes() == (tmp_path / "b.npz").read_bytes()
    changed = {**arrays, "diverged_step": np.array([-1, 41, 7], dtype=np.int64)}
    write_arrays(tmp_path / "c.npz", changed)
    assert (tmp_path / "a.npz").read_bytes() != (tmp_path / "c.npz").read_bytes()


@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty", "flipped member byte", "text"])
def test_corrupt_npz_is_a_data_error_naming_the_file(tmp_path, damage):
    path = tmp_path / "runs" / "diag_sgd_small.npz"
    write_arrays(path, sample_arrays())
    payload = path.read_bytes()
    if damage == "garbage":
        path.write_bytes(b"\x00\x01not a zip at all" * 50)
    elif damage == "truncated":
        path.write_bytes(payload[: len(payload) // 2])
    elif damage == "empty":
        path.write_bytes(b"")
    elif damage == "text":
        path.write_text("version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 12\n")
    else:  # corrupt the stored data of a member: the zip CRC check catches it
        position = payload.index(b"\x93NUMPY") + 200
        path.write_bytes(
            payload[:position] + bytes([payload[position] ^ 0xFF]) + payload[position + 1 :]
        )
    with pytest.raises(DataError) as caught:
        read_arrays(path)
    assert str(path) in str(caught.value)
    assert "corrupt" in str(caught.value)


def test_missing_npz_is_a_data_error(tmp_path):
    path = tmp_path / "nowhere.npz"
    with pytest.raises(DataError, match="nowhere.npz is missing"):
        read_arrays(path)


def test_missing_required_arrays_are_a_data_error(tmp_path):
    path = tmp_path / "generated.npz"
    write_arrays(path, {"diag_net/x_train": np.zeros(3)})
    with pytest.raises(DataError) as caught:
        read_arrays(path, required=("diag_net/x_train", "diag_net/y_train", "relu_net/x_train"))
    message = str(caught.value)
    assert str(path) in message and "diag_net/y_train" in message and "relu_net/x_train" in message


def test_atomic_path_leaves_nothing_when_the_block_raises(tmp_path):
    destination = tmp_path / "out" / "table.parquet"
    with pytest.raises(RuntimeError, match="interrupted"), atomic_path(destination) as temporary:
        assert temporary.parent == destination.parent, (
            "the temporary file must sit beside the destination"
        )
        assert temporary != destination
        temporary.write_bytes(b"half of a file")
        raise RuntimeError("interrupted")
    assert not destination.exists()
    assert list(destination.parent.iterdir()) == [], "no temporary file may be left behind"


def test_atomic_path_keeps_the_old_file_when_the_block_raises(tmp_path):
    destination = tmp_path / "claims.json"
    write_bytes(destination, b"old")
    with pytest.raises(KeyboardInterrupt), atomic_path(destination) as temporary:
        temporary.write_bytes(b"new but unfinished")
        raise KeyboardInterrupt
    assert destination.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["claims.json"]


def test_atomic_path_replaces_on_success(tmp_path):
    destination = tmp_path / "claims.json"
    write_bytes(destination, b"old")
    with atomic_path(destination) as temporary:
        temporary.write_bytes(b"new")
        assert destination.read_bytes() == b"old", (
            "the destination changes only when the block ends"
        )
    assert destination.read_bytes() == b"new"
    assert [p.name for p in tmp_path.iterdir()] == ["claims.json"]


def test_failed_write_arrays_leaves_no_file(tmp_path):
    path = tmp_path / "runs.npz"
    with pytest.raises(ValueError):
        write_arrays(path, {"ok": np.zeros(2), "objects": np.array([{"a": 1}], dtype=object)})
    assert list(tmp_path.iterdir()) == []


def test_json_is_byte_stable_and_checked(tmp_path):
    write_json(tmp_path / "a.json", {"b": 1, "a": [1.5, float("nan")]})
    write_json(tmp_path / "b.json", {"a": [1.5, float("nan")], "b": 1})
    assert (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes()
    assert (tmp_path / "a.json").read_text().endswith("}\n")
    loaded = read_json(tmp_path / "a.json")
    assert loaded["b"] == 1 and np.isnan(loaded["a"][1])
    (tmp_path / "bad.json").write_text('{"a": ')
    with pytest.raises(DataError, match="bad.json is corrupt"):
        read_json(tmp_path / "bad.json")
    with pytest.raises(DataError, match="none.json is missing"):
        read_json(tmp_path / "none.json")


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_outputs_get_the_mode_the_umask_gives(tmp_path, umask, mode):
    """mkstemp creates 0600 files; an output must be readable as any new file would be (a shared
    filesystem's reviewers). The mode is read when the module loads, so each umask gets a process."""
    from conftest import REPO

    script = (
        f"import os; os.umask({umask}); "
        "from stages.common.atomic import write_json; "
        f"write_json({str(tmp_path / 'claims.json')!r}, {{'a': 1}})"
    )
    subprocess.run([sys.executable, "-c", script], cwd=REPO, check=True)
    assert (tmp_path / "claims.json").stat().st_mode & 0o777 == mode


def test_the_file_is_flushed_before_the_rename_and_the_folder_after(tmp_path, monkeypatch):
    events = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(
        os,
        "fsync",
        lambda fd: (events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}"))), real_fsync(fd)),
    )
    monkeypatch.setattr(
        os, "replace", lambda a, b: (events.append(("replace", str(b))), real_replace(a, b))
    )
    destination = tmp_path / "out" / "table.parquet"
    write_bytes(destination, b"payload")
    assert [kind for kind, _ in events] == ["fsync", "replace", "fsync"]
    assert events[0][1].startswith(str(destination.parent / ".table.parquet."))
    assert events[1][1] == str(destination) and events[2][1] == str(destination.parent)


@pytest.fixture()
def confined(tmp_path, monkeypatch):
    monkeypatch.setattr(atomic, "_writable_roots", ())  # undone after the test
    (tmp_path / "data").mkdir()
    confine_writes(tmp_path / "data", tmp_path / "reports")
    return tmp_path


def test_confined_writes_inside_data_and_reports_succeed(confined):
    write_bytes(confined / "data" / "study" / "runs" / "v.npz", b"x")
    write_bytes(confined / "reports" / "figures" / "study" / "f.png", b"x")
    assert (confined / "reports" / "figures" / "study" / "f.png").read_bytes() == b"x"


@pytest.mark.parametrize(
    "relative",
    ["data/study/runs/../../../../escaped.npz", "elsewhere/x.json", "data", "data_other/x.json"],
)
def test_a_write_that_resolves_outside_is_refused_before_any_folder_is_made(confined, relative):
    before = sorted(p.relative_to(confined) for p in confined.rglob("*"))
    with pytest.raises(DataError, match="refusing to write .* it resolves to .* outside"):
        write_bytes(confined / relative, b"x")
    assert sorted(p.relative_to(confined) for p in confined.rglob("*")) == before


def test_a_symbolic_link_out_of_data_is_followed_and_refused(confined, tmp_path_factory):
    outside = tmp_path_factory.mktemp("outside")
    (confined / "data" / "runs").symlink_to(outside, target_is_directory=True)
    with pytest.raises(DataError, match=str(outside)):
        write_bytes(confined / "data" / "runs" / "v.npz", b"x")
    assert list(outside.iterdir()) == []


def test_an_array_the_file_lacks_names_the_file_the_array_and_the_fix(tmp_path):
    path = tmp_path / "runs" / "v.npz"
    write_arrays(path, {"beta": np.zeros(2), "seeds": np.arange(2)})
    arrays = read_arrays(path)
    assert arrays["beta"].shape == (2,) and arrays.get("hidden") is None and "hidden" not in arrays
    with pytest.raises(MissingArrayError) as caught:
        arrays["hidden"]
    message = str(caught.value)
    assert isinstance(caught.value, DataError) and isinstance(caught.value, KeyError)
    assert message.startswith(f"{path} has no array 'hidden' (it holds 2: beta, seeds)")
    assert f"dvc checkout {path}" in message and "dvc repro --force" in message


def test_a_json_entry_the_file_lacks_names_the_file_and_the_key(tmp_path):
    path = tmp_path / "probe.json"
    write_json(path, {"diag_net": {"sgd": {"lr_per_seed": [0.1]}}})
    probe = read_json(path)
    assert probe["diag_net"]["sgd"]["lr_per_seed"] == [0.1]
    with pytest.raises(MissingArrayError, match=r"probe.json has no entry 'gd' where it holds sgd"):
        probe["diag_net"]["gd"]


# ------------------------------------------------------------------------------------------ tables

SETTINGS = {"optimizer": "string", "decay_at": "float64", "large_step": "string"}


def tidy_frame() -> pd.DataFrame:
    rows = []
    for variant, optimizer, decay_at in (
        ("small", "sgd", np.nan),
        ("decay50", "sgd", 0.5),
        ("gd50", "gd", 0.5),
    ):
        for seed in range(3):
            for step in (0, 10, 100):
                for metric in ("train_loss", "test_loss"):
                    value = (
                        np.nan
                        if (variant, seed, step) == ("gd50", 2, 100)
                        else (seed + 1) * 0.1 / (step + 1)
                    )
                    rows.append(
                        {
                            "study": "toy",
                            "variant": variant,
                            "seed": seed,
                            "step": step,
                            "metric": metric,
                            "value": value,
                            "optimizer": optimizer,
                            "decay_at": decay_at,
                            "large_step": "probe" if optimizer == "gd" else "fixed",
                        }
                    )
    return pd.DataFrame(rows)


def canonical(frame: pd.DataFrame) -> pd.DataFrame:
    ordered = frame.sort_values(["study", "variant", "metric", "seed", "step"]).reset_index(
        drop=True
    )
    return ordered[sorted(ordered.columns)]


def test_table_round_trip(tmp_path):
    frame = tidy_frame()
    path = tmp_path / "results" / "toy.parquet"
    write_table(path, frame, SETTINGS)
    loaded = read_table(path, SETTINGS)
    assert list(loaded.columns) == [
        "study",
        "variant",
        "seed",
        "step",
        "metric",
        "value",
        "decay_at",
        "large_step",
        "optimizer",
    ]
    assert loaded["seed"].dtype == np.int64 and loaded["step"].dtype == np.int64
    assert loaded["value"].dtype == np.float64 and loaded["decay_at"].dtype == np.float64
    pd.testing.assert_frame_equal(canonical(loaded), canonical(frame), check_dtype=False)
    keys = list(zip(loaded.variant, loaded.metric, loaded.seed, loaded.step, strict=True))
    assert keys == sorted(keys), "rows are stored sorted"


def test_same_frame_in_another_row_and_column_order_gives_identical_bytes(tmp_path):
    frame = tidy_frame()
    shuffled = frame.sample(frac=1.0, random_state=7)
    shuffled = shuffled[list(reversed(shuffled.columns))]
    assert not shuffled.index.equals(frame.index)
    write_table(tmp_path / "a.parquet", frame, SETTINGS)
    write_table(tmp_path / "b.parquet", shuffled, SETTINGS)
    write_table(tmp_path / "c.parquet", shuffled.reset_index(drop=True), SETTINGS)
    first = (tmp_path / "a.parquet").read_bytes()
    assert first == (tmp_path / "b.parquet").read_bytes() == (tmp_path / "c.parquet").read_bytes()
    changed = frame.copy()
    changed.loc[5, "value"] = 1.0 + changed.loc[5, "value"]
    write_table(tmp_path / "d.parquet", changed, SETTINGS)
    assert (tmp_path / "d.parquet").read_bytes() != first


def test_extra_column_is_a_schema_violation(tmp_path):
    frame = tidy_frame().assign(wall_seconds=1.0)
    with pytest.raises(DataError, match="wall_seconds") as caught:
        write_table(tmp_path / "t.parquet", frame, SETTINGS)
    assert str(tmp_path / "t.parquet") in str(caught.value)
    assert not (tmp_path / "t.parquet").exists()


@pytest.mark.parametrize("column", ["seed", "metric", "decay_at"])
def test_missing_column_is_a_schema_violation(tmp_path, column):
    with pytest.raises(DataError, match="differ from the schema"):
        write_table(tmp_path / "t.parquet", tidy_frame().drop(columns=column), SETTINGS)
    assert list(tmp_path.iterdir()) == []


def test_duplicate_key_rows_are_a_schema_violation(tmp_path):
    frame = tidy_frame()
    duplicated = pd.concat([frame, frame.iloc[[4]].assign(value=123.0)], ignore_index=True)
    with pytest.raises(DataError, match="1 duplicate"):
        write_table(tmp_path / "t.parquet", duplicated, SETTINGS)
    assert list(tmp_path.iterdir()) == []


def test_null_in_a_key_column_is_a_schema_violation(tmp_path):
    frame = tidy_frame()
    frame.loc[3, "metric"] = None
    with pytest.raises(DataError, match="null in a key column"):
        write_table(tmp_path / "t.parquet", frame, SETTINGS)


def test_reading_a_table_with_the_wrong_schema_names_the_file(tmp_path):
    path = tmp_path / "toy.parquet"
    pq.write_table(
        pa.Table.from_pandas(tidy_frame().drop(columns="large_step"), preserve_index=False), path
    )
    with pytest.raises(DataError) as caught:
        read_table(path, SETTINGS)
    assert str(path) in str(caught.value) and "schema" in str(caught.value)
    assert len(read_table(path)) == len(tidy_frame()), (
        "without setting columns the table is read unchecked"
    )


def test_rows_that_differ_only_in_a_setting_are_distinct_and_sorted_by_it(tmp_path):
    """A setting column tells rows apart (no setting lives in a metric name): two layers' errors at
    the same (seed, step, metric) are two rows, stored in the order of the setting."""
    columns = {"layer": "int64", "method": "string"}
    rows = TidyRows(columns, method="gpfq")
    for layer in (2, 0, 1):
        rows.add(0, 40, "relative_error", 0.1 * layer, layer=layer)
    rows.add(0, 40, "test_accuracy_percent", 97.0, layer=None)
    frame = rows.frame().assign(study="toy", variant="mlp")
    write_table(tmp_path / "t.parquet", frame, columns)
    loaded = read_table(tmp_path / "t.parquet", columns)
    errors = loaded[loaded.metric == "relative_error"]
    assert errors["layer"].tolist() == [0, 1, 2] and errors["value"].tolist() == [0.0, 0.1, 0.2]
    assert loaded.loc[loaded.metric == "test_accuracy_percent", "layer"].isna().all()
    again = pd.concat([frame, frame.iloc[[0]]], ignore_index=True)
    with pytest.raises(DataError, match="1 duplicate"):
        write_table(tmp_path / "u.parquet", again, columns)


def test_a_boolean_setting_round_trips_with_nulls(tmp_path):
    columns = {"bias_correction": "bool", "layer": "int64"}
    rows = TidyRows(columns)
    rows.add(0, 10, "error", 0.5, bias_correction=True, layer=0)
    rows.add(0, 10, "error", 0.7, bias_correction=False, layer=0)
    rows.add(0, 10, "accuracy", 97.0, bias_correction=None, layer=None)
    write_table(tmp_path / "b.parquet", rows.frame().assign(study="toy", variant="v"), columns)
    loaded = read_table(tmp_path / "b.parquet", columns)
    errors = loaded[loaded.metric == "error"].sort_values("value")
    assert errors["bias_correction"].tolist() == [True, False]
    assert loaded.loc[loaded.metric == "accuracy", "bias_correction"].isna().all()


def test_tidy_rows_refuse_unknown_and_missing_settings():
    columns = {"layer": "int64", "method": "string"}
    with pytest.raises(ValueError, match="'width'"):
        TidyRows(columns, width=3)
    rows = TidyRows(columns, method="msq")
    with pytest.raises(ValueError, match="'bits'"):
        rows.add(0, 0, "error", 1.0, bits=3)
    rows.add(0, 0, "error", 1.0)
    with pytest.raises(ValueError, match=r"\['layer'\]"):
        rows.frame()
    series = TidyRows(columns, method="msq", layer=None)
    series.add_series(1, [0, 5, 10], "train_loss", [3.0, 2.0, 1.0])
    frame = series.frame()
    assert frame["step"].tolist() == [0, 5, 10] and (frame["seed"] == 1).all()
    with pytest.raises(ValueError):
        series.add_series(1, [0, 5], "train_loss", [3.0])


def test_a_flipped_byte_in_a_page_is_a_data_error_not_a_number(tmp_path):
    """Pages carry checksums and every read verifies them. Find a flipped bit inside a data page that
    an unverified read returns as silently different numbers; the checked read must refuse it."""
    path, damaged = tmp_path / "toy.parquet", tmp_path / "damaged.parquet"
    write_table(path, tidy_frame(), SETTINGS)
    original, reference = path.read_bytes(), pq.read_table(path).to_pandas()
    group = pq.ParquetFile(path).metadata.row_group(0)
    column = next(
        group.column(i)
        for i in range(group.num_columns)
        if group.column(i).path_in_schema == "value"
    )
    silent = None
    for offset in range(column.dictionary_page_offset or column.data_page_offset, len(original)):
        flipped = bytearray(original)
        flipped[offset] ^= 0x01
        damaged.write_bytes(bytes(flipped))
        try:
            unverified = pq.read_table(damaged).to_pandas()
        except OSError:
            continue  # the decompressor noticed this one by itself
        if not unverified.equals(reference):
            silent = offset
            break
    assert silent is not None, "no flip slipped past an unverified read: the test proves nothing"
    with pytest.raises(DataError, match="corrupt"):
        read_table(damaged, SETTINGS)


@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty"])
def test_corrupt_parquet_is_a_data_error_naming_the_file(tmp_path, damage):
    path = tmp_path / "toy.parquet"
    write_table(path, tidy_frame(), SETTINGS)
    payload = path.read_bytes()
    path.write_bytes(
        {
            "garbage": b"PAR1 but not really" * 20,
            "truncated": payload[: len(payload) // 2],
            "empty": b"",
        }[damage]
    )
    with pytest.raises(DataError) as caught:
        read_table(path, SETTINGS)
    assert str(path) in str(caught.value) and "corrupt" in str(caught.value)


def test_missing_parquet_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match="missing"):
        read_table(tmp_path / "none.parquet", SETTINGS)
