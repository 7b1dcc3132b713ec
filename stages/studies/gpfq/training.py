"""Train one variant (all its seeds, one torch thread, float64): a float network, a single-layer
sweep over N0, or the quantization of a float variant's networks at every scale C.

The arrays each experiment returns are what measurement.py reads back.
"""

from __future__ import annotations

import numpy as np
import torch

from ...common import digits
from ...common.study import Execution, TrainResult
from . import models, network_quantization
from .config import NETWORKS, QUANTIZED_PASSES, Config, Variant
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


def train_float(config: Config, variant: Variant, data, device: str) -> TrainResult:
    """Adam on the cross-entropy from PyTorch's default init; minibatches reshuffled every epoch."""
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
    arrays = {
        "seeds": np.asarray(seeds, np.int64),
        "train_loss": np.asarray(losses),
        "test_accuracy_percent": np.asarray(accuracies),
        "diverged": ~np.isfinite(np.asarray(losses)).all(axis=1),
    }
    for index in range(len(layers)):
        arrays[f"layer{index}_weight"] = np.stack([run[index][0] for run in trained])
        arrays[f"layer{index}_bias"] = np.stack([run[index][1] for run in trained])
    batches = -(-len(train_y) // setup.batch_size)
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


def train_single_layer(config: Config, variant: Variant) -> TrainResult:
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
    config: Config, variant: Variant, data, device: str, float_run
) -> TrainResult:
    """G2/G3: every seed's float network quantized at every C of the grid by MSQ, GPFQ, and GPFQ with
    bias correction, each also with its last layer kept in float; test accuracy of each, and the
    calibration-set error of each quantized layer. Calibration images: `calibration_samples` training
    images drawn without replacement with the seed's generator."""
    model, side = config.model_of(variant), image_side(data)
    layers = architecture(config, model, side)
    test_x = network_inputs(model, data["test_inputs"], side, device)
    test_y = torch.as_tensor(data["test_labels"], device=device)
    seeds = [int(s) for s in float_run["seeds"]]
    samples = config.quantization.calibration_samples
    shape = (len(seeds), len(variant.scales))
    accuracy = np.zeros((*shape, len(NETWORKS)))
    errors = np.zeros((*shape, len(QUANTIZED_PASSES), len(layers)))
    uncorrected = np.zeros((*shape, len(layers)))
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
                name: network_quantization.quantize(
                    layers,
                    parameters,
                    calibration,
                    NETWORKS[name][0],
                    variant.bits,
                    scale_c,
                    NETWORKS[name][1],
                )
                for name in QUANTIZED_PASSES
            }
            for index, (name, (_, correct, float_last)) in enumerate(NETWORKS.items()):
                source = passes["gpfq_bias" if correct else name.removesuffix("_float_last")]
                network = (
                    network_quantization.with_float_last_layer(source, parameters)
                    if float_last
                    else source.parameters
                )
                with torch.no_grad():
                    accuracy[row, column, index] = models.accuracy_percent(
                        models.outputs(layers, network, test_x), test_y
                    )
            for index, name in enumerate(QUANTIZED_PASSES):
                errors[row, column, index] = passes[name].layer_errors
            uncorrected[row, column] = passes["gpfq_bias"].layer_errors_uncorrected
    arrays = {
        "seeds": np.asarray(seeds, np.int64),
        "scales": np.asarray(variant.scales),
        "float_test_accuracy_percent": float_run["test_accuracy_percent"],
        "test_accuracy_percent": accuracy,
        "layer_relative_error": errors,
        "bias_layer_relative_error_uncorrected": uncorrected,
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
    """The skeleton's train: the variant's experiment picks the trainer; a quantization variant
    finds its float networks in `reads`."""
    variant = config.variants[variant_name]
    if variant.experiment == "float_training":
        return train_float(config, variant, data, execution.device)
    if variant.experiment == "single_layer":
        return train_single_layer(config, variant)
    return train_quantization(config, variant, data, execution.device, reads[variant.float_variant])
