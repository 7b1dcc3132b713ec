"""Study gpfq: params validation into typed variants, the claim checks on synthetic tables with known
verdicts, and a tiny train -> measure -> check and figure path through the schema (the MNIST IDX
loader: test_gpfq_idx_datasets.py)."""

import copy
import re

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import REPO

from stages.common.atomic import read_arrays, write_arrays
from stages.common.decision import NOT_REPRODUCED, REPRODUCED, VERDICTS, Evidence, judge
from stages.common.params import ParamError, Section
from stages.common.study import Execution
from stages.common.tables import read_table, to_arrow, write_table
from stages.studies.gpfq import STUDY, checks, config, summaries

PARAMS = yaml.safe_load((REPO / "params.yaml").read_text())["gpfq"]
CLAIMS = yaml.safe_load((REPO / "claims.yaml").read_text())["gpfq"]
VARIANTS = PARAMS["variants"]
NOT_APPLICABLE = dict.fromkeys(config.SETTING_COLUMNS)  # every setting null


def parse(edit=None):
    section = copy.deepcopy(PARAMS)
    if edit:
        edit(section)
    return config.parse(Section(section, "gpfq"))


def test_default_params_declare_readers_apart_from_what_they_read():
    cfg = parse()
    names = STUDY.variant_names(cfg)
    assert set(names) == set().union(*(VARIANTS[e] for e in config.EXPERIMENTS))
    for name in VARIANTS["quantization"]:
        (read,) = STUDY.train_reads(cfg, name)
        assert read in VARIANTS["float_training"] and read != name
    assert all(
        STUDY.train_reads(cfg, name) == []
        for name in {**VARIANTS["float_training"], **VARIANTS["single_layer"]}
    )


def test_each_experiment_parses_into_its_own_variant_type():
    cfg = parse()
    kinds = {
        "float_training": config.FloatVariant,
        "single_layer": config.SingleLayerVariant,
        "quantization": config.QuantizationVariant,
    }
    for experiment, kind in kinds.items():
        assert all(type(cfg.variants[name]) is kind for name in VARIANTS[experiment])
    ternary, three_bits = cfg.variants["mlp_ternary"], cfg.variants["mlp_3bit"]
    assert (ternary.bits, three_bits.bits, three_bits.alphabet) == (None, 3, "3bit")
    assert cfg.model_of(three_bits) == "mlp" and cfg.model_of(cfg.variants["float_cnn"]) == "cnn"
    assert not hasattr(cfg.variants["float_mlp"], "scales")  # no placeholder fields


@pytest.mark.parametrize(
    "edit, key, allowed",
    [
        (
            lambda s: s["variants"]["quantization"]["mlp_3bit"].update(alphabet=9),
            "gpfq.variants.quantization.mlp_3bit.alphabet",
            "ternary or a number of bits",
        ),
        (
            lambda s: s["variants"]["quantization"]["mlp_3bit"].update(alphabet="binary"),
            "gpfq.variants.quantization.mlp_3bit.alphabet",
            "ternary or a number of bits",
        ),
        (
            lambda s: s["variants"]["quantization"]["mlp_3bit"].update(
                float_variant="layer_gaussian"
            ),
            "gpfq.variants.quantization.mlp_3bit.float_variant",
            "one of float_mlp, float_cnn",
        ),
        (
            lambda s: s["variants"]["quantization"]["mlp_3bit"].update(scales=[2, 1]),
            "gpfq.variants.quantization.mlp_3bit.scales",
            "increasing",
        ),
        (
            lambda s: s["variants"].update(quantisation=s["variants"].pop("quantization")),
            "gpfq.variants.quantisation",
            "a known key here (float_training, single_layer, quantization)",
        ),
        (
            lambda s: s["setup"]["data"].update(mnist_idx_dir="/no/such/folder"),
            "gpfq.setup.data.mnist_idx_dir",
            "existing local folder",
        ),
        (
            lambda s: s["setup"]["quantization"].update(calibration_samples=5000),
            "gpfq.setup.quantization.calibration_samples",
            "training images",
        ),
        (
            lambda s: s["setup"]["single_layer"].update(neurons_in=[256]),
            "gpfq.setup.single_layer.neurons_in",
            "at least two",
        ),
        (lambda s: s["setup"].update(first_seed=-1), "gpfq.setup.first_seed", ">= 0"),
        (
            lambda s: s["setup"]["float_training"].update(epoch=3),
            "gpfq.setup.float_training.epoch",
            "a known key",
        ),
    ],
)
def test_bad_params_name_the_key_and_what_is_allowed(edit, key, allowed):
    with pytest.raises(ParamError) as error:
        parse(edit)
    assert error.value.key == key and allowed in error.value.allowed


