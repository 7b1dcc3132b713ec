"""The Study contract (stages/common/study.py): one skeleton for every study package, discovery by
import, and the runs a variant reads arriving as one named mapping (`reads`)."""

from __future__ import annotations

import ast
import inspect
import sys
import types

import numpy as np
import pytest

import stages.measure as measure_stage
import stages.train as train_stage
from stages.common import paths
from stages.common.atomic import DataError, read_arrays, read_json, write_arrays
from stages.common.params import ParamError
from stages.common.study import (
    SKELETON,
    STUDIES_DIRECTORY,
    Execution,
    Study,
    TrainResult,
    discover_studies,
    load_study,
    study_names,
)

STUDIES = study_names()
# the callables each skeleton module must define, and the keyword-only arguments they take
REQUIRED = {
    "config": {"parse": (), "variant_names": ()},
    "data": {"generate": ()},
    "training": {"train": ("probe", "execution", "reads")},
    "measurement": {"measure": ("reads",)},
    "figures": {"figures": ()},
    "describe": {"describe": ()},
}


def test_discovery_imports_every_study_package_in_name_order():
    studies = discover_studies()
    assert list(studies) == list(STUDIES) == sorted(STUDIES)
    assert {
        "sparse_features",
        "edge_of_stability",
        "gpfq",
        "phantom_gradient",
        "float_instability",
    } <= set(STUDIES)
    assert all(isinstance(s, Study) and s.name == name for name, s in studies.items())


def test_an_unknown_study_is_refused_with_the_known_ones():
    with pytest.raises(ParamError, match="study = 'no_such_study'.*gpfq"):
        load_study("no_such_study")


@pytest.mark.parametrize("name", STUDIES)
def test_every_study_has_the_skeleton(name):
    folder = STUDIES_DIRECTORY / name
    missing = [role for role in SKELETON if not (folder / f"{role}.py").is_file()]
    assert not missing, f"stages/studies/{name} lacks {missing} (stages/common/study.py)"
    study = load_study(name)
    for role, functions in REQUIRED.items():
        module = study.module(role)
        for function, keywords in functions.items():
            assert callable(getattr(module, function, None)), f"{name}/{role}.py: no {function}()"
            parameters = inspect.signature(getattr(module, function)).parameters
            keyword_only = [p for p, v in parameters.items() if v.kind is v.KEYWORD_ONLY]
            assert keyword_only == list(keywords), f"{name}/{role}.py: {function}{keywords}"
    checks = study.module("checks").CHECKS
    assert checks and all(callable(check) for check in checks.values())
    if study.probes:
        assert callable(getattr(study.module("training"), "probe", None))


@pytest.mark.parametrize("name", STUDIES)
def test_the_package_declares_only_what_the_study_is(name):
    """__init__.py imports no skeleton module but config: every stage imports it, so anything more
    would make every stage depend on, say, the checks (and an edit to a check retrain the study)."""
    source = (STUDIES_DIRECTORY / name / "__init__.py").read_text()
    imported = {
        alias.name if node.module is None else node.module.lstrip(".")
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.ImportFrom) and node.level == 1
        for alias in node.names
    }
    assert imported <= {"config"}, f"stages/studies/{name}/__init__.py imports {imported}"


def test_a_package_without_a_study_is_refused(monkeypatch):
    empty = types.ModuleType("stages.studies.sparse_features")
    monkeypatch.setitem(sys.modules, "stages.studies.sparse_features", empty)
    with pytest.raises(ParamError, match="STUDY"):
        load_study("sparse_features")


# --------------------------------------------------------------------- runs a variant reads


def _reading_study(received: dict) -> Study:
    """`base` trains from the data alone; `derived` doubles base's weights (it reads base's run)."""

    def train(config, variant, data, *, probe, execution, reads):
        received[variant] = reads
        if variant == "base":
            return TrainResult({"weights": data["inputs"] + 1.0}, run_steps=1, runs=1)
        return TrainResult(
            {"weights": 2.0 * reads["base"]["weights"]},
            run_steps=1,
            runs=1,
            wall_clock={"quantize_seconds": 0.5},
        )

    def measure(config, variant, data, runs, *, reads):
        import pandas as pd

        received[f"measure {variant}"] = reads
        return pd.DataFrame(
            {"seed": [0], "step": [0], "metric": ["weight_sum"], "value": [runs["weights"].sum()]}
        )

    modules = {
        "config": types.SimpleNamespace(
            parse=lambda section: None,
            variant_names=lambda config: ["base", "derived"],
            train_reads=lambda config, variant: ["base"] if variant == "derived" else [],
        ),
        "training": types.SimpleNamespace(train=train),
        "measurement": types.SimpleNamespace(measure=measure),
    }

    class ReadingStudy(Study):
        def module(self, role):
            return modules[role]

    return ReadingStudy(name="contract", citation="", setting_columns={})


@pytest.fixture()
def reading_study(tmp_path, monkeypatch):
    received: dict = {}
    study = _reading_study(received)
    monkeypatch.chdir(tmp_path)
    for stage in (train_stage, measure_stage):
        monkeypatch.setattr(stage, "open_study", lambda name: (study, None))
    monkeypatch.setattr(train_stage, "execution", lambda: Execution())
    write_arrays(paths.generated("contract"), {"inputs": np.arange(3.0)})
    return received


def test_train_passes_the_runs_a_variant_reads_by_name(reading_study):
    train_stage.main(["contract", "base"])
    train_stage.main(["contract", "derived"])
    assert reading_study["base"] == {}  # reads nothing: an empty mapping, not a missing argument
    assert set(reading_study["derived"]) == {"base"}
    np.testing.assert_array_equal(
        read_arrays(paths.run_arrays("contract", "derived"))["weights"], [2.0, 4.0, 6.0]
    )
    compute = read_json(paths.run_compute("contract", "derived"))
    assert compute["wall_clock"] == {"quantize_seconds": 0.5} and compute["runs"] == 1
    assert "wall_clock" not in read_json(paths.run_compute("contract", "base"))


def test_measure_without_declared_reads_gets_an_empty_mapping(reading_study):
    train_stage.main(["contract", "base"])
    measure_stage.main(["contract", "base"])
    assert reading_study["measure base"] == {}
    assert read_json(paths.measure_compute("contract", "base"))["runs"] == 1


def test_a_missing_upstream_run_is_a_data_error(reading_study):
    with pytest.raises(DataError, match="base.npz is missing"):
        train_stage.main(["contract", "derived"])


def test_measure_reads_every_input_before_it_writes(reading_study):
    train_stage.main(["contract", "base"])
    paths.run_compute("contract", "base").unlink()
    with pytest.raises(DataError, match="base.json is missing"):
        measure_stage.main(["contract", "base"])
    assert not paths.measure_table("contract", "base").exists()
