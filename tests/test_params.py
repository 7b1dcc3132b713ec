"""stages/common/params.py: Section accessors, YAML loading as DVC loads it (YAML 1.2, repeated
keys and keys that are not names refused with their line), sizes bounded before compute, the
validation of the real sparse_features section of params.yaml (every error names the full dotted
key), names checked by the study contract, and a stage's variant taken from DVC_STAGE."""

from __future__ import annotations

import copy
import math
import os
import subprocess
import sys

import pytest
import yaml
from conftest import REPO

from stages.common import params as params_module
from stages.common.entry import variant_of_stage
from stages.common.params import (
    INTEGER_LIMIT,
    NAME,
    ParamError,
    Section,
    load_params,
    load_yaml,
    require_memory,
    study_section,
)
from stages.common.study import Study
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
    assert str(error) == (
        f"s.n = 1: allowed: an integer >= 2 and <= {INTEGER_LIMIT} "
        "(INTEGER_LIMIT, stages/common/params.py)"
    )


def test_every_integer_has_an_upper_bound_that_names_itself():
    section = Section({"steps": INTEGER_LIMIT, "huge": INTEGER_LIMIT + 1, "bits": 9}, "s")
    assert section.integer("steps", minimum=1) == INTEGER_LIMIT
    error = error_of(section.integer, "huge", minimum=1)
    assert error.key == "s.huge" and "INTEGER_LIMIT" in str(error)
    assert f"<= {INTEGER_LIMIT}" in str(error)
    error = error_of(section.integer, "bits", maximum=8, bound="MAX_BITS, the quantizer's")
    assert str(error).endswith("an integer and <= 8 (MAX_BITS, the quantizer's)")


def test_memory_estimates_above_the_machine_are_refused_before_compute(monkeypatch):
    monkeypatch.setattr(params_module, "machine_memory_bytes", lambda: 2**30)
    require_memory("s.setup", 2**30, "exactly the limit")
    error = error_of(require_memory, "s.setup", 3 * 2**30, "8 bytes x steps")
    assert str(error) == (
        "s.setup = '3.0 GiB for 8 bytes x steps': allowed: sizes whose arrays fit in this "
        "machine's memory, 1.0 GiB (machine_memory_bytes, stages/common/params.py)"
    )


def test_huge_sizes_of_the_real_studies_stop_at_parse_with_the_estimate():
    """Sizes under the integer bound whose product does not fit (the MemoryErrors of a first run)."""
    from stages.studies.float_instability import STUDY as FLOAT_STUDY

    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["sparse_features"]["setup"]["diag_net"]["eval_points"] = 10**8
    params["sparse_features"]["setup"]["diag_net"]["dim"] = 10**6
    error = error_of(STUDY.parse, Section(params["sparse_features"], "sparse_features"))
    assert error.key == "sparse_features.setup.diag_net" and "GiB for 8 bytes x seeds" in str(error)
    params["float_instability"]["setup"]["board"]["sizes"]["small"]["image_side"] = 10**6
    params["float_instability"]["setup"]["board"]["sizes"]["small"]["kernel_side"] = 4
    error = error_of(FLOAT_STUDY.parse, Section(params["float_instability"], "float_instability"))
    assert error.key == "float_instability.setup.board.sizes.small"
    assert "image_side^2" in str(error)


def test_a_key_or_value_that_would_break_the_line_is_shown_escaped_and_cut():
    error = ParamError("s.variants.a\nb", {"x": "y" * 500}, "a name")
    assert "\n" not in str(error) and "a\\nb" in str(error)
    assert len(str(error)) < 120 and str(error).endswith("...: allowed: a name")
    assert len(str(ParamError("s", "z" * 500, "a"))) < 230


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
    "text, where, allowed",
    [
        ("a: [1, 2\nb: 3\n", " line 2", "valid YAML (while parsing a flow sequence"),
        ("a: 1\n  b: 2\n", " line 2", "valid YAML (mapping values are not allowed"),
        ("key: value\n\tbad: tab\n", " line 2", "valid YAML"),
        (
            "a: !!python/object/apply:os.system [touch pwned]\n",
            " line 1",
            "constructor for the tag",
        ),
        ("- 1\n- 2\n", "", "a YAML mapping at the top level"),
        ("just a string\n", "", "a YAML mapping at the top level"),
        ("", "", "(the file holds no document)"),
        ("# only a comment\n", "", "(the file holds no document)"),
    ],
)
def test_load_yaml_malformed_names_the_file_in_one_line(tmp_path, text, where, allowed):
    path = tmp_path / "params.yaml"
    path.write_text(text)
    error = error_of(load_yaml, path)
    assert error.key == f"{path}{where}" and str(error).startswith(f"{path}{where} = ")
    assert allowed in str(error) and "\n" not in str(error)
    assert not (tmp_path / "pwned").exists()


