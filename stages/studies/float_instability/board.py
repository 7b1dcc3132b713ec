"""The one-layer convolutional model of Sun et al.'s theory section (§4; public code
single_layer/PySun.py), in float64.

A kernel w (m × m) meets a ±1 checkerboard image I (n × n) by valid cross-correlation (PySun.py's
Conv2D: (n − m + 1)² responses, no padding) or by circular convolution (n² responses); then Swish
x·σ(x) (PySun.py's Swish with b = 1), mean pooling, a sigmoid and the binary cross-entropy of
label 1, plus weight decay α (PySun.py's loss_total):

    L(w) = softplus(−z(w)) + (α/2)·‖w‖²,    z(w) = mean over positions p of swish(x_p · w),

x_p the window of I that w meets at p; full-batch gradient descent w ← w − η∇L(w).

The checkerboard repeats every 2s pixels (s the square side), so x_p depends only on the phase p mod
2s: the mean over positions is exactly the mean over the q ≤ 4s² distinct windows X (q × m²) weighted
by their shares ν of the positions. Closed forms, with r = Xw:

    ∇z = Xᵀ(ν ⊙ swish′(r)),    ∇L = −σ(−z)·∇z + αw,
    ∇²L = σ(z)σ(−z)·∇z∇zᵀ − σ(−z)·Xᵀ diag(ν ⊙ swish″(r)) X + αI.

With the thin SVD X = UΣVᵀ (rank ρ), ∇²L = αI + V M Vᵀ for a ρ × ρ matrix M: its eigenvalues are
α + eig(M) and, when ρ < m², α itself. The curvature depends on w only through r, so λmax and λmin
cost a ρ × ρ eigenproblem per step.

The linear PDE at w = 0 (z = 0, σ = ½, swish″(0) = ½): ∇²L(0) = αI + H₀ with H₀ the data term's
Hessian there, which has a negative eigenvalue (the mean of swish grows with ‖r‖). w = 0 is a stable
stationary point of the flow only for α > α_min = −λmin(H₀), the condition on α of the paper's
linearised PDE; the public code's form (single_layer/linear.py prints 0.25·max|F(I)|², for a
gradient summed over positions) is this number for its normalisation, and its Fig. 3 script
(scripts/loss_plot.py) labels α_min = 1.3e7 = ¼·225²·32² for the 256 × 256, 32 × 32 valid model.
The discretisation adds η < 2/λmax: η < 2/α where α dominates.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .config import PUBLIC_CODE_SEED, BoardSize, BoardVariant, Config
from .data import image_key
from .perturbed_sgd import scaled_update_

ACTIVATION = "swish"  # x·σ(x), PySun.py's Swish(b=1): the table's `activation` for board rows


def swish_derivatives(responses: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """swish(x) = x·σ(x), swish′ = σ + x·σ·σ̄, swish″ = σ·σ̄·(2 + x·(σ̄ − σ)), σ̄ = 1 − σ = σ(−x)."""
    positive, negative = torch.sigmoid(responses), torch.sigmoid(-responses)
    value = responses * positive
    first = positive + responses * positive * negative
    second = positive * negative * (2 + responses * (negative - positive))
    return value, first, second


def window_phases(image: np.ndarray, kernel_side: int, convolution: str, period: int):
    """The distinct windows of a `period`-periodic image (q × m², one per phase (a, b)) and the
    share of positions with each phase."""
    side, m = image.shape[0], kernel_side
    offsets = np.arange(m)
    if convolution == "valid":  # x_p[u, v] = I[i + u, j + v], i, j in 0 … n − m
        positions = side - m + 1
        counts = np.array([len(range(a, positions, period)) for a in range(period)], dtype=float)
        windows = [
            image[np.ix_(a + offsets, b + offsets)] for a in range(period) for b in range(period)
        ]
    else:  # circular convolution: x_p[u, v] = I[(i − u) mod n, (j − v) mod n]
        counts = np.full(period, side / period)
        windows = [
            image[np.ix_((a - offsets) % side, (b - offsets) % side)]
            for a in range(period)
            for b in range(period)
        ]
    shares = np.outer(counts, counts).ravel() / counts.sum() ** 2
    return np.stack([w.ravel() for w in windows]), shares


@dataclass(frozen=True)
class Trajectory:
    """One descent: the kernel at every checkpoint (NaN once lost), and at every step 0 … T the
    window responses r = Xw and ‖w‖² (what the loss and the curvature are functions of)."""

    kernels: np.ndarray  # (checkpoints, m²)
    responses: np.ndarray  # (steps + 1, q)
    squared_norms: np.ndarray  # (steps + 1,)


class CheckerboardModel:
    def __init__(self, image: np.ndarray, size: BoardSize, weight_decay: float):
        self.size, self.weight_decay = size, weight_decay
        windows, shares = window_phases(
            image, size.kernel_side, size.convolution, 2 * size.square_side
        )
        self.windows = torch.as_tensor(windows, dtype=torch.float64)
        self.shares = torch.as_tensor(shares, dtype=torch.float64)
        left, singular, right = np.linalg.svd(windows, full_matrices=False)
        rank = int((singular > singular[0] * 1e-12).sum())
        # X = UΣVᵀ restricted to its rank: the curvature's ρ × ρ problem lives in Σ·Uᵀ(·)·U·Σ
        self.scaled_left = left[:, :rank] * singular[:rank]  # (q, ρ): UΣ
        self.rank = rank

    @property
    def parameters(self) -> int:
        return self.size.kernel_side**2

    def responses(self, kernel: torch.Tensor) -> torch.Tensor:
        return self.windows @ kernel

    def loss_of(self, responses: np.ndarray, squared_norm: np.ndarray) -> np.ndarray:
        """L from r (..., q) and ‖w‖² (...)."""
        r = torch.as_tensor(responses)
        z = (swish_derivatives(r)[0] * self.shares).sum(-1)
        return torch.nn.functional.softplus(-z).numpy() + 0.5 * self.weight_decay * squared_norm

    def gradient(self, kernel: torch.Tensor) -> torch.Tensor:
        value, first, _ = swish_derivatives(self.responses(kernel))
        z = (value * self.shares).sum()
        return (
            -torch.sigmoid(-z) * (self.windows.T @ (self.shares * first))
            + self.weight_decay * kernel
        )

    def data_curvature(self, responses: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(lowest, highest) eigenvalue of the data term's Hessian at each row of r (steps, q):
        eig(M), and 0 when ρ < m² (directions no window sees)."""
        r = torch.as_tensor(np.atleast_2d(responses))
        value, first, second = swish_derivatives(r)
        z = (value * self.shares).sum(-1)
        up, down = torch.sigmoid(z).numpy(), torch.sigmoid(-z).numpy()
        scaled = self.scaled_left  # (q, ρ)
        slope = (self.shares * first).numpy() @ scaled  # (steps, ρ): ΣUᵀ(ν ⊙ swish′)
        bend = (self.shares * second).numpy()  # (steps, q)
        inner = np.einsum("qa,sq,qb->sab", scaled, bend, scaled)  # ΣUᵀ diag(ν ⊙ swish″) UΣ
        matrix = (up * down)[:, None, None] * slope[:, :, None] * slope[:, None, :]
        matrix -= down[:, None, None] * inner
        eigenvalues = np.linalg.eigvalsh(matrix)
        low, high = eigenvalues[:, 0], eigenvalues[:, -1]
        if self.rank < self.parameters:
            low, high = np.minimum(low, 0.0), np.maximum(high, 0.0)
        return low, high

    def curvature(self, responses: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(λmin, λmax) of ∇²L at each row of r (steps, q): the data term's, shifted by α."""
        low, high = self.data_curvature(responses)
        return low + self.weight_decay, high + self.weight_decay

    def alpha_min(self) -> float:
        """−λmin of the data term's Hessian at w = 0: the linear PDE's condition α > α_min."""
        low, _ = self.data_curvature(np.zeros((1, len(self.shares))))
        return float(max(0.0, -low[0]))

    def initial(self, seed: int) -> torch.Tensor:
        m = self.size.kernel_side
        if (
            self.size.initial_kernel == "public_code"
        ):  # PySun.py: np.random.seed(7); randn(1, 1, m, m)
            draw = np.random.RandomState(PUBLIC_CODE_SEED).randn(1, 1, m, m)
            return torch.as_tensor(draw.reshape(-1), dtype=torch.float64)
        generator = torch.Generator().manual_seed(seed)
        return torch.randn(m * m, generator=generator, dtype=torch.float64) / m

    def descend(self, start: torch.Tensor, lr: float, k: int, divergence_norm: float) -> Trajectory:
        """Gradient descent with the k-scaled step for size.steps steps. A run whose ‖w‖ exceeds
        `divergence_norm` or stops being finite is lost from there on (NaN): a diverged run is data."""
        steps, every = self.size.steps, self.size.checkpoint_every
        kernel, kernels = start.clone(), []
        responses = np.full((steps + 1, len(self.shares)), np.nan)
        norms = np.full(steps + 1, np.nan)
        lost = False
        for step in range(steps + 1):
            norm = float(kernel.norm())
            lost = lost or not np.isfinite(norm) or norm > divergence_norm
            if lost:
                kernel = torch.full_like(kernel, float("nan"))
            else:
                responses[step], norms[step] = self.responses(kernel).numpy(), norm**2
            if step % every == 0:
                kernels.append(kernel.numpy().copy())
            if step < steps and not lost:
                scaled_update_(kernel, self.gradient(kernel), lr, k)
        return Trajectory(np.stack(kernels), responses, norms)


def model_for(
    config: Config, variant: BoardVariant, data, weight_decay: float
) -> CheckerboardModel:
    """The model a board variant trains with weight decay α: its size's image (the data stage's)."""
    size = config.board.sizes[variant.size]
    return CheckerboardModel(data[image_key(variant.size)], size, weight_decay)
