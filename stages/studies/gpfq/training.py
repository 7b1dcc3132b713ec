"""Train one variant (all its seeds, one torch thread, float64): a float network, a single-layer
sweep over N0, or the quantization of a float variant's networks at every scale C; the variant's
type (config.py) picks which.

The arrays each experiment returns are what measurement.py reads back.
"""

from __future__ import annotations

import numpy as np
import torch

from ...common import digits
from ...common.study import Execution, TrainResult
from . import models, network_quantization
from .config import (
    NETWORKS,
    QUANTIZED_PASSES,
    Config,
    FloatVariant,
    QuantizationVariant,
    SingleLayerVariant,
)
from .data import image_side
from .quantizer import alphabet_for, gpfq, msq, relative_error

CLASSES = 10


def architecture(config: Config, model: str, side: int) -> list[models.Layer]:
    setup = config.float_training
    if model == "mlp":
        return models.mlp((side * side, *setup.mlp_hidden, CLASSES))
    return models.cnn(side, setup.cnn_channels, CLASSES)


def network_inputs(model: str, flat: np.ndarray, side: int, device: str) -> torch.Tensor:
    inputs = torch.as_tensor(flat, dtype=torch.float64, device=device)
    return inputs.reshape(-1, 1, side, side) if model == "cnn" else inputs


