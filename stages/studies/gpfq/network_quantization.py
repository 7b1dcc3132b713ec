"""Quantizing a whole network layer by layer (Zhang, Zhou & Saab 2023, §2 and Algorithm 1).

Layer ℓ is quantized from two inputs on the same calibration images: X, what the float network feeds
it, and X̃, what the network quantized so far feeds it (X̃ = X for the first layer), so every layer
corrects what the layers before it got wrong. Errors are relative Frobenius errors of the layer's
pre-activations (bias included) on the calibration set, ‖XWᵀ + b − (X̃Qᵀ + b̃)‖_F / ‖XWᵀ + b‖_F.
With bias correction b̃ = b + mean over rows of (XWᵀ − X̃Qᵀ), else b̃ = b.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from . import models
from .quantizer import alphabet_for, bias_correction, gpfq, msq, relative_error


@dataclass
class QuantizedNetwork:
    parameters: list[tuple[torch.Tensor, torch.Tensor]]
    layer_errors: list[float]  # with the bias actually used (corrected when asked)
    layer_errors_uncorrected: list[float]  # the same layer and inputs with the float bias


def quantize(
    layers: list[models.Layer],
    parameters,
    calibration: torch.Tensor,
    method: str,
    bits: int | None,
    scale_c: float,
    correct_bias: bool,
) -> QuantizedNetwork:
    """`method` is "gpfq" or "msq" (MSQ ignores X̃ but its errors are measured on its own inputs)."""
    analog = seen = calibration
    examples = calibration.shape[0]
    result = QuantizedNetwork([], [], [])
    for layer, (weight, bias) in zip(layers, parameters, strict=True):
        analog_rows, seen_rows = models.rows(layer, analog), models.rows(layer, seen)
        weights = models.matrix(weight)
        levels = alphabet_for(weights, bits, scale_c)
        quantized = (
            gpfq(weights, analog_rows, seen_rows, levels)
            if method == "gpfq"
            else msq(weights, levels)
        )
        exact = analog_rows @ weights.T + bias
        approximate = seen_rows @ quantized.T + bias
        shift = bias_correction(exact, approximate) if correct_bias else torch.zeros_like(bias)
        result.layer_errors_uncorrected.append(relative_error(exact, approximate))
        result.layer_errors.append(relative_error(exact, approximate + shift))
        result.parameters.append((quantized.reshape(weight.shape), bias + shift))
        analog = models.post_operations(
            layer, models.pre_activation_from_rows(layer, weights, bias, analog_rows, examples)
        )
        seen = models.post_operations(
            layer,
            models.pre_activation_from_rows(layer, quantized, bias + shift, seen_rows, examples),
        )
    return result


def with_float_last_layer(
    quantized: QuantizedNetwork, parameters
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Mixed precision as the public code: every layer quantized but the last, which keeps its float
    weights and bias (its earlier layers are unchanged, so no second pass is needed)."""
    return quantized.parameters[:-1] + [parameters[-1]]