# what DVC 3 reads in params.yaml (dvc.utils.serialize.parse_yaml) and what a stage reads must agree
SCALARS = ["282e-3", "1e3", "1.0e+3", ".5", "yes", "no", "on", "off", "0o17", "012", "0x1F", "1_000",
           "~", "null", ".inf", "-.Inf", "+1", "2001-12-14", "'1'", "true", "True"]  # fmt: skip


@pytest.mark.parametrize("scalar", SCALARS)
def test_a_value_means_to_the_stages_what_it_means_to_dvc(tmp_path, scalar):
    from dvc.utils.serialize import parse_yaml

    text = f"study:\n  value: {scalar}\n"
    (tmp_path / "params.yaml").write_text(text)
    ours = load_yaml(tmp_path / "params.yaml")["study"]["value"]
    dvc = parse_yaml(text, "params.yaml")["study"]["value"]
    assert type(ours) is type(dvc) and (ours == dvc or (ours != ours and dvc != dvc))


def test_282e_3_is_a_number_as_dvc_reads_it(tmp_path):
    (tmp_path / "params.yaml").write_text("s:\n  lr: 282e-3\n")
    assert Section(load_yaml(tmp_path / "params.yaml")["s"], "s").number("lr") == 0.282


@pytest.mark.parametrize(
    "text, key, first",
    [
        ("a: 1\nb: 2\na: 3\n", "line 3: a", 1),
        (
            "s:\n  variants:\n    x: {lr: 1}\n    y: {lr: 2}\n    x: {lr: 3}\n",
            "line 5: s.variants.x",
            3,
        ),
        ("s:\n  list:\n    - {k: 1, k: 2}\n", "line 3: s.list[0].k", 3),
    ],
)
def test_a_repeated_key_is_refused_with_its_path_and_both_lines(tmp_path, text, key, first):
    path = tmp_path / "claims.yaml"
    path.write_text(text)
    error = error_of(load_yaml, path)
    assert error.key == f"{path} {key}"
    assert str(error).endswith(f"allowed: each key once per mapping (it is first at line {first})")


@pytest.mark.parametrize(
    "key, line",
    [(";touch pwned;", 3), ("../../../../x", 3), ("a/b", 3), ("a.b", 3), ("-rf", 3), ("1", 3),
     ("a b", 3), ("x" * 101, 3), ("", 3)],
)  # fmt: skip
def test_a_key_that_is_not_a_name_is_refused_with_its_line(tmp_path, key, line):
    path = tmp_path / "params.yaml"
    quoted = "'" + key + "'" if key != "1" else key
    path.write_text(f"sparse_features:\n  variants:\n    {quoted}: {{lr: 1}}\n")
    error = error_of(load_yaml, path)
    assert error.key == f"{path} line {line}: sparse_features.variants"
    assert "allowed: keys that are a name of letters, digits, _ and -" in str(error)
    assert "\n" not in str(error)


def test_names_are_what_dvc_and_a_file_system_take_literally():
    for name in ("t1_sgd_small", "cnn-relu", "C1", "0", "_private", "x" * 100):
        assert NAME.fullmatch(name)
    for name in ("a.b", "a/b", "..", "-x", "a;b", "a b", "a@b", "a:b", "$x", "x" * 101, "é"):
        assert not NAME.fullmatch(name), name


