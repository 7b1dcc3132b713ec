"""The study's models: two implicit cells, a dense tanh cell on digits (training, P1 and P3) and a
small convolutional cell with GroupNorm (the backward-cost claim P2), the spectral-norm cap that keeps
the dense cell contractive, the digits classifier built on the dense cell and the linear heads.

Dense: f(z, x) = tanh(W z + U x + b); J = diag(1 − f²) W, so ‖W‖₂ ≤ c < 1 makes f a contraction
with ρ(J) ≤ c (the study notes capped c at 0.95); without a cap (MDEQ has none) ρ(J) can reach 1,
and the solvers' caps and residuals record what then happens.
Convolutional (a one-branch analogue of the MDEQ cell): f(z, x) = tanh(GroupNorm(conv₃ₓ₃(z) + U∗x)),
8×8 maps, `channels` channels, float32 as the MDEQ code; the recurrent convolution's default init
range is scaled by `recurrent_gain` (at 1 the forward solve did not converge in 100 Anderson steps).
"""

from __future__ import annotations

import torch
from torch import nn

from .implicit_layer import Cell


class DenseCell(Cell):
    def __init__(
        self, inputs: int, width: int, max_spectral_norm: float | None, generator: torch.Generator
    ):
        super().__init__()
        self.max_spectral_norm = max_spectral_norm
        bound_w, bound_u = width**-0.5, inputs**-0.5  # PyTorch's nn.Linear default ranges
        self.weight = nn.Parameter(_uniform((width, width), bound_w, generator))
        self.injection_weight = nn.Parameter(_uniform((width, inputs), bound_u, generator))
        self.bias = nn.Parameter(_uniform((width,), bound_u, generator))
        self.cap_spectral_norm()

    def inject(self, inputs: torch.Tensor) -> torch.Tensor:
        return inputs @ self.injection_weight.T + self.bias

    def step(self, state: torch.Tensor, injection: torch.Tensor) -> torch.Tensor:
        return torch.tanh(state @ self.weight.T + injection)

    def spectral_norm(self) -> float:
        return float(torch.linalg.matrix_norm(self.weight.detach(), ord=2))

    @torch.no_grad()
    def cap_spectral_norm(self) -> None:
        """W ← W · min(1, c / ‖W‖₂): after every optimiser step, so f stays a contraction (no-op
        without a cap)."""
        if self.max_spectral_norm is None:
            return
        norm = self.spectral_norm()
        if norm > self.max_spectral_norm:
            self.weight.mul_(self.max_spectral_norm / norm)

    def jacobian_spectral_radii(self, states: torch.Tensor) -> torch.Tensor:
        """ρ(J) = ρ(diag(1 − z²) W) at each fixed point z (rows of `states`)."""
        jacobians = (1.0 - states.detach() ** 2)[:, :, None] * self.weight.detach()[None]
        return torch.linalg.eigvals(jacobians).abs().amax(dim=1)


class ConvCell(Cell):
    def __init__(
        self, channels: int, groups: int, recurrent_gain: float, generator: torch.Generator
    ):
        super().__init__()
        self.channels = channels
        self.conv = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.injection = nn.Conv2d(1, channels, 3, padding=1)
        self.norm = nn.GroupNorm(groups, channels)
        with torch.no_grad():  # PyTorch's default ranges, drawn from the study's own generator
            for conv, gain in ((self.conv, recurrent_gain), (self.injection, 1.0)):
                bound = gain * (conv.in_channels * 9) ** -0.5
                conv.weight.copy_(_uniform(conv.weight.shape, bound, generator))
            self.injection.bias.copy_(_uniform(self.injection.bias.shape, 1 / 3, generator))

    def inject(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.injection(inputs)

    def step(self, state: torch.Tensor, injection: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.norm(self.conv(state) + injection))


def linear_head(
    inputs: int, classes: int, dtype: torch.dtype, generator: torch.Generator
) -> nn.Linear:
    """nn.Linear with PyTorch's default ranges, drawn from `generator` (not the global RNG)."""
    head = nn.Linear(inputs, classes, dtype=dtype)
    with torch.no_grad():
        head.weight.copy_(_uniform(head.weight.shape, inputs**-0.5, generator))
        head.bias.copy_(_uniform(head.bias.shape, inputs**-0.5, generator))
    return head


def _uniform(shape, bound: float, generator: torch.Generator) -> torch.Tensor:
    return (torch.rand(shape, generator=generator, dtype=torch.float64) * 2 - 1) * bound


class DenseClassifier(nn.Module):
    """The digits model: logits = V z* + c with z* the dense cell's fixed point (float64)."""

    def __init__(
        self,
        inputs: int,
        width: int,
        classes: int,
        max_spectral_norm: float | None,
        generator: torch.Generator,
    ):
        super().__init__()
        self.cell = DenseCell(inputs, width, max_spectral_norm, generator)
        self.head = linear_head(width, classes, torch.float64, generator)

    def flat(self) -> torch.Tensor:
        return nn.utils.parameters_to_vector(self.parameters()).detach().clone()

    def load_flat(self, vector: torch.Tensor) -> None:
        nn.utils.vector_to_parameters(vector, self.parameters())