@pytest.mark.parametrize(
    "experiment, variant, field, value, allowed",
    [
        ("float_training", "float_mlp", "alphabet", 3, "(model)"),
        ("single_layer", "layer_gaussian", "float_variant", "float_mlp", "(inputs)"),
        ("quantization", "mlp_3bit", "model", "mlp", "(float_variant, alphabet, scales)"),
        (
            "float_training",
            "float_mlp",
            "experiment",
            "float_training",
            "(model)",
        ),  # its group says it
    ],
)
def test_a_field_of_another_variant_kind_is_refused_in_one_line(
    experiment, variant, field, value, allowed
):
    with pytest.raises(ParamError) as error:
        parse(lambda s: s["variants"][experiment][variant].update({field: value}))
    assert error.value.key == f"gpfq.variants.{experiment}.{variant}.{field}"
    assert error.value.value == value and f"a known key here {allowed}" in error.value.allowed
    assert "\n" not in str(error.value)


def test_a_variant_name_used_twice_is_refused():
    def duplicate(section):
        quantizers = section["variants"]["quantization"]
        quantizers["float_mlp"] = dict(quantizers["mlp_3bit"])

    with pytest.raises(ParamError, match="not used by another variant"):
        parse(duplicate)


# --- checks on synthetic tables ---------------------------------------------------------------------


def diverged_rows(variant: str, seeds, lost=(), **settings) -> list[dict]:
    """One `diverged` row per seed, 1 for the seeds in `lost`."""
    return [
        {
            **NOT_APPLICABLE,
            **settings,
            "variant": variant,
            "seed": seed,
            "step": 0,
            "metric": "diverged",
            "value": float(seed in lost),
        }
        for seed in seeds
    ]


def layer_table(gpfq_power: float, msq_power: float, seeds=5, lost=()) -> pd.DataFrame:
    rows = []
    for variant, inputs in (
        ("layer_gaussian", "gaussian"),
        ("layer_clusters", "gaussian_clusters"),
    ):
        rows += diverged_rows(variant, range(seeds), lost, model="single_layer", inputs=inputs)
        for seed in range(seeds):
            for n0 in (128, 256, 512, 1024, 2048, 4096):
                for method, power, scale in (("gpfq", gpfq_power, 1.0), ("msq", msq_power, 0.01)):
                    rows.append(
                        {
                            **NOT_APPLICABLE,
                            "variant": variant,
                            "seed": seed,
                            "step": 0,
                            "metric": "relative_square_error",
                            "value": scale * n0**power * (1 + 0.01 * seed),
                            "model": "single_layer",
                            "inputs": inputs,
                            "method": method,
                            "alphabet": "3bit",
                            "scale_c": 1.0,
                            "neurons_in": n0,
                        }
                    )
    return pd.DataFrame(rows)


def tolerance(claim: str) -> Section:
    return Section(CLAIMS[claim]["tolerance"], claim)


def verdict(claim: str, table: pd.DataFrame) -> str:
    return judge(checks.CHECKS[CLAIMS[claim]["check"]](table, tolerance(claim))).verdict


