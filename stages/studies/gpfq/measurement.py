"""A variant's runs as tidy rows (seed, step, metric, value and the setting columns of
config.SETTING_COLUMNS; a setting that does not apply to a row is null).

`step` is the optimisation step the measured parameters come from; metric names carry no setting.
- float_training (method "float"): `train_loss`, the epoch's mean minibatch cross-entropy, at the
  step that ends each epoch; `test_accuracy_percent` and `diverged` at the last step;
- single_layer (step 0: nothing is trained): `relative_square_error` ‖XWᵀ − XQᵀ‖²_F / ‖XWᵀ‖²_F per
  method (gpfq, msq) and `neurons_in` (N0); `diverged` per seed;
- quantization (every row at the float network's last training step): `test_accuracy_percent` of the
  float network (method "float") and of every network of config.NETWORKS (method, bias_correction,
  float_last_layer) per `scale_c`; `calibration_relative_error` ‖XWᵀ + b − (X̃Qᵀ + b̃)‖_F / ‖XWᵀ + b‖_F
  per `layer` of every pass of config.QUANTIZED_PASSES; in the bias-corrected GPFQ network,
  `calibration_relative_error_before_bias_shift`, the same layer on the same inputs with the float
  bias b in place of b̃ (G3: the shift never raises it); and the float network's `diverged`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ...common.tables import TidyRows
from .config import (
    NETWORKS,
    QUANTIZED_PASSES,
    SETTING_COLUMNS,
    Config,
    FloatVariant,
    QuantizationVariant,
    SingleLayerVariant,
)


def data_name(config: Config) -> str:
    return "mnist" if config.data.mnist_idx_dir else "digits"


def tidy_rows(**settings) -> TidyRows:
    """Rows with `settings` fixed for the variant and every other setting null unless a row gives it."""
    return TidyRows(SETTING_COLUMNS, **(dict.fromkeys(SETTING_COLUMNS) | settings))


def measure_float(config: Config, variant: FloatVariant, runs) -> TidyRows:
    rows = tidy_rows(model=variant.model, inputs=data_name(config), method="float")
    last_step = runs["steps"][-1]
    for row, seed in enumerate(runs["seeds"]):
        rows.add_series(seed, runs["steps"], "train_loss", runs["train_loss"][row])
        rows.add(seed, last_step, "test_accuracy_percent", runs["test_accuracy_percent"][row])
        rows.add(seed, last_step, "diverged", float(runs["diverged"][row]))
    return rows


def measure_single_layer(config: Config, variant: SingleLayerVariant, runs) -> TidyRows:
    setup = config.single_layer
    rows = tidy_rows(
        model="single_layer",
        inputs=variant.inputs,
        alphabet=f"{setup.bits}bit",
        scale_c=setup.scale_c,
    )
    for row, seed in enumerate(runs["seeds"]):
        finite = True
        for method in ("gpfq", "msq"):
            values = runs[f"{method}_relative_square_error"][row]
            finite &= bool(np.isfinite(values).all())
            for neurons_in, value in zip(runs["neurons_in"], values, strict=True):
                rows.add(
                    seed, 0, "relative_square_error", value, method=method, neurons_in=neurons_in
                )
        rows.add(seed, 0, "diverged", float(not finite))
    return rows


def measure_quantization(config: Config, variant: QuantizationVariant, runs) -> TidyRows:
    rows = tidy_rows(model=config.model_of(variant), inputs=data_name(config))
    (step,) = runs["float_last_step"]
    layers = runs["calibration_relative_error"].shape[-1]
    for row, seed in enumerate(runs["seeds"]):
        rows.add(
            seed,
            step,
            "test_accuracy_percent",
            runs["float_test_accuracy_percent"][row],
            method="float",
        )
        rows.add(seed, step, "diverged", float(runs["float_diverged"][row]), method="float")
        for column, scale_c in enumerate(runs["scales"]):
            quantized = {"alphabet": variant.alphabet, "scale_c": scale_c}
            for index, network in enumerate(NETWORKS):
                rows.add(
                    seed,
                    step,
                    "test_accuracy_percent",
                    runs["test_accuracy_percent"][row, column, index],
                    method=network.method,
                    bias_correction=int(network.bias_correction),
                    float_last_layer=int(network.float_last_layer),
                    **quantized,
                )
            for index, network in enumerate(QUANTIZED_PASSES):
                for layer in range(layers):
                    rows.add(
                        seed,
                        step,
                        "calibration_relative_error",
                        runs["calibration_relative_error"][row, column, index, layer],
                        method=network.method,
                        bias_correction=int(network.bias_correction),
                        float_last_layer=0,
                        layer=layer,
                        **quantized,
                    )
            for layer in range(layers):
                rows.add(
                    seed,
                    step,
                    "calibration_relative_error_before_bias_shift",
                    runs["calibration_relative_error_before_bias_shift"][row, column, layer],
                    method="gpfq",
                    bias_correction=1,
                    float_last_layer=0,
                    layer=layer,
                    **quantized,
                )
    return rows


def measure(config: Config, name: str, data, runs, *, reads) -> pd.DataFrame:
    """The skeleton's measure: the variant's type picks the measurement."""
    variant = config.variants[name]
    match variant:
        case FloatVariant():
            rows = measure_float(config, variant, runs)
        case SingleLayerVariant():
            rows = measure_single_layer(config, variant, runs)
        case QuantizationVariant():
            rows = measure_quantization(config, variant, runs)
    return rows.frame()
