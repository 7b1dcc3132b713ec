"""Study gpfq: params validation, the claim checks on synthetic tables with known verdicts, and a
tiny train -> measure path through the schema (the MNIST IDX loader: test_gpfq_idx_datasets.py)."""

import copy

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import REPO

from stages.common.params import ParamError, Section
from stages.common.study import Execution
from stages.common.tables import to_arrow
from stages.common.verdicts import NOT_REPRODUCED, REPRODUCED
from stages.studies.gpfq import STUDY, checks, config

PARAMS = yaml.safe_load((REPO / "params.yaml").read_text())["gpfq"]
CLAIMS = yaml.safe_load((REPO / "claims.yaml").read_text())["gpfq"]


def parse(edit=None):
    section = copy.deepcopy(PARAMS)
    if edit:
        edit(section)
    return config.parse(Section(section, "gpfq"))


def test_default_params_declare_readers_apart_from_what_they_read():
    cfg = parse()
    names = STUDY.variant_names(cfg)
    assert set(names) == set(PARAMS["variants"]) | set(PARAMS["quantizer_variants"])
    for name in PARAMS["quantizer_variants"]:
        (read,) = STUDY.train_reads(cfg, name)
        assert read in PARAMS["variants"] and read != name
    assert all(STUDY.train_reads(cfg, name) == [] for name in PARAMS["variants"])


