"""stages/common/params.py: Section accessors, YAML loading, and the validation of the real
sparse_features section of params.yaml (every error names the full dotted key)."""

from __future__ import annotations

import copy
import math
import subprocess
import sys

import pytest
import yaml
from conftest import REPO

from stages.common.params import ParamError, Section, load_yaml, study_section
from stages.studies.sparse_features import STUDY


def error_of(call, *args, **kwargs) -> ParamError:
    with pytest.raises(ParamError) as caught:
        call(*args, **kwargs)
    return caught.value


# ------------------------------------------------------------------------------------- accessors


def test_param_error_carries_key_value_allowed():
    error = ParamError("a.b", 1.5, "a number in (0, 1)")
    assert isinstance(error, ValueError)
    assert (error.key, error.value, error.allowed) == ("a.b", 1.5, "a number in (0, 1)")
    assert str(error) == "a.b = 1.5: allowed: a number in (0, 1)"


@pytest.mark.parametrize(
    "accessor, args",
    [
        ("raw", ()),
        ("number", ()),
        ("integer", ()),
        ("fraction", ()),
        ("text", ()),
        ("boolean", ()),
        ("choice", (("x", "y"),)),
        ("numbers", ()),
        ("section", ()),
        ("sections", ()),
    ],
)
def test_missing_key_is_named(accessor, args):
    error = error_of(getattr(Section({"other": 1}, "study.setup"), accessor), "steps", *args)
    assert error.key == "study.setup.steps"
    assert "study.setup.steps = '<missing>'" in str(error) and "required" in str(error)


@pytest.mark.parametrize(
    "accessor, value, allowed",
    [
        ("integer", "3", "an integer"),
        ("integer", 3.0, "an integer"),
        ("integer", None, "an integer"),
        ("number", "0.1", "a finite number"),
        ("number", None, "a finite number"),
        ("number", [1.0], "a finite number"),
        ("text", 3, "a non-empty string"),
        ("text", "", "a non-empty string"),
        ("boolean", "yes", "true or false"),
        ("boolean", 1, "true or false"),
        ("numbers", 0.5, "a non-empty list of numbers"),
        ("numbers", [], "a non-empty list of numbers"),
        ("numbers", [0.1, "0.2"], "a non-empty list of numbers"),
    ],
)
def test_wrong_type_is_rejected(accessor, value, allowed):
    error = error_of(getattr(Section({"x": value}, "s"), accessor), "x")
    assert error.key == "s.x" and error.value == value
    assert f"s.x = {value!r}" in str(error) and allowed in str(error)


@pytest.mark.parametrize("accessor", ["number", "integer", "fraction", "numbers"])
def test_bool_is_not_a_number(accessor):
    value = [1.0, True] if accessor == "numbers" else True
    error = error_of(getattr(Section({"x": value}, "s"), accessor), "x")
    assert error.key == "s.x"


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_numbers_are_rejected(value):
    section = Section({"x": value, "xs": [1.0, value]}, "s")
    assert error_of(section.number, "x").key == "s.x"
    assert error_of(section.number, "x", low=-1e300).key == "s.x"
    assert error_of(section.numbers, "xs").key == "s.xs"


def test_yaml_nan_and_inf_are_rejected():
    loaded = yaml.safe_load("x: .nan\ny: .inf\n")
    assert math.isnan(loaded["x"])
    section = Section(loaded, "s")
    assert "s.x = nan" in str(error_of(section.number, "x", positive=True))
    assert "s.y = inf" in str(error_of(section.number, "y"))


def test_number_bounds():
    section = Section({"zero": 0, "one": 1, "half": 0.5, "neg": -1e-12, "int": 3}, "s")
    assert section.number("int") == 3.0 and isinstance(section.number("int"), float)
    assert "a number > 0" in str(error_of(section.number, "zero", positive=True))
    assert "a number > 0" in str(error_of(section.number, "neg", positive=True))
    assert section.number("zero", low=0.0) == 0.0
    assert "a number >= 0" in str(error_of(section.number, "neg", low=0.0))
    assert "a number <= 0.5" in str(error_of(section.number, "one", high=0.5))
    assert section.fraction("half") == 0.5
    for name in ("zero", "one"):
        assert "a number in (0, 1)" in str(error_of(section.fraction, name))
    assert section.number("one", low=0.0, high=1.0) == 1.0


def test_integer_minimum():
    section = Section({"n": 1}, "s")
    assert section.integer("n", minimum=1) == 1
    error = error_of(section.integer, "n", minimum=2)
    assert str(error) == "s.n = 1: allowed: an integer >= 2"


def test_numbers_increasing():
    section = Section(
        {"up": [0.1, 0.2, 3], "unsorted": [0.3, 0.2, 0.4], "tie": [0.1, 0.1], "neg": [-1.0, 2.0]},
        "s",
    )
    assert section.numbers("up", increasing=True) == [0.1, 0.2, 3.0]
    assert section.numbers("unsorted") == [0.3, 0.2, 0.4]
    error = error_of(section.numbers, "unsorted", increasing=True)
    assert (
        error.key == "s.unsorted"
        and "in increasing order" in str(error)
        and "[0.3, 0.2, 0.4]" in str(error)
    )
    assert "in increasing order" in str(error_of(section.numbers, "tie", increasing=True))
    assert "positive numbers" in str(error_of(section.numbers, "neg", positive=True))


