"""The one-layer convolutional model of Sun et al.'s theory section (§4), in float64.

A kernel w (m × m) is convolved (circularly, by FFT) with a ±1 checkerboard image I (n × n), passed
through Swish, mean-pooled and squashed by a sigmoid; the loss is the binary cross-entropy of label 1
plus weight decay:

    L(w) = −log σ( mean_pixels swish(I ⊛ w) ) + (α/2)·‖w‖²,

trained by full-batch gradient descent w ← w − η∇L(w). The weight-decay term alone is stable only for
η < 2/α: the paper's stability bound on the step.
"""

from __future__ import annotations

import numpy as np
import torch

from .perturbed_sgd import scaled_update_

ACTIVATION = (
    "swish"  # x·σ(x) (torch's SiLU), the paper's Swish: the table's `activation` for board rows
)


class CheckerboardModel:
    def __init__(self, image: np.ndarray, kernel_side: int, weight_decay: float):
        self.image_side, self.kernel_side, self.weight_decay = (
            image.shape[0],
            kernel_side,
            weight_decay,
        )
        self.image_spectrum = torch.fft.rfft2(torch.as_tensor(image, dtype=torch.float64))

    def loss(self, flat_kernel: torch.Tensor) -> torch.Tensor:
        """L(w) for w flattened to m² entries (the form stages.common.hessian works on)."""
        side = self.image_side
        kernel = flat_kernel.reshape(self.kernel_side, self.kernel_side)
        padded = torch.nn.functional.pad(
            kernel, (0, side - self.kernel_side, 0, side - self.kernel_side)
        )
        response = torch.fft.irfft2(self.image_spectrum * torch.fft.rfft2(padded), s=(side, side))
        logit = torch.nn.functional.silu(response).mean()
        return (
            torch.nn.functional.softplus(-logit)
            + 0.5 * self.weight_decay * flat_kernel.square().sum()
        )

    def initial(self, seed: int) -> torch.Tensor:
        generator = torch.Generator().manual_seed(seed)
        return (
            torch.randn(self.kernel_side**2, generator=generator, dtype=torch.float64)
            / self.kernel_side
        )

    def descend(
        self,
        start: torch.Tensor,
        lr: float,
        k: int,
        steps: int,
        checkpoint_every: int,
        divergence_norm: float,
    ) -> np.ndarray:
        """Gradient descent with the k-scaled step; the kernel at steps 0, every, 2·every, … (NaN once
        ‖w‖ exceeds `divergence_norm` or stops being finite: a diverged run is data)."""
        kernel, checkpoints = start.clone(), []
        for step in range(steps + 1):
            if step % checkpoint_every == 0:
                checkpoints.append(kernel.numpy().copy())
            if step == steps:
                break
            norm = float(kernel.norm())
            if not np.isfinite(norm) or norm > divergence_norm:
                kernel = torch.full_like(kernel, float("nan"))
                continue
            leaf = kernel.detach().requires_grad_(True)
            (gradient,) = torch.autograd.grad(self.loss(leaf), leaf)
            kernel = leaf.detach()
            scaled_update_(kernel, gradient, lr, k)
        return np.stack(checkpoints)
