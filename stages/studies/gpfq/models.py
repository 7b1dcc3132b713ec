"""The float networks to quantize, as plain lists of layers (weights held outside any nn.Module).

A layer is linear or a 3×3 convolution (stride 1, padding 1), followed by its own post-operations:
ReLU, 2×2 max-pooling, flattening. GPFQ sees every layer as a matrix product: a linear layer's rows
are its input vectors; a convolution's rows are its input's unfolded 3×3 patches (one row per
example and output position, as the paper quantizes convolutions), and its weight a (C_out, C_in·9)
matrix. `outputs` runs convolutions with conv2d; the tests check that it equals the unfolded product.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

import torch
import torch.nn.functional as F

KERNEL = 3  # convolutions are 3×3, stride 1, padding 1: the spatial size is kept, pooling halves it


@dataclass(frozen=True)
class Layer:
    kind: str  # "linear" or "conv"
    inputs: int  # features (linear) or channels (conv)
    outputs: int
    relu: bool = True
    pool: bool = False
    flatten: bool = False

    @property
    def weight_shape(self) -> tuple[int, ...]:
        if self.kind == "conv":
            return (self.outputs, self.inputs, KERNEL, KERNEL)
        return (self.outputs, self.inputs)


def mlp(widths: tuple[int, ...]) -> list[Layer]:
    """Fully connected ReLU network widths[0]-…-widths[-1]; no ReLU after the last layer."""
    pairs = list(pairwise(widths))
    return [Layer("linear", a, b, relu=i < len(pairs) - 1) for i, (a, b) in enumerate(pairs)]


def cnn(image_side: int, channels: tuple[int, ...], classes: int) -> list[Layer]:
    """conv-ReLU-pool blocks over 1-channel images, then a linear classifier on the flattened map."""
    layers, previous, side = [], 1, image_side
    for index, width in enumerate(channels):
        layers.append(Layer("conv", previous, width, pool=True, flatten=index == len(channels) - 1))
        previous, side = width, side // 2
    return layers + [Layer("linear", previous * side * side, classes, relu=False)]


def initial_parameters(layers: list[Layer], seed: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """PyTorch's default initialisation of the same layers (float64), from `seed`."""
    torch.manual_seed(seed)
    modules = [
        torch.nn.Linear(l.inputs, l.outputs)
        if l.kind == "linear"
        else torch.nn.Conv2d(l.inputs, l.outputs, KERNEL, padding=1)
        for l in layers
    ]
    return [(m.weight.detach().double().clone(), m.bias.detach().double().clone()) for m in modules]


def pre_activation(
    layer: Layer, weight: torch.Tensor, bias: torch.Tensor, inputs: torch.Tensor
) -> torch.Tensor:
    if layer.kind == "conv":
        return F.conv2d(inputs, weight, bias, padding=1)
    return inputs @ weight.T + bias


def post_operations(layer: Layer, values: torch.Tensor) -> torch.Tensor:
    if layer.relu:
        values = torch.relu(values)
    if layer.pool:
        values = F.max_pool2d(values, 2)
    if layer.flatten:
        values = values.flatten(start_dim=1)
    return values


def outputs(layers: list[Layer], parameters, inputs: torch.Tensor) -> torch.Tensor:
    """The network's logits."""
    for layer, (weight, bias) in zip(layers, parameters, strict=True):
        inputs = post_operations(layer, pre_activation(layer, weight, bias, inputs))
    return inputs


def rows(layer: Layer, inputs: torch.Tensor) -> torch.Tensor:
    """The matrix X the layer multiplies: inputs (linear), or unfolded patches (conv), one row each."""
    if layer.kind == "linear":
        return inputs
    patches = F.unfold(inputs, KERNEL, padding=1)  # (n, C_in·9, positions)
    return patches.transpose(1, 2).reshape(-1, patches.shape[1])


def matrix(weight: torch.Tensor) -> torch.Tensor:
    """The (neurons, inputs) matrix of a weight (a conv kernel flattened in unfold's order)."""
    return weight.reshape(weight.shape[0], -1)


def pre_activation_from_rows(
    layer: Layer,
    weight_matrix: torch.Tensor,
    bias: torch.Tensor,
    layer_rows: torch.Tensor,
    examples: int,
) -> torch.Tensor:
    """X Wᵀ + b from the rows of `rows`, back in the layer's output layout."""
    product = layer_rows @ weight_matrix.T + bias
    if layer.kind == "linear":
        return product
    side = int(round((product.shape[0] // examples) ** 0.5))
    return product.reshape(examples, side, side, -1).permute(0, 3, 1, 2)


def accuracy_percent(logits: torch.Tensor, labels: torch.Tensor) -> float:
    return float(100.0 * (logits.argmax(dim=1) == labels).double().mean())