def test_error_decay_reproduces_on_one_over_n0_and_fails_on_flat_errors():
    evidence = checks.error_decay(layer_table(-1.0, 0.0), tolerance("G1"))
    judgement = judge(evidence)
    assert judgement.verdict == REPRODUCED
    slopes = [p for p in judgement.decision.parts if "GPFQ's slope" in p.name]
    assert [p.statistic for p in slopes] == pytest.approx([-1.0, -1.0])
    assert judgement.control.verdict == NOT_REPRODUCED  # MSQ's flat slope is not GPFQ's
    assert verdict("G1", layer_table(-0.5, 0.0)) == NOT_REPRODUCED


def test_error_decay_counts_a_diverged_seed_as_failing():
    """Three of five seeds flagged diverged: their slopes are lost and fail, so the median fails
    (the resamples with fewer lost seeds keep it from not_reproduced), although the survivors decay
    like 1/N0."""
    judgement = judge(checks.error_decay(layer_table(-1.0, 0.0, lost=(0, 1, 2)), tolerance("G1")))
    assert judgement.verdict != REPRODUCED and np.isinf(judgement.decision.parts[0].statistic)
    assert judgement.survivors.verdict == REPRODUCED
    assert all(p.lost == 3 for p in judgement.decision.parts)


FLOAT_LAST_STEP = 440  # the float network's last optimisation step: every quantization row's step


def quantized_table(
    gpfq_accuracy: float, bias_shift: float, corrected_error: float, seeds=5, lost=()
) -> pd.DataFrame:
    """mlp_ternary with MSQ at 90% and GPFQ at `gpfq_accuracy` at both C; hidden-layer errors 0.1
    (GPFQ) against 0.5 (MSQ)."""
    rows = diverged_rows("mlp_ternary", range(seeds), lost, model="mlp", inputs="digits")
    accuracies = {  # (method, bias correction, float last layer) -> test accuracy
        ("msq", 0, 0): 90.0,
        ("gpfq", 0, 0): gpfq_accuracy,
        ("gpfq", 1, 0): gpfq_accuracy + bias_shift,
        ("gpfq", 0, 1): gpfq_accuracy,
        ("gpfq", 1, 1): gpfq_accuracy + bias_shift,
    }
    for seed in range(seeds):
        base = {
            **NOT_APPLICABLE,
            "variant": "mlp_ternary",
            "seed": seed,
            "step": FLOAT_LAST_STEP,
            "model": "mlp",
            "inputs": "digits",
        }
        rows.append({**base, "method": "float", "metric": "test_accuracy_percent", "value": 98.0})
        for scale_c in (1.0, 2.0):
            quantized = {**base, "alphabet": "ternary", "scale_c": scale_c}
            for (method, bias, float_last), accuracy in accuracies.items():
                rows.append(
                    {
                        **quantized,
                        "method": method,
                        "bias_correction": bias,
                        "float_last_layer": float_last,
                        "metric": "test_accuracy_percent",
                        "value": accuracy,
                    }
                )
            for layer in range(3):
                on_layer = {**quantized, "float_last_layer": 0, "layer": layer}
                for method, bias, error in (
                    ("msq", 0, 0.5),
                    ("gpfq", 0, 0.1),
                    ("gpfq", 1, corrected_error),
                ):
                    rows.append(
                        {
                            **on_layer,
                            "method": method,
                            "bias_correction": bias,
                            "metric": "calibration_relative_error",
                            "value": error,
                        }
                    )
                rows.append(
                    {
                        **on_layer,
                        "method": "gpfq",
                        "bias_correction": 1,
                        "metric": "calibration_relative_error_before_bias_shift",
                        "value": 0.1,
                    }
                )
    return pd.DataFrame(rows)


