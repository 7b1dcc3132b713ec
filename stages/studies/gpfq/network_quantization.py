"""Quantizing a whole network layer by layer (Zhang, Zhou & Saab 2023, §2 and Algorithm 1).

Layer ℓ is quantized from two inputs on the same calibration images: X, what the float network feeds
it, and X̃, what the network quantized so far feeds it (X̃ = X for the first layer), so every layer
corrects what the layers before it got wrong. GPFQ reads them through the Gram matrices X̃ᵀX and
X̃ᵀX̃ of the layer's rows (quantizer.gpfq_from_gram; a convolution's rows are its unfolded patches,
summed over chunks of images). Errors are relative Frobenius errors of the layer's pre-activations
on the calibration set, ‖XWᵀ + b − (X̃Qᵀ + b)‖_F / ‖XWᵀ + b‖_F. All of it runs in float64.

Mixed precision as the public code (adhoc_quantization_scripts/correct_bias_last_layer.py): every
layer quantized but the last, which gets back its float weights W; with bias correction, its bias
becomes b + mean over calibration rows of (X − X̃)Wᵀ (StepAlgorithm.bias_correction with Q = W).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from . import models
from .quantizer import alphabet_for, bias_correction, gpfq_from_gram, msq, relative_error

GRAM_CHUNK = 256  # images whose unfolded patches are summed into a Gram matrix at once


@dataclass(frozen=True)
class Calibration:
    """The float network on the calibration images: every layer's input X, its pre-activations
    XWᵀ + b, and the first layer's Gram matrix XᵀX (the same for every method and C, so computed
    once per seed)."""

    inputs: list[torch.Tensor]
    pre_activations: list[torch.Tensor]
    first_gram: torch.Tensor


@dataclass(frozen=True)
class QuantizedNetwork:
    parameters: list[tuple[torch.Tensor, torch.Tensor]]
    layer_errors: list[float]
    last_input_mean: torch.Tensor  # the mean over calibration rows of X̃ of the last (linear) layer


def grams(layer: models.Layer, analog: torch.Tensor, seen: torch.Tensor):
    """(X̃ᵀX, X̃ᵀX̃) over the layer's rows, summed over chunks of images."""
    cross = gram = 0.0
    for start in range(0, len(analog), GRAM_CHUNK):
        rows = models.rows(layer, analog[start : start + GRAM_CHUNK])
        seen_rows = models.rows(layer, seen[start : start + GRAM_CHUNK])
        cross = cross + seen_rows.T @ rows
        gram = gram + seen_rows.T @ seen_rows
    return cross, gram


def calibrate(layers: list[models.Layer], parameters, images: torch.Tensor) -> Calibration:
    """Every layer's input in the float network (parameters and images in float64)."""
    inputs, pre_activations = [images], []
    for layer, (weight, bias) in zip(layers, parameters, strict=True):
        pre_activations.append(models.pre_activation(layer, weight, bias, inputs[-1]))
        inputs.append(models.post_operations(layer, pre_activations[-1]))
    _, first_gram = grams(layers[0], images, images)
    return Calibration(inputs[:-1], pre_activations, first_gram)


def quantize(
    layers: list[models.Layer],
    parameters,
    calibration: Calibration,
    method: str,
    bits: int | None,
    scale_c: float,
) -> QuantizedNetwork:
    """`method` is "gpfq" or "msq" (MSQ ignores X̃, but its errors are measured on its own inputs)."""
    seen = calibration.inputs[0]
    quantized_parameters, errors = [], []
    for index, (layer, (weight, bias)) in enumerate(zip(layers, parameters, strict=True)):
        analog = calibration.inputs[index]
        weights = models.matrix(weight)
        levels = alphabet_for(weights, bits, scale_c)
        if method == "gpfq":
            cross, gram = (
                (calibration.first_gram,) * 2 if index == 0 else grams(layer, analog, seen)
            )
            matrix = gpfq_from_gram(weights, cross, gram, levels)
        else:
            matrix = msq(weights, levels)
        quantized = matrix.reshape(weight.shape)
        approximate = models.pre_activation(layer, quantized, bias, seen)
        errors.append(relative_error(calibration.pre_activations[index], approximate))
        quantized_parameters.append((quantized, bias))
        if index == len(layers) - 1:
            last_input_mean = seen.mean(dim=0)
        seen = models.post_operations(layer, approximate)
    return QuantizedNetwork(quantized_parameters, errors, last_input_mean)


def with_float_last_layer(
    quantized: QuantizedNetwork, parameters, calibration: Calibration, correct_bias: bool
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """The quantized network with the float last layer W (linear), its bias corrected or not."""
    weight, bias = parameters[-1]
    if correct_bias:
        # the mean over rows of (X − X̃)Wᵀ, from the rows' means (the product is linear)
        analog_mean = calibration.inputs[-1].mean(dim=0, keepdim=True)
        seen_mean = quantized.last_input_mean[None]
        bias = bias + bias_correction(analog_mean @ weight.T, seen_mean @ weight.T)
    return quantized.parameters[:-1] + [(weight, bias)]
