"""A variant's runs as tidy rows (seed, step, metric, value + the study's setting columns).

- float_training: `train_loss` per epoch (step = epoch), `test_accuracy_percent` and `diverged` at the
  last epoch;
- single_layer: `gpfq_relative_square_error` and `msq_relative_square_error` with step = N0;
- quantization: step = index of C in the variant's grid (column `scale_c` holds C);
  `<network>_test_accuracy_percent` for every network of training.NETWORKS and the float network,
  `<pass>_layer<ℓ>_relative_error` (calibration set, pre-activations) for every quantizing pass, and
  `gpfq_bias_layer<ℓ>_relative_error_uncorrected` (the same layer and inputs before the bias shift).
Metric names carry the method because a row's key is (variant, seed, step, metric); the `method`
column repeats it for plotting.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .config import NETWORKS, QUANTIZED_PASSES, Config

NO_SCALE = float("nan")


def data_name(config: Config) -> str:
    return "mnist" if config.data.mnist_idx_dir else "digits"


def measure_float(config: Config, name: str, runs) -> list[dict]:
    model, source = config.variants[name].model, data_name(config)
    base = {
        "model": model,
        "alphabet": "float",
        "method": "float",
        "scale_c": NO_SCALE,
        "inputs": source,
    }
    epochs = runs["train_loss"].shape[1]
    records = []
    for row, seed in enumerate(runs["seeds"]):
        records += [
            {**base, "seed": seed, "step": epoch + 1, "metric": "train_loss", "value": loss}
            for epoch, loss in enumerate(runs["train_loss"][row])
        ]
        records.append(
            {
                **base,
                "seed": seed,
                "step": epochs,
                "metric": "test_accuracy_percent",
                "value": runs["test_accuracy_percent"][row],
            }
        )
        records.append(
            {
                **base,
                "seed": seed,
                "step": epochs,
                "metric": "diverged",
                "value": float(runs["diverged"][row]),
            }
        )
    return records


def measure_single_layer(config: Config, name: str, runs) -> list[dict]:
    setup = config.single_layer
    base = {
        "model": "single_layer",
        "alphabet": f"{setup.bits}bit",
        "scale_c": setup.scale_c,
        "inputs": config.variants[name].inputs,
    }
    records = []
    for row, seed in enumerate(runs["seeds"]):
        finite = True
        for method in ("gpfq", "msq"):
            values = runs[f"{method}_relative_square_error"][row]
            finite &= bool(np.isfinite(values).all())
            records += [
                {
                    **base,
                    "method": method,
                    "seed": seed,
                    "step": n0,
                    "metric": f"{method}_relative_square_error",
                    "value": value,
                }
                for n0, value in zip(runs["neurons_in"], values, strict=True)
            ]
        records.append(
            {
                **base,
                "method": "none",
                "seed": seed,
                "step": 0,
                "metric": "diverged",
                "value": float(not finite),
            }
        )
    return records


def measure_quantization(config: Config, name: str, runs) -> list[dict]:
    variant = config.variants[name]
    base = {
        "model": config.model_of(variant),
        "alphabet": variant.alphabet,
        "inputs": data_name(config),
    }
    layers = runs["layer_relative_error"].shape[-1]
    records = []
    for row, seed in enumerate(runs["seeds"]):
        for step, scale_c in enumerate(runs["scales"]):
            here = {**base, "seed": seed, "step": step, "scale_c": scale_c}
            records.append(
                {
                    **here,
                    "method": "float",
                    "metric": "float_test_accuracy_percent",
                    "value": runs["float_test_accuracy_percent"][row],
                }
            )
            records += [
                {
                    **here,
                    "method": network,
                    "metric": f"{network}_test_accuracy_percent",
                    "value": runs["test_accuracy_percent"][row, step, index],
                }
                for index, network in enumerate(NETWORKS)
            ]
            for index, network in enumerate(QUANTIZED_PASSES):
                records += [
                    {
                        **here,
                        "method": network,
                        "metric": f"{network}_layer{layer}_relative_error",
                        "value": runs["layer_relative_error"][row, step, index, layer],
                    }
                    for layer in range(layers)
                ]
            records += [
                {
                    **here,
                    "method": "gpfq_bias",
                    "metric": f"gpfq_bias_layer{layer}_relative_error_uncorrected",
                    "value": runs["bias_layer_relative_error_uncorrected"][row, step, layer],
                }
                for layer in range(layers)
            ]
        records.append(
            {
                **base,
                "seed": seed,
                "step": 0,
                "scale_c": NO_SCALE,
                "method": "none",
                "metric": "diverged",
                "value": float(runs["float_diverged"][row]),
            }
        )
    return records


MEASURES = {
    "float_training": measure_float,
    "single_layer": measure_single_layer,
    "quantization": measure_quantization,
}


def measure(config: Config, name: str, data, runs, *, reads) -> pd.DataFrame:
    frame = pd.DataFrame(MEASURES[config.variants[name].experiment](config, name, runs))
    frame["seed"] = frame["seed"].astype(np.int64)
    frame["step"] = frame["step"].astype(np.int64)
    frame["value"] = frame["value"].astype(np.float64)
    return frame
