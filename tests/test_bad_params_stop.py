"""Bad params stop a stage with exit status 2 and one line naming the key, the value and what is
allowed, before it writes anything: each case in a fresh copy of the repository (tiny profile), the
stage run as DVC runs it (`python -m stages.<kind> ...`)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml
from e2e_project import copy_repository, run


@pytest.fixture()
def fresh_copy(tmp_path) -> Path:
    return copy_repository(tmp_path / "repo")


def set_param(root: Path, path: tuple, value) -> None:
    params = yaml.safe_load((root / "params.yaml").read_text())
    node = params
    for part in path[:-1]:
        node = node[part]
    if value is None:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def assert_stopped_before_output(
    result: subprocess.CompletedProcess, root: Path, *expected: str
) -> None:
    assert result.returncode == 2, (result.returncode, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, f"expected a one-line message, got:\n{result.stderr}"
    assert "Traceback" not in result.stderr
    for text in expected:
        assert text in lines[0], (text, lines[0])
    assert not (root / "data").exists(), "a stage wrote data before validating its params"
    assert not (root / "reports").exists(), "a stage wrote a report before validating its params"


def test_unknown_variant_stops_train(fresh_copy):
    result = run(["python", "-m", "stages.train", "sparse_features", "no_such_variant"], fresh_copy)
    assert_stopped_before_output(
        result, fresh_copy, "sparse_features.variants", "no_such_variant", "one of "
    )


def test_unknown_study_stops_generate(fresh_copy):
    result = run(["python", "-m", "stages.generate", "no_such_study"], fresh_copy)
    assert_stopped_before_output(
        result,
        fresh_copy,
        "study",
        "no_such_study",
        "one of ",
        "sparse_features",
        "edge_of_stability",
    )


def test_negative_step_size_stops_every_stage(fresh_copy):
    params = yaml.safe_load((fresh_copy / "params.yaml").read_text())
    experiment, group = next(iter(params["sparse_features"]["variants"].items()))
    variant = next(iter(group))
    set_param(
        fresh_copy, ("sparse_features", "variants", experiment, variant, "schedule", "lr"), -0.2
    )
    key = f"sparse_features.variants.{experiment}.{variant}.schedule.lr = -0.2"
    for command in (
        ["generate", "sparse_features"],
        ["probe", "sparse_features"],
        ["train", "sparse_features", variant],
        ["report"],
    ):
        result = run(["python", "-m", f"stages.{command[0]}", *command[1:]], fresh_copy)
        assert_stopped_before_output(result, fresh_copy, key, "a number > 0")


@pytest.mark.parametrize(
    "path, value, expected",
    [
        (
            ("variants", "*experiment", "*", "schedule", "kind"),
            "linear",
            "allowed: one of constant, step_decay, cosine",
        ),
        (
            ("variants", "*experiment", "*decay", "schedule", "decay_at"),
            1.5,
            "allowed: a number in (0, 1)",
        ),
        (("setup", "diag_net", "n_train"), None, "'<missing>'"),
        (("setup", "relu_net", "steps"), "300", "allowed: an integer >= 1"),
    ],
)
def test_bad_params_stop_train_with_the_key(fresh_copy, path, value, expected):
    params = yaml.safe_load((fresh_copy / "params.yaml").read_text())
    groups = params["sparse_features"]["variants"]
    experiment, name = next(
        (experiment, n)
        for experiment, variants in groups.items()
        for n, e in variants.items()
        if "*decay" not in path or "decay_at" in e["schedule"]
    )
    stand_in = {"*experiment": experiment, "*": name, "*decay": name}
    path = tuple(stand_in.get(part, part) for part in path)
    set_param(fresh_copy, ("sparse_features", *path), value)
    result = run(["python", "-m", "stages.train", "sparse_features", name], fresh_copy)
    assert_stopped_before_output(
        result, fresh_copy, "sparse_features." + ".".join(path) + " = ", expected
    )