def test_accuracy_vs_scale_judges_the_drop_from_float():
    assert verdict("G2", quantized_table(97.5, 0.0, 0.09)) == REPRODUCED
    lossy = judge(checks.accuracy_vs_scale(quantized_table(95.0, 0.0, 0.09), tolerance("G2")))
    assert lossy.verdict == NOT_REPRODUCED
    assert lossy.decision.deciding.statistic == pytest.approx(3.0)  # 98 − 95
    assert lossy.control.verdict == NOT_REPRODUCED  # MSQ against itself
    assert verdict("G2", quantized_table(97.5, 0.0, 0.09, lost=(0, 1, 2))) != REPRODUCED


def test_bias_correction_check_fails_when_accuracy_drops():
    judgement = judge(
        checks.bias_and_mixed_precision(quantized_table(97.5, 0.0, 0.09), tolerance("G3"))
    )
    assert judgement.verdict == REPRODUCED and judgement.control.verdict == NOT_REPRODUCED
    assert verdict("G3", quantized_table(97.5, -2.0, 0.09)) == NOT_REPRODUCED
    assert verdict("G3", quantized_table(97.5, 0.0, 0.09, lost=(1, 2, 3))) != REPRODUCED


def test_hidden_layers_come_from_the_layer_column():
    table = quantized_table(97.5, 0.0, 0.09)
    assert summaries.hidden_layers(table, "mlp_ternary") == [0, 1]  # layers 0–2, the last is not
    deeper = table.assign(layer=table["layer"] + 3)
    assert summaries.hidden_layers(deeper, "mlp_ternary") == [3, 4]


def test_a_network_left_unnamed_by_its_settings_is_refused():
    """Two networks at one (seed, C): a selection that leaves out a setting must not mix them."""
    table = quantized_table(97.5, 0.0, 0.09)
    with pytest.raises(ValueError, match="duplicate"):
        checks.wide(table, "mlp_ternary", "test_accuracy_percent", "scale_c", method="gpfq")


# --- a tiny train -> measure -> check path ----------------------------------------------------------


def tiny(section):
    section["setup"]["float_training"].update(
        seeds=2, epochs=1, mlp_hidden=[16, 8], cnn_channels=[2, 4]
    )
    section["setup"]["quantization"]["calibration_samples"] = 16
    section["setup"]["single_layer"].update(seeds=2, neurons_in=[32, 64])
    section["variants"]["quantization"]["cnn_3bit"]["scales"] = [1.0, 2.0]


@pytest.fixture(scope="module")
def tiny_runs():
    cfg = parse(tiny)
    data = STUDY.module("data").generate(cfg)
    runs = {
        name: STUDY.module("training").train(
            cfg, name, data, probe=None, execution=Execution(), reads={}
        )
        for name in ("float_cnn", "layer_clusters")
    }
    runs["cnn_3bit"] = STUDY.module("training").train(
        cfg,
        "cnn_3bit",
        data,
        probe=None,
        execution=Execution(),
        reads={"float_cnn": runs["float_cnn"].arrays},
    )
    return cfg, data, runs


@pytest.fixture(scope="module")
def tiny_tables(tiny_runs, tmp_path_factory):
    """Every run through its .npz as the stages pass it (a scalar comes back as an array of one)."""
    cfg, data, runs = tiny_runs
    folder = tmp_path_factory.mktemp("runs")
    tables = {}
    for name, result in runs.items():
        write_arrays(folder / f"{name}.npz", result.arrays)
        arrays = read_arrays(folder / f"{name}.npz")
        frame = STUDY.module("measurement").measure(cfg, name, data, arrays, reads={})
        frame.insert(0, "study", "gpfq")
        frame.insert(1, "variant", name)
        tables[name] = frame
    return tables


def test_tiny_runs_are_bit_identical_when_repeated(tiny_runs):
    cfg, data, runs = tiny_runs
    again = STUDY.module("training").train(
        cfg,
        "cnn_3bit",
        data,
        probe=None,
        execution=Execution(),
        reads={"float_cnn": runs["float_cnn"].arrays},
    )
    for name, array in runs["cnn_3bit"].arrays.items():
        np.testing.assert_array_equal(array, again.arrays[name], err_msg=name)


