"""Train one variant (all its seeds, one torch thread): a float network, a single-layer sweep over N0,
or the quantization of a float variant's networks at every scale C of each alphabet's grid; the
variant's type (config.py) picks which.

The networks are float32, as the papers' (PyTorch's and Keras's default); the quantizer's arithmetic
(calibration activations, Gram matrices, GPFQ, layer errors) and G1's layer are float64. The arrays
each experiment returns are what measurement.py reads back.
"""

from __future__ import annotations

import numpy as np
import torch

from ...common import digits
from ...common.study import Execution, TrainResult
from . import models, network_quantization
from .config import (
    METHODS,
    NETWORKS,
    Config,
    FloatVariant,
    QuantizationVariant,
    SingleLayerVariant,
    bits_of,
)
from .data import image_side
from .quantizer import alphabet_for, gpfq, msq, relative_error

CLASSES = 10
NETWORK_DTYPE = torch.float32
EVALUATION_CHUNK = 1000  # images per forward pass when measuring an accuracy


def architecture(config: Config, model: str, side: int) -> list[models.Layer]:
    setup = config.float_training
    if model == "mlp":
        return models.mlp((side * side, *setup.mlp_hidden, CLASSES))
    return models.cnn(side, setup.cnn_channels, CLASSES)


def network_inputs(model: str, flat: np.ndarray, side: int, device: str, dtype) -> torch.Tensor:
    inputs = torch.as_tensor(flat, device=device).to(dtype)
    return inputs.reshape(-1, 1, side, side) if model == "cnn" else inputs


def accuracies_percent(
    layers, shared, last_layers, inputs: torch.Tensor, labels: torch.Tensor
) -> list[float]:
    """Test or validation accuracies (%) of networks that share every layer but the last (`shared`:
    their parameters; `last_layers`: one (W, b) each), in float32, EVALUATION_CHUNK images at a
    time: the shared layers run once."""
    shared, last_layers = (
        [(w.to(NETWORK_DTYPE), b.to(NETWORK_DTYPE)) for w, b in pairs]
        for pairs in (shared, last_layers)
    )
    correct = np.zeros(len(last_layers), np.int64)
    with torch.no_grad():
        for start in range(0, len(labels), EVALUATION_CHUNK):
            features = models.outputs(layers[:-1], shared, inputs[start : start + EVALUATION_CHUNK])
            for index, (weight, bias) in enumerate(last_layers):
                logits = models.pre_activation(layers[-1], weight, bias, features)
                correct[index] += int(
                    (logits.argmax(dim=1) == labels[start : start + EVALUATION_CHUNK]).sum()
                )
    return [100.0 * c / len(labels) for c in correct]


def accuracy_percent(layers, parameters, inputs: torch.Tensor, labels: torch.Tensor) -> float:
    """Test or validation accuracy (%) of one network."""
    return accuracies_percent(layers, parameters[:-1], parameters[-1:], inputs, labels)[0]