def test_merge_keys_and_aliases_load_as_dvc_loads_them(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("base: &b {lr: 0.1, steps: 10}\nrun:\n  <<: *b\n  steps: 20\n")
    assert load_yaml(path)["run"] == {"lr": 0.1, "steps": 20}


def test_unknown_top_level_section_is_refused_with_the_allowed_ones(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("sparse_feature: {setup: {}}\n")
    error = error_of(load_params, path)
    assert error.key == f"{path}: sparse_feature"
    assert "a study's section or execution (" in str(error) and "sparse_features" in str(error)
    assert load_params(REPO / "params.yaml")["execution"] is not None


def test_study_section_missing_study(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("gpfq: {a: 1}\n")
    error = error_of(study_section, "sparse_features", path)
    assert error.key == "sparse_features" and str(path) in str(error)
    assert study_section("gpfq", path).path == "gpfq"


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
    assert set(config.experiments) == {"diag_net", "diag_table1", "relu_net", "diag_gd_stabilises"}


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
            "a known key here (diag_net, diag_table1, relu_net, diag_gd_stabilises)",
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


# -------------------------------------------------------------------- names in the study contract


class _ConfigOfNames:
    """A config module whose variant names come from values, not keys (what load_yaml cannot see)."""

    @staticmethod
    def parse(section):
        return list(section.mapping["variants"]["group"].values())

    @staticmethod
    def variant_names(config):
        return config


def test_a_study_cannot_name_a_variant_that_is_not_a_name(monkeypatch):
    study = Study("toy", "citation", {})
    monkeypatch.setattr(Study, "module", lambda self, role: _ConfigOfNames)
    section = Section({"variants": {"group": {"a": "fine", "b": "x;rm -rf ~"}}}, "toy")
    error = error_of(study.parse, section)
    assert error.key == "toy.variants.group.b" and error.value == "x;rm -rf ~"
    assert "variant names that are a name of letters" in str(error)
    assert study.parse(Section({"variants": {"group": {"a": "fine"}}}, "toy")) == ["fine"]


def test_a_variant_argument_is_a_name_before_it_is_looked_up(repo_params):
    config = parse(repo_params)
    for bad in ("../../../../x", ";touch pwned;", "a/b"):
        error = error_of(STUDY.check_variant, config, bad)
        assert error.key == "variant" and "a name of letters" in str(error)
    assert error_of(STUDY.check_variant, config, "no_such").key == "sparse_features.variants"


@pytest.mark.parametrize(
    "stage, variant",
    [
        ("train-sparse_features-diag_table1@t1_sgd_small", "t1_sgd_small"),
        ("train-sparse_features@x", "x"),
        ("pipelines/sparse_features/dvc.yaml:train-sparse_features-diag_net@x", "x"),
        ("pipelines/sparse_features/dvc.yaml:train-sparse_features-diag_net@a:b", "a:b"),
        (
            "train-sparse_features-relu_net@b;touch pwned;",
            "b;touch pwned;",
        ),  # refused later, by name
        ("train-sparse_features-relu_net@a@b", "a@b"),
    ],
)
def test_the_variant_of_a_dvc_stage_is_what_follows_the_first_at(stage, variant):
    assert variant_of_stage(stage, "train", "sparse_features") == variant


@pytest.mark.parametrize(
    "stage",
    [
        "measure-sparse_features-diag_net@x",
        "train-sparse_featuresX@x",
        "train-sparse_features",
        "report",
    ],
)
def test_a_dvc_stage_of_another_kind_or_study_is_refused(stage):
    error = error_of(variant_of_stage, stage, "train", "sparse_features")
    assert error.key == "DVC_STAGE" and error.value == stage
    assert "train-sparse_features[-<experiment>]@<variant>" in str(error)


def test_a_stage_without_its_variant_and_without_dvc_stage_prints_the_usage():
    env = {k: v for k, v in os.environ.items() if k != "DVC_STAGE"}
    result = subprocess.run(
        [sys.executable, "-m", "stages.measure", "sparse_features"],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
    )
    assert result.returncode == 2
    assert result.stderr == (
        "usage: python -m stages.measure <study> <variant> (under DVC the variant comes from "
        "DVC_STAGE)\n"
    )


def test_variant_entries_yield_each_variant_once_with_its_experiment():
    section = Section(
        {"variants": {"train": {"a": {"lr": 1}, "b": {"lr": 2}}, "probe": {"c": {}}}}, "study"
    )
    found = [(e, n, s.path) for e, n, s in section.variant_entries(("train", "probe"))]
    assert found == [
        ("train", "a", "study.variants.train.a"),
        ("train", "b", "study.variants.train.b"),
        ("probe", "c", "study.variants.probe.c"),
    ]


@pytest.mark.parametrize(
    "variants, key, value",
    [
        ({"train": {"a": {}}, "probe": {"a": {}}}, "study.variants.probe.a", "'a'"),
        ({"train": {"a;rm": {}}, "probe": {"c": {}}}, "study.variants.train.a;rm", "'a;rm'"),
        ({"train": {"a": {}}, "probe": {"c": {}}, "other": {}}, "study.variants.other", "{}"),
        ({"train": {"a": {}}}, "study.variants.probe", "'<missing>'"),
    ],
)
def test_variant_entries_refuse_a_repeated_unsafe_or_unknown_name(variants, key, value):
    with pytest.raises(ParamError) as error:
        list(Section({"variants": variants}, "study").variant_entries(("train", "probe")))
    assert str(error.value).startswith(f"{key} = {value}: allowed: ")