def test_tiny_measurements_pass_the_table_schema(tiny_tables):
    for name, frame in tiny_tables.items():
        to_arrow(frame, STUDY.setting_columns, name)  # raises on a duplicate key or a wrong column
        assert "diverged" in set(frame["metric"])
    quantized = tiny_tables["cnn_3bit"]
    accuracy = summaries.select(
        quantized,
        "cnn_3bit",
        "test_accuracy_percent",
        method="gpfq",
        bias_correction=0,
        float_last_layer=0,
    )["value"]
    assert len(accuracy) == 2 * 2 and accuracy.between(0, 100).all()  # seeds × C


def test_no_metric_name_carries_a_setting(tiny_tables):
    metrics = set().union(*(set(frame["metric"]) for frame in tiny_tables.values()))
    assert metrics == {
        "train_loss",
        "test_accuracy_percent",
        "diverged",
        "relative_square_error",
        "calibration_relative_error",
        "calibration_relative_error_before_bias_shift",
    }
    assert not [m for m in metrics if re.search(r"gpfq|msq|float_|layer\d|bit", m)]


def test_step_is_the_optimisation_step_the_measured_weights_come_from(tiny_runs, tiny_tables):
    cfg, data, _ = tiny_runs
    batches = -(-len(data["train_labels"]) // cfg.float_training.batch_size)
    last = cfg.float_training.epochs * batches
    trained = tiny_tables["float_cnn"]
    losses = trained[trained["metric"] == "train_loss"]
    assert sorted(losses["step"].unique()) == [batches * e for e in range(1, 2)]
    assert set(trained.loc[trained["metric"] != "train_loss", "step"]) == {last}
    assert set(tiny_tables["cnn_3bit"]["step"]) == {last}  # quantized from the last step's weights
    assert set(tiny_tables["layer_clusters"]["step"]) == {0}  # nothing trained; N0 is a column
    assert sorted(tiny_tables["layer_clusters"]["neurons_in"].dropna().unique()) == [32, 64]


def test_every_network_has_one_row_per_seed_and_scale(tiny_tables):
    quantized = tiny_tables["cnn_3bit"]
    accuracy = quantized[quantized["metric"] == "test_accuracy_percent"]
    float_rows = accuracy[accuracy["method"] == "float"]
    assert len(float_rows) == 2 and float_rows["scale_c"].isna().all()  # once per seed, not per C
    networks = accuracy[accuracy["method"] != "float"].groupby(
        ["method", "bias_correction", "float_last_layer"]
    )
    assert {key: len(group) for key, group in networks} == {
        (n.method, int(n.bias_correction), int(n.float_last_layer)): 2 * 2 for n in config.NETWORKS
    }
    errors = quantized[quantized["metric"] == "calibration_relative_error"]
    assert sorted(errors["layer"].unique()) == [0, 1, 2]  # two convolutions and the classifier


def test_checks_and_figures_read_the_tables_measurement_writes(tiny_runs, tiny_tables, tmp_path):
    cfg, _, _ = tiny_runs
    path = tmp_path / "gpfq.parquet"
    write_table(path, pd.concat(tiny_tables.values(), ignore_index=True), STUDY.setting_columns)
    table = read_table(path, STUDY.setting_columns)  # nullable integers come back as floats
    for claim in ("G1", "G2", "G3"):
        evidence = checks.CHECKS[CLAIMS[claim]["check"]](table, tolerance(claim))
        assert isinstance(evidence, Evidence) and evidence.rows, claim
        judgement = judge(evidence)
        assert judgement.verdict in VERDICTS, claim
        if claim != "G3":  # G3's phase-A control (MSQ) fails only where MSQ collapses (ternary)
            assert judgement.control.verdict == NOT_REPRODUCED, claim  # on the real tiny runs
    drawn = STUDY.module("figures").figures(cfg, table)
    assert set(drawn) == {
        "error_vs_n0",
        "accuracy_vs_scale",
        "hidden_layer_errors",
        "bias_and_mixed_precision",
    }