def train_float(config: Config, variant: FloatVariant, data, device: str) -> TrainResult:
    """Adam on the cross-entropy from PyTorch's default init; minibatches reshuffled every epoch.
    `steps` holds the optimisation step at the end of each epoch, where its mean loss is recorded."""
    setup, side = config.float_training, image_side(data)
    layers = architecture(config, variant.model, side)
    train_x = network_inputs(variant.model, data["train_inputs"], side, device, NETWORK_DTYPE)
    train_y = torch.as_tensor(data["train_labels"], device=device)
    test_x = network_inputs(variant.model, data["test_inputs"], side, device, NETWORK_DTYPE)
    test_y = torch.as_tensor(data["test_labels"], device=device)
    seeds = config.seeds(setup.seeds)
    losses, accuracies, trained = [], [], []
    for seed in seeds:
        parameters = [
            tuple(t.to(device, NETWORK_DTYPE).requires_grad_() for t in pair)
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
        accuracies.append(accuracy_percent(layers, parameters, test_x, test_y))
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
    """G2a, G2b, G3 (Zhang, Zhou & Saab 2023, §6; Lybrand & Saab 2021, §6): every seed's float
    network quantized by GPFQ and MSQ at every C of each alphabet's grid. Per method and alphabet,
    C is the grid point with the best validation accuracy (the first of equals: the smallest C);
    there the test accuracy of each network of NETWORKS is measured (MSQ at its own C, the GPFQ
    networks at GPFQ's), and also of MSQ and GPFQ at the grid's largest C (where MSQ collapses).
    Calibration: `calibration_samples` training images drawn without replacement with the seed's
    generator. A diverged float network gives NaN everywhere for its seed."""
    model, side = config.model_of(variant), image_side(data)
    layers = architecture(config, model, side)
    evaluation = {
        split: (
            network_inputs(model, data[f"{split}_inputs"], side, device, NETWORK_DTYPE),
            torch.as_tensor(data[f"{split}_labels"], device=device),
        )
        for split in ("validation", "test")
    }
    seeds = [int(s) for s in float_run["seeds"]]
    samples = config.quantization.calibration_samples
    arrays = {
        "seeds": np.asarray(seeds, np.int64),
        # (1,): the float network's last optimisation step, where the quantized weights come from
        "float_last_step": float_run["steps"][-1:],
        "float_test_accuracy_percent": float_run["test_accuracy_percent"],
        "float_diverged": float_run["diverged"],
    }
    for alphabet, grid in variant.alphabets.items():
        shape = (len(seeds), len(grid), len(METHODS))
        arrays[f"{alphabet}_validation_accuracy_percent"] = np.full(shape, np.nan)
        arrays[f"{alphabet}_calibration_relative_error"] = np.full((*shape, len(layers)), np.nan)
        arrays[f"{alphabet}_chosen_scale_index"] = np.zeros((len(seeds), len(METHODS)), np.int64)
        arrays[f"{alphabet}_test_accuracy_percent_chosen"] = np.full(
            (len(seeds), len(NETWORKS)), np.nan
        )
        arrays[f"{alphabet}_test_accuracy_percent_largest"] = np.full(
            (len(seeds), len(METHODS)), np.nan
        )
    for row, seed in enumerate(seeds):
        if float_run["diverged"][row]:
            continue
        parameters = [
            tuple(
                torch.as_tensor(float_run[f"layer{i}_{part}"][row], device=device).double()
                for part in ("weight", "bias")
            )
            for i in range(len(layers))
        ]
        chosen = np.sort(
            np.random.default_rng(seed).choice(len(data["train_labels"]), samples, replace=False)
        )
        images = network_inputs(model, data["train_inputs"][chosen], side, device, torch.float64)
        calibration = network_quantization.calibrate(layers, parameters, images)
        for alphabet, grid in variant.alphabets.items():
            networks = quantize_grid(
                layers, parameters, calibration, alphabet, grid, evaluation, arrays, row
            )
            test_networks(
                layers, parameters, calibration, networks, evaluation, arrays, row, alphabet
            )
    runs = len(seeds) * sum(len(grid) for grid in variant.alphabets.values())
    weights = sum(int(np.prod(layer.weight_shape)) for layer in layers)
    return TrainResult(arrays, run_steps=runs * len(METHODS) * weights, runs=runs)


def quantize_grid(layers, parameters, calibration, alphabet, grid, evaluation, arrays, row):
    """Both methods at every C of the grid: validation accuracies and layer errors into `arrays`;
    returns the quantized networks, method -> one per C."""
    networks = {method: [] for method in METHODS}
    for column, scale_c in enumerate(grid):
        for index, method in enumerate(METHODS):
            network = network_quantization.quantize(
                layers, parameters, calibration, method, bits_of(alphabet), scale_c
            )
            networks[method].append(network)
            arrays[f"{alphabet}_validation_accuracy_percent"][row, column, index] = (
                accuracy_percent(layers, network.parameters, *evaluation["validation"])
            )
            arrays[f"{alphabet}_calibration_relative_error"][row, column, index] = (
                network.layer_errors
            )
    return networks


def test_networks(layers, parameters, calibration, networks, evaluation, arrays, row, alphabet):
    """Each network of NETWORKS at its method's best validation C, and both methods at the largest
    C, on the test images."""
    validation = arrays[f"{alphabet}_validation_accuracy_percent"][row]
    for index, method in enumerate(METHODS):
        arrays[f"{alphabet}_chosen_scale_index"][row, index] = int(np.argmax(validation[:, index]))
        arrays[f"{alphabet}_test_accuracy_percent_largest"][row, index] = accuracy_percent(
            layers, networks[method][-1].parameters, *evaluation["test"]
        )
    results = arrays[f"{alphabet}_test_accuracy_percent_chosen"][row]
    for method in METHODS:  # the networks of one method share its quantized layers but the last
        column = arrays[f"{alphabet}_chosen_scale_index"][row, METHODS.index(method)]
        quantized = networks[method][column]
        indices = [i for i, network in enumerate(NETWORKS) if network.method == method]
        last_layers = [
            network_quantization.with_float_last_layer(
                quantized, parameters, calibration, NETWORKS[i].bias_correction
            )[-1]
            if NETWORKS[i].float_last_layer
            else quantized.parameters[-1]
            for i in indices
        ]
        results[indices] = accuracies_percent(
            layers, quantized.parameters[:-1], last_layers, *evaluation["test"]
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
