"""Models as functions of one flat parameter vector θ, so that Hessian tools apply directly.

- `MLP`: fully connected net with a smooth activation (tanh as in Cohen et al.'s fc-tanh; swish
  as in Damian et al., whose ∇S needs three derivatives; tanh has them too). Initialised with
  PyTorch's default `nn.Linear` initialisation under an explicit seed.
- `diagonal_net_outputs`: the diagonal linear network f(x) = ⟨u⊙u − v⊙v, x⟩ of Wu & Su's
  (2023) SGD-stability experiments (θ = [u, v]).
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


def diagonal_net_outputs(theta: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
    """f(x) = ⟨u⊙u − v⊙v, x⟩ with θ = [u, v]; a leading run dimension in θ (runs, 2d) gives
    (runs, examples) outputs."""
    u, v = theta.chunk(2, dim=-1)
    return (u * u - v * v) @ inputs.T
