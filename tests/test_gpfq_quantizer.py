"""GPFQ and MSQ: known answers (one weight and one sample is rounding; weights on the alphabet are
kept; a 2 × 2 case done by hand and the bound it must meet), the vectorised form against the literal
one-neuron recursion, alphabets, bias correction, and convolutions as unfolded products."""

import numpy as np
import pytest
import torch

from stages.studies.gpfq import models, network_quantization
from stages.studies.gpfq.quantizer import (
    Alphabet,
    alphabet_for,
    bias_correction,
    gpfq,
    gpfq_from_gram,
    gpfq_one_neuron,
    msq,
    relative_error,
)


def tensor(values):
    return torch.as_tensor(np.asarray(values, dtype=np.float64))


@pytest.mark.parametrize("weight", [0.26, -0.74, 0.49, 1.3, -9.0, 0.0])
def test_one_weight_one_sample_is_rounding(weight):
    levels = Alphabet(step=0.5, largest_level=2)  # {−1, −0.5, 0, 0.5, 1}
    x = tensor([[1.7]])
    quantized = gpfq(tensor([[weight]]), x, x, levels)
    assert float(quantized) == float(levels.nearest(tensor(weight)))
    assert float(quantized) == float(np.clip(np.round(weight / 0.5), -2, 2) * 0.5)


def test_weights_on_the_alphabet_are_kept():
    levels = Alphabet(step=0.25, largest_level=4)
    rng = np.random.default_rng(0)
    weights = tensor(rng.integers(-4, 5, size=(6, 40)) * 0.25)
    inputs = tensor(rng.standard_normal((10, 40)))
    assert torch.equal(gpfq(weights, inputs, inputs, levels), weights)


def test_two_by_two_case_by_hand_and_its_bound():
    """X rows (1, 1), (0, 1): columns X_1 = (1, 0), X_2 = (1, 1); w = (0.6, 0.6); levels {−1, 0, 1}.
    t = 1: q = Q(0.6) = 1, u = (−0.4, 0). t = 2: <X_2, u + 0.6 X_2>/2 = 0.4 -> q = 0, u = (0.2, 0.6).
    So ‖Xw − Xq‖² = 0.4 (MSQ: q = (1, 1), 0.8), within the bound Σ_t (δ/2)² ‖X_t‖² = 0.75."""
    levels = Alphabet(step=1.0, largest_level=1)
    inputs, weights = tensor([[1.0, 1.0], [0.0, 1.0]]), tensor([[0.6, 0.6]])
    quantized = gpfq(weights, inputs, inputs, levels)
    assert quantized.tolist() == [[1.0, 0.0]]
    assert msq(weights, levels).tolist() == [[1.0, 1.0]]
    residual = inputs @ weights.T - inputs @ quantized.T
    assert float((residual**2).sum()) == pytest.approx(0.4)
    assert float((residual**2).sum()) <= (levels.step / 2) ** 2 * float((inputs**2).sum())
    assert relative_error(inputs @ weights.T, inputs @ quantized.T) == pytest.approx(
        np.sqrt(0.4 / 1.8)
    )


def test_vectorised_gpfq_equals_the_one_neuron_recursion_with_different_inputs():
    rng = np.random.default_rng(1)
    weights = tensor(rng.uniform(-1, 1, (5, 30)))
    analog = tensor(rng.standard_normal((12, 30)))
    seen = analog + 0.1 * tensor(rng.standard_normal((12, 30)))
    seen[:, 3] = 0.0  # a dead input: q = 0 there
    levels = alphabet_for(weights, 3, 1.0)
    together = gpfq(weights, analog, seen, levels)
    for neuron in range(5):
        torch.testing.assert_close(
            together[neuron], gpfq_one_neuron(weights[neuron], analog, seen, levels)
        )
    assert torch.all(together[:, 3] == 0.0)


def test_gpfq_beats_msq_on_an_overparametrised_layer():
    rng = np.random.default_rng(2)
    weights, inputs = tensor(rng.uniform(-1, 1, (4, 512))), tensor(rng.standard_normal((16, 512)))
    levels = alphabet_for(weights, 2, 1.0)
    exact = inputs @ weights.T
    assert relative_error(
        exact, inputs @ gpfq(weights, inputs, inputs, levels).T
    ) < 0.3 * relative_error(exact, inputs @ msq(weights, levels).T)


def test_alphabets_follow_the_public_code():
    weights = tensor([[0.5, -2.0, 1.0], [0.25, 0.1, -1.0]])
    bits3 = alphabet_for(weights, 3, 2.0)
    assert bits3.levels == 9 and bits3.largest_level == 4
    assert bits3.step == pytest.approx(
        2.0 * (2.0 + 1.0) / 2 / 4
    )  # C · mean of row max|w| / 2^(b−1)
    ternary = alphabet_for(weights, None, 3.0)
    assert ternary.levels == 3 and ternary.step == pytest.approx(
        3.0 * float(weights.abs().median())
    )
    assert alphabet_for(weights, 1, 1.0).levels == 3
    assert torch.equal(Alphabet(0.0, 1).nearest(weights), torch.zeros_like(weights))


