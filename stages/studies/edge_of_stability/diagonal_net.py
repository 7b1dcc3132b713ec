"""Wu & Su (2023) on a diagonal linear network: SGD with batch 1 versus GD.

Model f(x) = ⟨u⊙u − v⊙v, x⟩, θ = [u, v], square loss L(θ) = 1/(2n) Σ_i (f(x_i) − y_i)², on a
sparse teacher y = ⟨w*, x⟩ with x ~ N(0, I_d). Their result: a global minimum that is
linearly stable for SGD with batch 1 has tr H ≤ 2/η, whereas GD's stability only bounds λmax ≤ 2/η.

Runs carry a leading run dimension (runs × 2d parameters, one step size per run) and use the
closed-form gradient ∇_u = 2u⊙g, ∇_v = −2v⊙g with g = mean_batch (f(x) − y) x, which is what
autograd would give, at a fraction of its overhead for these tiny steps.
"""

from __future__ import annotations

import numpy as np
import torch


def outputs(theta: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
    """f(x) = ⟨u⊙u − v⊙v, x⟩ with θ = [u, v]; a leading run dimension in θ (runs, 2d) gives
    (runs, examples) outputs."""
    u, v = theta.chunk(2, dim=-1)
    return (u * u - v * v) @ inputs.T


def teacher_data(
    examples: int, dimension: int, support: int, teacher_value: float, seed: int
) -> dict[str, np.ndarray]:
    """x_i ~ N(0, I_d); w* has `support` leading entries equal to teacher_value, the rest 0."""
    inputs = np.random.default_rng(seed).standard_normal((examples, dimension))
    teacher = np.zeros(dimension)
    teacher[:support] = teacher_value
    return {"diagonal_inputs": inputs, "diagonal_targets": inputs @ teacher}


def half_mse(theta: torch.Tensor, inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """L(θ) = 1/(2n) Σ_i (f(x_i) − y_i)², per run for a leading run dimension."""
    return 0.5 * (outputs(theta, inputs) - targets).pow(2).mean(dim=-1)


def initial(runs: int, dimension: int, init_scale: float) -> torch.Tensor:
    """u = v = init_scale·1 (so f ≡ 0 at the start), the same for every run."""
    return torch.full((runs, 2 * dimension), init_scale, dtype=torch.float64)


def sample_indices(seeds: list[int], steps: int, batch: int, examples: int) -> torch.Tensor:
    """(runs, steps, batch) example indices, drawn with replacement from each run's own seed."""
    return torch.stack(
        [
            torch.randint(
                0, examples, (steps, batch), generator=torch.Generator().manual_seed(seed)
            )
            for seed in seeds
        ]
    )


def full_batch_indices(runs: int, steps: int, examples: int) -> torch.Tensor:
    """GD as the special case of SGD whose every batch is the whole data set."""
    return torch.arange(examples).expand(runs, steps, examples)


def descend(
    theta: torch.Tensor,
    lrs: torch.Tensor,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    indices: torch.Tensor,
) -> torch.Tensor:
    """One step per entry of `indices` (runs, steps, batch) on those mini-batches, run r with step
    size lrs[r]. Returns θ after the last step; a diverged run holds inf or NaN."""
    rates = lrs[:, None]
    for step in range(indices.shape[1]):
        batch_inputs, batch_targets = (
            inputs[indices[:, step]],
            targets[indices[:, step]],
        )  # (runs, b, d), (runs, b)
        u, v = theta.chunk(2, dim=-1)
        residual = (batch_inputs @ (u * u - v * v)[..., None])[..., 0] - batch_targets
        direction = (residual[..., None] * batch_inputs).mean(dim=-2)  # g = mean_batch (f − y) x
        theta = theta - rates * torch.cat([2 * u * direction, -2 * v * direction], dim=-1)
    return theta
