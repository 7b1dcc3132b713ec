"""The typed config of sparse_features (stages/studies/sparse_features/config.py): one setup type
per kind of model, variants grouped by experiment, and a one-line error naming the full key for a
field of another kind, a variant in the wrong place or a name DVC cannot address."""

from __future__ import annotations

import copy
import dataclasses

import pytest
import yaml
from conftest import REPO

from stages.common.params import ParamError, Section
from stages.studies.sparse_features import STUDY
from stages.studies.sparse_features.config import (
    EXPERIMENTS,
    DiagonalNetSetup,
    ReluNetSetup,
    Setup,
)


@pytest.fixture()
def params() -> dict:
    return copy.deepcopy(yaml.safe_load((REPO / "params.yaml").read_text())["sparse_features"])


def parse(section: dict):
    return STUDY.parse(Section(section, "sparse_features"))


def error_of(section: dict) -> ParamError:
    with pytest.raises(ParamError) as caught:
        parse(section)
    assert "\n" not in str(caught.value), "one line"
    return caught.value


def test_each_experiment_gets_the_setup_type_of_its_model(params):
    config = parse(params)
    assert isinstance(config.experiments["diag_net"], DiagonalNetSetup)
    assert isinstance(config.experiments["diag_table1"], DiagonalNetSetup)
    assert isinstance(config.experiments["relu_net"], ReluNetSetup)
    assert {name: type(setup) for name, setup in config.experiments.items()} == {
        name: kind for name, (kind, _) in EXPERIMENTS.items()
    }
    # no placeholder fields: a setup holds only what its model reads
    relu_fields = {f.name for f in dataclasses.fields(ReluNetSetup)}
    diagonal_fields = {f.name for f in dataclasses.fields(DiagonalNetSetup)}
    assert "support" not in relu_fields and "teacher_width" not in diagonal_fields
    assert relu_fields & diagonal_fields == {f.name for f in dataclasses.fields(Setup)} | {
        "init_scale"
    }


def test_variants_take_their_experiment_from_their_group(params):
    config = parse(params)
    for experiment, group in params["variants"].items():
        assert config.variants_of(experiment) == list(group)
        for name in group:
            assert config.variants[name].experiment == experiment
            assert config.setup_of(name) is config.experiments[experiment]
    assert STUDY.variant_names(config) == [n for g in params["variants"].values() for n in g]


def test_the_config_is_frozen(params):
    config = parse(params)
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.experiments["relu_net"].steps = 1
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.variants["relu_sgd_small"].optimizer = "gd"


@pytest.mark.parametrize(
    "experiment, key, value",
    [
        ("diag_net", "teacher_width", 3),  # a ReLU net's field under a diagonal net
        ("diag_table1", "student_width", 20),
        ("relu_net", "support", 3),  # a diagonal net's field under a ReLU net
        ("diag_gd_stabilises", "precision", 32),  # the ReLU net's precision
    ],
)
def test_a_field_of_another_kind_of_setup_is_refused(params, experiment, key, value):
    params["setup"][experiment][key] = value
    error = error_of(params)
    assert error.key == f"sparse_features.setup.{experiment}.{key}"
    assert str(error).startswith(f"sparse_features.setup.{experiment}.{key} = {value}: allowed: ")
    assert f"{key!r} is not one" in str(error) and "init_scale" in str(error)


@pytest.mark.parametrize(
    "path, value, allowed",
    [
        (("relu_net", "precision"), "float16", "one of float32, float64"),
        (("relu_net", "probe", "rerun_diverged"), "yes", "true or false"),
    ],
)
def test_a_bad_precision_or_rerun_flag_is_refused_by_name(params, path, value, allowed):
    node = params["setup"]
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    error = error_of(params)
    assert error.key == "sparse_features.setup." + ".".join(path)
    assert str(error) == f"{error.key} = {value!r}: allowed: {allowed}"


def test_a_probe_grid_for_an_optimizer_the_experiment_does_not_run_is_refused(params):
    params["setup"]["relu_net"]["probe"]["gd_grid"] = [1.0, 2.0]
    error = error_of(params)
    assert error.key == "sparse_features.setup.relu_net.probe.gd_grid"
    assert "sgd_grid" in str(error) and "'gd_grid' is not one" in str(error)


def test_a_variant_must_sit_in_the_group_of_a_known_experiment(params):
    params["variants"]["cnn"] = {"cnn_sgd": {"optimizer": "sgd", "schedule": {"kind": "constant"}}}
    error = error_of(params)
    assert error.key == "sparse_features.variants.cnn"
    assert "diag_net, diag_table1, relu_net" in str(error)


def test_the_old_experiment_key_inside_a_variant_is_refused(params):
    params["variants"]["relu_net"]["relu_sgd_small"]["experiment"] = "relu_net"
    error = error_of(params)
    assert error.key == "sparse_features.variants.relu_net.relu_sgd_small.experiment"
    assert "(optimizer, schedule)" in str(error)


def test_an_optimizer_the_experiment_does_not_allow_is_refused(params):
    params["variants"]["diag_table1"]["t1_sgd_small"]["optimizer"] = "gd"
    error = error_of(params)
    assert str(error) == (
        "sparse_features.variants.diag_table1.t1_sgd_small.optimizer = 'gd': allowed: one of sgd"
    )
    params["variants"]["diag_table1"]["t1_sgd_small"]["optimizer"] = "sgd"
    params["variants"]["diag_net"]["diag_sgd_paper"]["optimizer"] = "gd"  # diag_net runs GD too
    assert parse(params).variants["diag_sgd_paper"].optimizer == "gd"


def test_a_variant_name_is_unique_across_the_study(params):
    params["variants"]["relu_net"]["t1_sgd_small"] = params["variants"]["relu_net"].pop(
        "relu_sgd_small"
    )
    error = error_of(params)
    assert error.key == "sparse_features.variants.relu_net.t1_sgd_small"
    assert "(variants.diag_table1 has it;" in str(error)


@pytest.mark.parametrize("name", ["relu.small", "relu small", "-relu"])
def test_a_variant_name_dvc_cannot_address_is_refused(params, name):
    params["variants"]["relu_net"][name] = params["variants"]["relu_net"].pop("relu_sgd_small")
    error = error_of(params)
    assert error.key == f"sparse_features.variants.relu_net.{name}"
    assert "letters, digits, _ and - (not first)" in str(error)


def test_an_empty_group_or_no_group_is_refused(params):
    params["variants"]["relu_net"] = {}
    assert error_of(params).key == "sparse_features.variants.relu_net"
    params["variants"] = {}
    assert error_of(params).key == "sparse_features.variants"


def test_a_group_may_be_left_out(params):
    del params["variants"]["relu_net"]
    config = parse(params)
    assert config.variants_of("relu_net") == [] and "relu_net" in config.experiments
