"""The losses the experiments descend, built from the config and the generated data; training and
measurement both evaluate them (a measurement must see the very loss the run descended).

- `digits_loss`: Cohen et al.'s ½-square loss of the MLP on a network's digits, θ -> L(θ);
- `diagonal_tensors`: the diagonal net's (inputs, targets), whose loss is diagonal_net.half_mse;
- `cubic_toy`: Damian et al.'s two-variable model with the setup's constants.
"""

from __future__ import annotations

import numpy as np
import torch

from .config import Network, ToyCubicSetup
from .cubic_toy import CubicToy
from .data import network_examples
from .descent import LossOfFlat
from .mlp import MLP


def mlp_of(network: Network) -> MLP:
    return MLP(network.widths, network.activation)


def half_square_loss(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Cohen et al. (2021) loss: ½ Σ_classes (f_c(x) − onehot_c)², averaged over examples.

    The ½ matters for every 2/η comparison: Damian et al. (2023) use Σ (f − onehot)² without it,
    which doubles the Hessian and so halves the step size at which the same network reaches 2/η.
    """
    return 0.5 * (outputs - targets).pow(2).sum(dim=1).mean()


def digits_loss(network: Network, data: dict[str, np.ndarray]) -> LossOfFlat:
    """θ -> Cohen's ½-square loss of the MLP on the network's digits (config.Network)."""
    inputs, targets = network_examples(network, data["digits_inputs"], data["digits_labels"])
    inputs, targets = torch.as_tensor(inputs), torch.as_tensor(targets)
    mlp = mlp_of(network)
    return lambda theta: half_square_loss(mlp.outputs(theta, inputs), targets)


def diagonal_tensors(data: dict[str, np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.as_tensor(data["diagonal_inputs"]), torch.as_tensor(data["diagonal_targets"])


def cubic_toy(setup: ToyCubicSetup) -> CubicToy:
    return CubicToy(setup.a, setup.b, setup.alpha, setup.epsilon)
