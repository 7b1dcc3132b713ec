"""A variant's runs as tidy rows (seed, step, metric, value and the setting columns of
config.SETTING_COLUMNS; a setting that does not apply to a row is null).

`step` is the optimisation step the measured parameters come from; metric names carry no setting.
- float_training (method "float"): `train_loss`, the epoch's mean minibatch cross-entropy, at the
  step that ends each epoch; `test_accuracy_percent` and `diverged` at the last step;
- single_layer (step 0: nothing is trained): `relative_square_error` ‖XWᵀ − XQᵀ‖²_F / ‖XWᵀ‖²_F per
  method (gpfq, msq) and `neurons_in` (N0); `diverged` per seed;
- quantization (every row at the float network's last training step): the float network's
  `test_accuracy_percent` (method "float") and `diverged`; per alphabet, method (msq, gpfq) and C of
  the grid, `validation_accuracy_percent` and each layer's `calibration_relative_error`
  ‖XWᵀ + b − (X̃Qᵀ + b)‖_F / ‖XWᵀ + b‖_F; `test_accuracy_percent` of every network of
  config.NETWORKS at its method's C chosen on validation (scale_c_choice "validation", scale_c that
  C), and of MSQ and GPFQ at the grid's largest C (scale_c_choice "largest").
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ...common.tables import TidyRows
from .config import (
    METHODS,
    NETWORKS,
    SETTING_COLUMNS,
    Config,
    FloatVariant,
    QuantizationVariant,
    SingleLayerVariant,
)


def data_name(config: Config) -> str:
    return config.data.images


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
    for row, seed in enumerate(runs["seeds"]):
        rows.add(
            seed,
            step,
            "test_accuracy_percent",
            runs["float_test_accuracy_percent"][row],
            method="float",
        )
        rows.add(seed, step, "diverged", float(runs["float_diverged"][row]), method="float")
        for alphabet, grid in variant.alphabets.items():
            grid_rows(rows, runs, seed, row, step, alphabet, grid)
            chosen = runs[f"{alphabet}_chosen_scale_index"][row]
            for index, network in enumerate(NETWORKS):
                rows.add(
                    seed,
                    step,
                    "test_accuracy_percent",
                    runs[f"{alphabet}_test_accuracy_percent_chosen"][row, index],
                    method=network.method,
                    float_last_layer=network.float_last_layer,
                    bias_correction=network.bias_correction,
                    alphabet=alphabet,
                    scale_c=grid[chosen[METHODS.index(network.method)]],
                    scale_c_choice="validation",
                )
            for index, method in enumerate(METHODS):
                rows.add(
                    seed,
                    step,
                    "test_accuracy_percent",
                    runs[f"{alphabet}_test_accuracy_percent_largest"][row, index],
                    method=method,
                    float_last_layer=False,
                    bias_correction=False,
                    alphabet=alphabet,
                    scale_c=grid[-1],
                    scale_c_choice="largest",
                )
    return rows


def grid_rows(rows: TidyRows, runs, seed, row, step, alphabet: str, grid) -> None:
    """Validation accuracies and layer errors of both methods at every C of one alphabet's grid."""
    errors = runs[f"{alphabet}_calibration_relative_error"][row]
    for column, scale_c in enumerate(grid):
        for index, method in enumerate(METHODS):
            network = {"method": method, "alphabet": alphabet, "scale_c": scale_c}
            rows.add(
                seed,
                step,
                "validation_accuracy_percent",
                runs[f"{alphabet}_validation_accuracy_percent"][row, column, index],
                float_last_layer=False,
                bias_correction=False,
                **network,
            )
            for layer, error in enumerate(errors[column, index]):
                rows.add(seed, step, "calibration_relative_error", error, layer=layer, **network)


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
