"""Full-batch gradient descent, gradient flow, and the search for the edge of stability.

GD (Cohen et al. 2021, §3): θ_{t+1} = θ_t − η ∇L(θ_t).
Gradient flow dθ/dt = −∇L(θ), integrated by Euler steps of size η/substeps, so that the flow
after k units of η sits at the same time t = kη as GD's step k (Damian et al. 2023 compare GD with
the flow at equal times; their code uses ⌈ηS⌉ Euler sub-steps per GD step).
A non-finite loss stops a run: it is recorded as diverged, with NaN for every later step.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from ...common.hessian import HessianAt, top_eigenpairs

LossOfFlat = Callable[[torch.Tensor], torch.Tensor]


def loss_and_gradient(loss_of_flat: LossOfFlat, theta: torch.Tensor) -> tuple[float, torch.Tensor]:
    theta = theta.detach().requires_grad_(True)
    loss = loss_of_flat(theta)
    (gradient,) = torch.autograd.grad(loss, theta)
    return float(loss.detach()), gradient


def checkpoint_steps(steps: int, every: int) -> np.ndarray:
    return np.arange(0, steps + 1, every)


@dataclass
class Trajectory:
    """losses[t] = L(θ_t) for t = 0..steps; checkpoints[k] = θ at step checkpoint_steps[k]."""

    losses: np.ndarray
    checkpoints: np.ndarray
    diverged: bool


def descend(
    loss_of_flat: LossOfFlat, theta: torch.Tensor, lr: float, steps: int, checkpoint_every: int
) -> Trajectory:
    """GD with step η for `steps` steps, the loss at every step and θ every checkpoint_every."""
    losses = np.full(steps + 1, np.nan)
    saved = checkpoint_steps(steps, checkpoint_every)
    checkpoints = np.full((len(saved), theta.numel()), np.nan)
    for step in range(steps + 1):
        loss, gradient = loss_and_gradient(loss_of_flat, theta)
        if not np.isfinite(loss):
            return Trajectory(losses, checkpoints, diverged=True)
        losses[step] = loss
        if step % checkpoint_every == 0:
            checkpoints[step // checkpoint_every] = theta.numpy()
        if step == steps:
            break
        theta = theta - lr * gradient
    return Trajectory(losses, checkpoints, diverged=False)


def gradient_flow_step(
    loss_of_flat: LossOfFlat, theta: torch.Tensor, gradient: torch.Tensor, lr: float, substeps: int
) -> torch.Tensor:
    """One unit η of gradient-flow time: `substeps` Euler steps of η/substeps (`gradient` is ∇L at
    θ, already at hand), so that the flow after k units sits at the time kη of GD's step k."""
    small = lr / substeps
    theta = theta - small * gradient
    for _ in range(substeps - 1):
        theta = theta - small * loss_and_gradient(loss_of_flat, theta)[1]
    return theta


@dataclass
class EdgeStart:
    """Where GD from θ_0 first has S·η/2 ≥ 1: θ at that step, the step, the top eigenvector and
    (λ1, λ2) there (NaN when the edge was not reached). Damian et al.'s analysis assumes the edge is
    met along one direction: λ2 clearly below 2/η, i.e. λ2/λ1 well below 1 at the edge."""

    theta: torch.Tensor
    step: int
    top_vector: np.ndarray
    reached: bool
    eigenvalues: tuple[float, float] = (np.nan, np.nan)

    @property
    def lambda2_over_lambda1(self) -> float:
        return self.eigenvalues[1] / self.eigenvalues[0]


def run_to_edge(
    loss_of_flat: LossOfFlat,
    theta: torch.Tensor,
    lr: float,
    max_steps: int,
    search_every: int,
    lanczos_tolerance: float,
) -> EdgeStart:
    """GD until S(θ_t) ≥ 2/η (Damian et al.'s `find_instability`): S is checked every `search_every`
    steps; after the first check at or above 2/η the search returns to the last check below it and
    checks every step, so the returned step is the first one at the edge."""
    step, top_vector, stride = 0, None, search_every
    last_below = (0, theta)
    while step <= max_steps:
        eigen = top_eigenpairs(
            HessianAt(loss_of_flat, theta), k=2, warm_start=top_vector, tolerance=lanczos_tolerance
        )
        top_vector = eigen.top_vector
        if not np.isfinite(eigen.sharpness):
            break
        if eigen.sharpness * lr / 2 >= 1:
            if stride == 1:
                return EdgeStart(
                    theta,
                    step,
                    top_vector,
                    reached=True,
                    eigenvalues=(eigen.sharpness, eigen.second),
                )
            (step, theta), stride = last_below, 1
            continue
        last_below = (step, theta)
        for _ in range(stride):
            loss, gradient = loss_and_gradient(loss_of_flat, theta)
            if not np.isfinite(loss):
                return EdgeStart(theta, step, top_vector, reached=False)
            theta, step = theta - lr * gradient, step + 1
    return EdgeStart(theta, step, top_vector, reached=False)