def test_choice_lists_the_allowed_values():
    error = error_of(
        Section({"kind": "linear"}, "s.schedule").choice, "kind", ("constant", "step_decay")
    )
    assert str(error) == "s.schedule.kind = 'linear': allowed: one of constant, step_decay"


def test_nested_sections_extend_the_path():
    root = Section({"a": {"b": {"c": "x"}}, "empty": {}, "flat": 3}, "study")
    assert root.section("a").section("b").path == "study.a.b"
    assert error_of(root.section("a").section("b").number, "c").key == "study.a.b.c"
    assert error_of(root.section, "flat").key == "study.flat"
    assert "at least one entry" in str(error_of(root.sections, "empty"))
    assert list(root.sections("a")) == ["b"]
    assert error_of(Section, [1, 2], "study.x").key == "study.x"


# -------------------------------------------------------------------------------------- load_yaml


def test_load_yaml_reads_a_mapping(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("a: 1\nb: [1, 2]\n")
    assert load_yaml(path) == {"a": 1, "b": [1, 2]}


def test_load_yaml_missing_file_names_it(tmp_path):
    path = tmp_path / "nowhere" / "params.yaml"
    error = error_of(load_yaml, path)
    assert error.key == str(path) and str(path) in str(error) and "readable YAML file" in str(error)


@pytest.mark.parametrize(
    "text, allowed",
    [
        ("a: [1, 2\nb: 3\n", "valid YAML"),
        ("a: 1\n  b: 2\n", "valid YAML"),
        ("key: value\n\tbad: tab\n", "valid YAML"),
        ("- 1\n- 2\n", "a YAML mapping at the top level"),
        ("just a string\n", "a YAML mapping at the top level"),
        ("", "a YAML mapping at the top level"),
    ],
)
def test_load_yaml_malformed_names_the_file(tmp_path, text, allowed):
    path = tmp_path / "params.yaml"
    path.write_text(text)
    error = error_of(load_yaml, path)
    assert error.key == str(path) and str(error).startswith(str(path)) and allowed in str(error)


def test_study_section_missing_study(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("other: {a: 1}\n")
    error = error_of(study_section, "sparse_features", path)
    assert error.key == "sparse_features" and str(path) in str(error)
    assert study_section("other", path).path == "other"


# --------------------------------------------------------------------- the real study's section

DELETE = object()


@pytest.fixture(scope="module")
def repo_params() -> dict:
    return yaml.safe_load((REPO / "params.yaml").read_text())


def variant_where(params: dict, **wanted) -> tuple[str, str]:
    """(experiment, name) of the first variant of params.yaml matching experiment/optimizer/schedule
    kind (robust to renames): its path under `variants` is (experiment, name)."""
    for experiment, group in params["sparse_features"]["variants"].items():
        for name, entry in group.items():
            facts = {
                "experiment": experiment,
                "optimizer": entry["optimizer"],
                "kind": entry["schedule"]["kind"],
                "probed": entry["schedule"]["lr"] == "probe",
            }
            if all(facts[key] == value for key, value in wanted.items()):
                return experiment, name
    pytest.skip(f"params.yaml has no variant with {wanted}")


def parse(params: dict):
    return STUDY.parse(Section(params["sparse_features"], "sparse_features"))


def mutated(params: dict, path: tuple, value) -> dict:
    changed = copy.deepcopy(params)
    node = changed["sparse_features"]
    for part in path[:-1]:
        node = node[part]
    if value is DELETE:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return changed


def test_repo_params_parse(repo_params):
    config = parse(repo_params)
    groups = repo_params["sparse_features"]["variants"]
    assert set(config.variants) == {name for group in groups.values() for name in group}
    assert set(config.experiments) == {"diag_net", "diag_table1", "relu_net"}


def cases(params: dict) -> list[tuple]:
    """(path under sparse_features, new value, allowed text, value as printed)."""
    decay = variant_where(params, experiment="diag_net", kind="step_decay")
    constant = variant_where(params, kind="constant")
    relu = variant_where(params, experiment="relu_net")
    probed = variant_where(params, probed=True)
    return [
        (
            ("variants", *decay, "schedule", "kind"),
            "exponential",
            "one of constant, step_decay, cosine",
            "'exponential'",
        ),
        (("variants", *constant, "schedule", "lr"), -0.2, "a number > 0", "-0.2"),
        (("variants", *constant, "schedule", "lr"), 0, "a number > 0", "0.0"),
        (("variants", *constant, "schedule", "lr"), "0.2", "a number > 0", "'0.2'"),
        (("variants", *decay, "schedule", "decay_at"), 1.5, "a number in (0, 1)", "1.5"),
        (("variants", *decay, "schedule", "decay_at"), 0, "a number in (0, 1)", "0.0"),
        (("variants", *decay, "schedule", "decay_at"), 1, "a number in (0, 1)", "1.0"),
        (("variants", *decay, "schedule", "decay_at"), -0.1, "a number in (0, 1)", "-0.1"),
        (("variants", *decay, "schedule", "decay_at"), DELETE, "required", "'<missing>'"),
        (("variants", *decay, "schedule"), DELETE, "required", "'<missing>'"),
        (
            ("variants", "cnn"),
            {"cnn_sgd": {}},
            "a known key here (diag_net, diag_table1, relu_net)",
            "{'cnn_sgd': {}}",
        ),
        (
            ("variants", *decay, "experiment"),
            decay[0],
            "a known key here (optimizer, schedule)",
            f"'{decay[0]}'",
        ),
        (("variants", *relu, "optimizer"), "gd", "one of sgd", "'gd'"),
        (("variants", *probed, "schedule", "probe_divisor"), 0.5, "a number >= 1", "0.5"),
        (("variants", *probed, "schedule", "lr"), "Probe", "a number > 0", "'Probe'"),
        (("setup", "diag_net", "n_train"), DELETE, "required", "'<missing>'"),
        (("setup", "diag_net", "steps"), "1000", "an integer >= 1", "'1000'"),
        (("setup", "diag_net", "seeds"), 0, "an integer >= 1", "0"),
        (("setup", "diag_net", "support"), 40, "an integer <= dim", "40"),
        (("setup", "diag_net", "recipe"), "numpy", "one of public_code, generator", "'numpy'"),
        (("setup", "diag_net", "init_scale"), True, "a number > 0", "True"),
        (
            ("setup", "diag_net", "probe", "sgd_grid"),
            [0.5, 0.3],
            "in increasing order",
            "[0.5, 0.3]",
        ),
        (("setup", "diag_net", "probe", "max_diverged_share"), 1.5, "a number in [0, 1]", "1.5"),
        (("setup", "relu_net", "init_scale"), "0.5", "a number > 0", "'0.5'"),
        (("setup", "relu_net", "student_width"), 2.5, "an integer >= 1", "2.5"),
        (("setup", "relu_net", "divergence_threshold"), float("nan"), "a number > 0", "nan"),
        (("setup", "relu_net", "steps"), DELETE, "required", "'<missing>'"),
    ]


def _case_ids():
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    return [
        ".".join(path) + "=" + ("<deleted>" if value is DELETE else repr(value))
        for path, value, *_ in cases(params)
    ]


@pytest.mark.parametrize("index", range(len(_case_ids())), ids=_case_ids())
def test_bad_study_params_name_the_full_dotted_key(repo_params, index):
    path, value, allowed, printed = cases(repo_params)[index]
    error = error_of(parse, mutated(repo_params, path, value))
    key = "sparse_features." + ".".join(path)
    assert error.key == key, str(error)
    assert str(error).startswith(f"{key} = {printed}: allowed: "), str(error)
    assert allowed in str(error)


def test_probe_divisor_needs_a_probed_step(repo_params):
    experiment, name = variant_where(repo_params, probed=True)
    changed = mutated(
        repo_params,
        ("variants", experiment, name, "schedule"),
        {"kind": "constant", "lr": 0.2, "probe_divisor": 3},
    )
    error = error_of(parse, changed)
    assert error.key == f"sparse_features.variants.{experiment}.{name}.schedule.probe_divisor"
    assert "only with lr: probe" in str(error)


def test_misspelt_study_key_names_the_key_and_the_known_ones():
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["sparse_features"]["setup"]["diag_net"]["n_trian"] = 20
    with pytest.raises(ParamError) as caught:
        STUDY.parse(Section(params["sparse_features"], "sparse_features"))
    assert "sparse_features.setup.diag_net.n_trian" in str(caught.value)
    assert "n_train" in str(caught.value)


def test_stage_called_with_the_wrong_argument_count_prints_usage(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "stages.train", "sparse_features"],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert result.returncode == 2
    assert result.stderr.startswith("usage: python -m stages.train <study> <variant>")


def test_cuda_requested_without_a_gpu_is_a_param_error(monkeypatch):
    import torch

    from stages.common.runtime import torch_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ParamError) as caught:
        torch_device("cuda")
    assert "execution.device" in str(caught.value) and "cpu" in str(caught.value)
    assert torch_device("cpu") == "cpu"


def test_probed_decay_beyond_the_probe_horizon_is_refused():
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["sparse_features"]["variants"]["diag_table1"]["t1_sgd_decay50"]["schedule"][
        "decay_at"
    ] = 0.6  # horizon 0.5
    with pytest.raises(ParamError) as caught:
        STUDY.parse(Section(params["sparse_features"], "sparse_features"))
    assert "sparse_features.variants.diag_table1.t1_sgd_decay50.schedule.decay_at" in str(
        caught.value
    )
    assert "horizon" in str(caught.value)