def train_float(config: Config, variant: FloatVariant, data, device: str) -> TrainResult:
    """Adam on the cross-entropy from PyTorch's default init; minibatches reshuffled every epoch.
    `steps` holds the optimisation step at the end of each epoch, where its mean loss is recorded."""
    setup, side = config.float_training, image_side(data)
    layers = architecture(config, variant.model, side)
    train_x = network_inputs(variant.model, data["train_inputs"], side, device)
    train_y = torch.as_tensor(data["train_labels"], device=device)
    test_x = network_inputs(variant.model, data["test_inputs"], side, device)
    test_y = torch.as_tensor(data["test_labels"], device=device)
    seeds = config.seeds(setup.seeds)
    losses, accuracies, trained = [], [], []
    for seed in seeds:
        parameters = [
            tuple(t.to(device).requires_grad_() for t in pair)
            for pair in models.initial_parameters(layers, seed)
        ]
        optimizer = torch.optim.Adam([t for pair in parameters for t in pair], lr=setup.lr)
        order = np.random.default_rng(seed)
        epoch_losses = []
        for _ in range(setup.epochs):
            total = 0.0
            for batch in digits.epoch_batches(len(train_y), setup.batch_size, order):
                optimizer.zero_grad()
                loss = torch.nn.functional.cross_entropy(
                    models.outputs(layers, parameters, train_x[batch]), train_y[batch]
                )
                loss.backward()
                optimizer.step()
                total += float(loss.detach()) * len(batch)
            epoch_losses.append(total / len(train_y))
        with torch.no_grad():
            accuracies.append(
                models.accuracy_percent(models.outputs(layers, parameters, test_x), test_y)
            )
        losses.append(epoch_losses)
        trained.append(
            [(w.detach().cpu().numpy(), b.detach().cpu().numpy()) for w, b in parameters]
        )
    batches = -(-len(train_y) // setup.batch_size)
    arrays = {
        "seeds": np.asarray(seeds, np.int64),
        "steps": batches * np.arange(1, setup.epochs + 1, dtype=np.int64),
        "train_loss": np.asarray(losses),
        "test_accuracy_percent": np.asarray(accuracies),
        "diverged": ~np.isfinite(np.asarray(losses)).all(axis=1),
    }
    for index in range(len(layers)):
        arrays[f"layer{index}_weight"] = np.stack([run[index][0] for run in trained])
        arrays[f"layer{index}_bias"] = np.stack([run[index][1] for run in trained])
    return TrainResult(arrays, run_steps=len(seeds) * setup.epochs * batches, runs=len(seeds))


def single_layer_inputs(
    law: str, samples: int, neurons_in: int, config: Config, rng: np.random.Generator
) -> np.ndarray:
    """X (m × N0): i.i.d. N(0, 1) entries, or rows drawn around `clusters` centres z_k ~ N(0, I) as
    z_k + cluster_std·N(0, I) (a mixture of Gaussian clusters)."""
    if law == "gaussian":
        return rng.standard_normal((samples, neurons_in))
    setup = config.single_layer
    centres = rng.standard_normal((setup.clusters, neurons_in))
    return centres[
        rng.integers(setup.clusters, size=samples)
    ] + setup.cluster_std * rng.standard_normal((samples, neurons_in))


def train_single_layer(config: Config, variant: SingleLayerVariant) -> TrainResult:
    """G1: per seed and N0, W ~ U[−1, 1] (N1 × N0) quantized by GPFQ and by MSQ with the same b-bit
    alphabet at scale C; the relative square error ‖XWᵀ − XQᵀ‖²_F / ‖XWᵀ‖²_F of each (the quantity
    Zhang et al.'s bound makes decay like log(N0)/N0)."""
    setup = config.single_layer
    seeds = config.seeds(setup.seeds)
    errors = {
        "gpfq": np.zeros((len(seeds), len(setup.neurons_in))),
        "msq": np.zeros((len(seeds), len(setup.neurons_in))),
    }
    for row, seed in enumerate(seeds):
        rng = np.random.default_rng(seed)
        for column, neurons_in in enumerate(setup.neurons_in):
            inputs = torch.as_tensor(
                single_layer_inputs(variant.inputs, setup.samples, neurons_in, config, rng)
            )
            weights = torch.as_tensor(rng.uniform(-1.0, 1.0, (setup.neurons_out, neurons_in)))
            levels = alphabet_for(weights, setup.bits, setup.scale_c)
            exact = inputs @ weights.T
            errors["gpfq"][row, column] = (
                relative_error(exact, inputs @ gpfq(weights, inputs, inputs, levels).T) ** 2
            )
            errors["msq"][row, column] = relative_error(exact, inputs @ msq(weights, levels).T) ** 2
    arrays = {
        "seeds": np.asarray(seeds, np.int64),
        "neurons_in": np.asarray(setup.neurons_in, np.int64),
        "gpfq_relative_square_error": errors["gpfq"],
        "msq_relative_square_error": errors["msq"],
    }
    return TrainResult(
        arrays,
        run_steps=len(seeds) * sum(setup.neurons_in),
        runs=len(seeds) * len(setup.neurons_in),
    )


def train_quantization(
    config: Config, variant: QuantizationVariant, data, device: str, float_run
) -> TrainResult:
    """G2/G3 (Zhang, Zhou & Saab 2023, §6): every seed's float network quantized at every C of the
    grid by each pass of QUANTIZED_PASSES (MSQ, GPFQ, GPFQ with bias correction); the test accuracy
    of every network of NETWORKS (the passes, and GPFQ's with the last layer kept in float), and the
    calibration-set error of each quantized layer. Calibration images: `calibration_samples`
    training images drawn without replacement with the seed's generator."""
    model, side = config.model_of(variant), image_side(data)
    layers = architecture(config, model, side)
    test_x = network_inputs(model, data["test_inputs"], side, device)
    test_y = torch.as_tensor(data["test_labels"], device=device)
    seeds = [int(s) for s in float_run["seeds"]]
    samples = config.quantization.calibration_samples
    shape = (len(seeds), len(variant.scales))
    accuracy = np.zeros((*shape, len(NETWORKS)))
    errors = np.zeros((*shape, len(QUANTIZED_PASSES), len(layers)))
    before_bias_shift = np.zeros((*shape, len(layers)))  # GPFQ + bias correction, before the shift
    for row, seed in enumerate(seeds):
        parameters = [
            (
                torch.as_tensor(float_run[f"layer{i}_weight"][row], device=device),
                torch.as_tensor(float_run[f"layer{i}_bias"][row], device=device),
            )
            for i in range(len(layers))
        ]
        chosen = np.sort(
            np.random.default_rng(seed).choice(len(data["train_labels"]), samples, replace=False)
        )
        calibration = network_inputs(model, data["train_inputs"][chosen], side, device)
        for column, scale_c in enumerate(variant.scales):
            passes = {
                network.quantized_pass: network_quantization.quantize(
                    layers,
                    parameters,
                    calibration,
                    network.method,
                    variant.bits,
                    scale_c,
                    network.bias_correction,
                )
                for network in QUANTIZED_PASSES
            }
            for index, network in enumerate(NETWORKS):
                source = passes[network.quantized_pass]
                network_parameters = (
                    network_quantization.with_float_last_layer(source, parameters)
                    if network.float_last_layer
                    else source.parameters
                )
                with torch.no_grad():
                    accuracy[row, column, index] = models.accuracy_percent(
                        models.outputs(layers, network_parameters, test_x), test_y
                    )
            for index, network in enumerate(QUANTIZED_PASSES):
                errors[row, column, index] = passes[network.quantized_pass].layer_errors
            before_bias_shift[row, column] = passes[("gpfq", True)].layer_errors_uncorrected
    arrays = {
        "seeds": np.asarray(seeds, np.int64),
        "scales": np.asarray(variant.scales),
        # (1,): the float network's last optimisation step, where the quantized weights come from
        "float_last_step": float_run["steps"][-1:],
        "float_test_accuracy_percent": float_run["test_accuracy_percent"],
        "test_accuracy_percent": accuracy,
        "calibration_relative_error": errors,
        "calibration_relative_error_before_bias_shift": before_bias_shift,
        "float_diverged": float_run["diverged"],
    }
    weights = sum(int(np.prod(layer.weight_shape)) for layer in layers)
    return TrainResult(
        arrays,
        run_steps=len(seeds) * len(variant.scales) * len(QUANTIZED_PASSES) * weights,
        runs=len(seeds) * len(variant.scales),
    )


def train(
    config: Config, variant_name: str, data, *, probe, execution: Execution, reads
) -> TrainResult:
    """The skeleton's train: the variant's type picks the trainer; a quantization variant finds its
    float networks in `reads`."""
    variant = config.variants[variant_name]
    match variant:
        case FloatVariant():
            return train_float(config, variant, data, execution.device)
        case SingleLayerVariant():
            return train_single_layer(config, variant)
        case QuantizationVariant():
            return train_quantization(
                config, variant, data, execution.device, reads[variant.float_variant]
            )
