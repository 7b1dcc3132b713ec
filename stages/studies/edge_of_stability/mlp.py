"""The MLP of the digits experiments as a function of one flat parameter vector θ, so that Hessian
tools apply directly: fully connected, with a smooth activation (tanh as in Cohen et al.'s fc-tanh;
swish as in Damian et al., whose ∇S needs three derivatives; tanh has them too), initialised with
PyTorch's default `nn.Linear` initialisation under an explicit seed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

ACTIVATION_FUNCTIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "tanh": torch.tanh,
    "swish": torch.nn.functional.silu,
}


@dataclass(frozen=True)
class MLP:
    """widths = (inputs, hidden…, outputs); activation after every layer but the last."""

    widths: tuple[int, ...]
    activation: str

    @property
    def layer_shapes(self) -> list[tuple[int, int]]:
        return list(zip(self.widths[1:], self.widths[:-1], strict=True))  # (out, in) per layer

    def initial(self, seed: int, dtype: torch.dtype = torch.float64) -> torch.Tensor:
        """PyTorch's default nn.Linear initialisation (Kaiming-uniform weights, uniform biases)
        drawn from `seed` without touching the global RNG; flattened as [W1, b1, W2, b2, …]."""
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            layers = [torch.nn.Linear(inp, out) for out, inp in self.layer_shapes]
        return torch.cat(
            [p.detach().reshape(-1) for layer in layers for p in (layer.weight, layer.bias)]
        ).to(dtype)

    def outputs(self, theta: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
        activate = ACTIVATION_FUNCTIONS[self.activation]
        hidden, offset = inputs, 0
        for index, (out, inp) in enumerate(self.layer_shapes):
            weight = theta[offset : offset + out * inp].view(out, inp)
            bias = theta[offset + out * inp : offset + out * inp + out]
            offset += out * inp + out
            hidden = torch.nn.functional.linear(hidden, weight, bias)
            if index < len(self.layer_shapes) - 1:
                hidden = activate(hidden)
        return hidden