@pytest.mark.parametrize(
    "edit, key, allowed",
    [
        (
            lambda s: s["quantizer_variants"]["mlp_3bit"].update(alphabet=9),
            "gpfq.quantizer_variants.mlp_3bit.alphabet",
            "ternary or a number of bits",
        ),
        (
            lambda s: s["quantizer_variants"]["mlp_3bit"].update(alphabet="binary"),
            "gpfq.quantizer_variants.mlp_3bit.alphabet",
            "ternary or a number of bits",
        ),
        (
            lambda s: s["quantizer_variants"]["mlp_3bit"].update(float_variant="layer_gaussian"),
            "gpfq.quantizer_variants.mlp_3bit.float_variant",
            "one of float_mlp, float_cnn",
        ),
        (
            lambda s: s["quantizer_variants"]["mlp_3bit"].update(scales=[2, 1]),
            "gpfq.quantizer_variants.mlp_3bit.scales",
            "increasing",
        ),
        (
            lambda s: s["variants"]["float_mlp"].update(experiment="quantization"),
            "gpfq.variants.float_mlp.experiment",
            "one of float_training, single_layer",
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


def test_a_variant_name_used_twice_is_refused():
    def duplicate(section):
        section["quantizer_variants"]["float_mlp"] = dict(section["quantizer_variants"]["mlp_3bit"])

    with pytest.raises(ParamError, match="not used by another variant"):
        parse(duplicate)


# --- checks on synthetic tables ---------------------------------------------------------------------


def layer_table(gpfq_power: float, msq_power: float, seeds=3) -> pd.DataFrame:
    rows = []
    for variant, inputs in (
        ("layer_gaussian", "gaussian"),
        ("layer_clusters", "gaussian_clusters"),
    ):
        for seed in range(seeds):
            for n0 in (128, 256, 512, 1024, 2048, 4096):
                for method, power, scale in (("gpfq", gpfq_power, 1.0), ("msq", msq_power, 0.01)):
                    rows.append(
                        {
                            "variant": variant,
                            "seed": seed,
                            "step": n0,
                            "metric": f"{method}_relative_square_error",
                            "value": scale * n0**power * (1 + 0.01 * seed),
                            "model": "single_layer",
                            "inputs": inputs,
                            "method": method,
                        }
                    )
    return pd.DataFrame(rows)


def tolerance(claim: str) -> Section:
    return Section(CLAIMS[claim]["tolerance"], claim)


def test_error_decay_reproduces_on_one_over_n0_and_fails_on_flat_errors():
    decaying = checks.error_decay(layer_table(-1.0, 0.0), tolerance("G1"))
    assert decaying.verdict == REPRODUCED
    assert decaying.headline[1] == pytest.approx(-1.0)
    assert checks.error_decay(layer_table(-0.5, 0.0), tolerance("G1")).verdict == NOT_REPRODUCED


def quantized_table(
    gpfq_accuracy: float, bias_shift: float, corrected_error: float
) -> pd.DataFrame:
    rows = []
    methods = {
        "msq": 90.0,
        "gpfq": gpfq_accuracy,
        "gpfq_bias": gpfq_accuracy + bias_shift,
        "gpfq_float_last": gpfq_accuracy,
        "gpfq_bias_float_last": gpfq_accuracy + bias_shift,
        "float": 98.0,
    }
    for seed in range(3):
        for step, scale_c in enumerate((1.0, 2.0)):
            base = {
                "variant": "mlp_ternary",
                "seed": seed,
                "step": step,
                "scale_c": scale_c,
                "model": "mlp",
                "alphabet": "ternary",
            }
            for method, accuracy in methods.items():
                rows.append(
                    {
                        **base,
                        "method": method,
                        "metric": f"{method}_test_accuracy_percent",
                        "value": accuracy,
                    }
                )
            for layer in range(3):
                for method, error in (("msq", 0.5), ("gpfq", 0.1), ("gpfq_bias", corrected_error)):
                    rows.append(
                        {
                            **base,
                            "method": method,
                            "metric": f"{method}_layer{layer}_relative_error",
                            "value": error,
                        }
                    )
                rows.append(
                    {
                        **base,
                        "method": "gpfq_bias",
                        "metric": f"gpfq_bias_layer{layer}_relative_error_uncorrected",
                        "value": 0.1,
                    }
                )
    return pd.DataFrame(rows)


def test_accuracy_vs_scale_judges_the_drop_from_float():
    assert (
        checks.accuracy_vs_scale(quantized_table(97.5, 0.0, 0.09), tolerance("G2")).verdict
        == REPRODUCED
    )
    lossy = checks.accuracy_vs_scale(quantized_table(95.0, 0.0, 0.09), tolerance("G2"))
    assert lossy.verdict == NOT_REPRODUCED and lossy.headline[1] == pytest.approx(3.0)


def test_bias_correction_check_fails_when_a_corrected_error_grows_or_accuracy_drops():
    assert (
        checks.bias_and_mixed_precision(quantized_table(97.5, 0.0, 0.09), tolerance("G3")).verdict
        == REPRODUCED
    )
    assert (
        checks.bias_and_mixed_precision(quantized_table(97.5, 0.0, 0.11), tolerance("G3")).verdict
        == NOT_REPRODUCED
    )
    assert (
        checks.bias_and_mixed_precision(quantized_table(97.5, -2.0, 0.09), tolerance("G3")).verdict
        == NOT_REPRODUCED
    )


# --- a tiny train -> measure path -------------------------------------------------------------------


def tiny(section):
    section["setup"]["float_training"].update(
        seeds=2, epochs=1, mlp_hidden=[16, 8], cnn_channels=[2, 4]
    )
    section["setup"]["quantization"]["calibration_samples"] = 16
    section["setup"]["single_layer"].update(seeds=2, neurons_in=[32, 64])
    section["quantizer_variants"]["cnn_3bit"]["scales"] = [1.0]


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


def test_tiny_measurements_pass_the_table_schema(tiny_runs):
    cfg, data, runs = tiny_runs
    for name, result in runs.items():
        frame = STUDY.module("measurement").measure(cfg, name, data, result.arrays, reads={})
        frame.insert(0, "study", "gpfq")
        frame.insert(1, "variant", name)
        to_arrow(frame, STUDY.setting_columns, name)  # raises on a duplicate key or a wrong column
        assert "diverged" in set(frame["metric"])
    quantized = STUDY.module("measurement").measure(
        cfg, "cnn_3bit", data, runs["cnn_3bit"].arrays, reads={}
    )
    accuracy = quantized[quantized["metric"] == "gpfq_test_accuracy_percent"]["value"]
    assert len(accuracy) == 2 and accuracy.between(0, 100).all()