def test_bias_correction_never_increases_the_error():
    rng = np.random.default_rng(3)
    exact = tensor(rng.standard_normal((50, 7)))
    approximate = exact + tensor(rng.standard_normal((50, 7))) + 0.3
    corrected = approximate + bias_correction(exact, approximate)
    assert relative_error(exact, corrected) <= relative_error(exact, approximate)
    torch.testing.assert_close((exact - corrected).mean(dim=0), torch.zeros(7, dtype=torch.float64))


def test_a_convolution_equals_its_unfolded_product():
    rng = np.random.default_rng(4)
    layer = models.Layer("conv", 3, 5, pool=True)
    weight, bias = tensor(rng.standard_normal((5, 3, 3, 3))), tensor(rng.standard_normal(5))
    images = tensor(rng.standard_normal((4, 3, 6, 6)))
    rows = models.rows(layer, images)
    assert rows.shape == (4 * 36, 27)
    unfolded = models.pre_activation_from_rows(layer, models.matrix(weight), bias, rows, examples=4)
    torch.testing.assert_close(unfolded, models.pre_activation(layer, weight, bias, images))


@pytest.mark.parametrize("inputs, samples", [(30, 12), (150, 400)])  # N0 > m and N0 < m
def test_gpfq_from_gram_equals_the_residual_recursion(inputs, samples):
    """The same recursion through X̃ᵀX and X̃ᵀX̃, over several blocks of columns and a dead input."""
    rng = np.random.default_rng(6)
    weights = tensor(rng.uniform(-1, 1, (7, inputs)))
    analog = tensor(rng.standard_normal((samples, inputs)))
    seen = analog + 0.1 * tensor(rng.standard_normal((samples, inputs)))
    seen[:, 70 % inputs] = 0.0
    for bits in (None, 2, 4):
        levels = alphabet_for(weights, bits, 1.5)
        expected = gpfq(weights, analog, seen, levels)
        found = gpfq_from_gram(weights, seen.T @ analog, seen.T @ seen, levels)
        assert torch.equal(found, expected), bits


def test_network_quantization_feeds_each_layer_the_quantized_inputs():
    layers = models.cnn(8, (2, 3), 10)
    parameters = models.initial_parameters(layers, seed=0)
    images = tensor(np.random.default_rng(5).uniform(0, 1, (6, 1, 8, 8)))
    calibration = network_quantization.calibrate(layers, parameters, images)
    quantized = network_quantization.quantize(layers, parameters, calibration, "gpfq", 3, 1.0)
    # the first layer sees X̃ = X: GPFQ from the Gram matrix of its unfolded patches
    rows = models.rows(layers[0], images)
    first = gpfq(
        models.matrix(parameters[0][0]),
        rows,
        rows,
        alphabet_for(models.matrix(parameters[0][0]), 3, 1.0),
    )
    torch.testing.assert_close(models.matrix(quantized.parameters[0][0]), first)
    # the second layer's X̃ is the quantized first layer's output
    seen = models.post_operations(
        layers[0], models.pre_activation(layers[0], *quantized.parameters[0], images)
    )
    analog = calibration.inputs[1]
    weights = models.matrix(parameters[1][0])
    second = gpfq(
        weights,
        models.rows(layers[1], analog),
        models.rows(layers[1], seen),
        alphabet_for(weights, 3, 1.0),
    )
    torch.testing.assert_close(models.matrix(quantized.parameters[1][0]), second)
    for (weight, _), (q, _) in zip(parameters, quantized.parameters, strict=True):
        assert q.shape == weight.shape and len(torch.unique(q)) <= 9
    msq_network = network_quantization.quantize(layers, parameters, calibration, "msq", 3, 1.0)
    assert all(e > 0 for e in msq_network.layer_errors)


def test_the_float_last_layer_recipe_centres_the_last_layers_error():
    """The code's recipe: the float last layer W with b + mean((X − X̃)Wᵀ): on the calibration rows
    the last layer's mean output then equals the float network's."""
    layers = models.mlp((5, 6, 3))
    parameters = models.initial_parameters(layers, seed=1)
    inputs = tensor(np.random.default_rng(7).standard_normal((40, 5)))
    calibration = network_quantization.calibrate(layers, parameters, inputs)
    quantized = network_quantization.quantize(layers, parameters, calibration, "gpfq", 1, 1.0)
    plain = network_quantization.with_float_last_layer(quantized, parameters, calibration, False)
    recipe = network_quantization.with_float_last_layer(quantized, parameters, calibration, True)
    assert plain[-1][0] is parameters[-1][0] and plain[-1][1] is parameters[-1][1]
    assert recipe[0] is quantized.parameters[0] and recipe[-1][0] is parameters[-1][0]
    seen = models.post_operations(layers[0], models.pre_activation(layers[0], *recipe[0], inputs))
    outputs = models.pre_activation(layers[1], *recipe[1], seen)
    torch.testing.assert_close(outputs.mean(dim=0), calibration.pre_activations[-1].mean(dim=0))
