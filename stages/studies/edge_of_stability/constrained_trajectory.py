"""The constrained trajectory θ† of Damian, Nichani & Lee (2023) ("self-stabilization"); the
projection follows their public code (adamian98/EOS, taylor.py: `linear_project`).

θ†_{t+1} = proj_M(θ†_t − η ∇L(θ†_t)),  M = {θ : S(θ) ≤ 2/η and ∇L(θ)·u(θ) = 0},

with the projection linearised and repeated `projection_steps` times (their `linear_project`):

    θ ← θ − max(0, S − 2/η) ∇S⊥ / ‖∇S⊥‖²  −  u (u·∇L) / S,

where u is the unit top eigenvector of H, ∇S = D³L[u, u] and ∇S⊥ = ∇S − u(u·∇S). The second term
is a Newton step along u that sets the gradient's component along u to zero. Tracking stops when
λ2(θ†) exceeds `stop_lambda2_times_lr_over_2`·2/η (they use 1.9/η): then a second direction is
near the edge and θ† as defined no longer describes GD.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ...common.hessian import HessianAt, TopEigen, sharpness_gradient, top_eigenpairs
from .descent import LossOfFlat, Trajectory, checkpoint_steps


@dataclass
class TaylorCenter:
    """What one projection needs at θ: L, ∇L, the top two eigenpairs and ∇S."""

    theta: torch.Tensor
    loss: float
    gradient: torch.Tensor
    eigen: TopEigen
    sharpness_gradient: torch.Tensor


def taylor_center(
    loss_of_flat: LossOfFlat, theta: torch.Tensor, warm_start: np.ndarray, lanczos_tolerance: float
) -> TaylorCenter:
    hessian = HessianAt(loss_of_flat, theta)
    eigen = top_eigenpairs(hessian, k=2, warm_start=warm_start, tolerance=lanczos_tolerance)
    u = torch.as_tensor(eigen.top_vector, dtype=theta.dtype)
    return TaylorCenter(
        theta.detach(),
        float(hessian.loss.detach()),
        hessian.gradient.detach(),
        eigen,
        sharpness_gradient(loss_of_flat, theta, u),
    )


def project(
    loss_of_flat: LossOfFlat,
    center: TaylorCenter,
    lr: float,
    projection_steps: int,
    lanczos_tolerance: float,
) -> TaylorCenter:
    """`projection_steps` linearised projections onto M (module docstring)."""
    for _ in range(projection_steps):
        u = torch.as_tensor(center.eigen.top_vector, dtype=center.theta.dtype)
        sharpness = center.eigen.sharpness
        grad_s_perp = center.sharpness_gradient - u * (u @ center.sharpness_gradient)
        excess = max(0.0, sharpness - 2.0 / lr)
        step = -excess * grad_s_perp / (grad_s_perp @ grad_s_perp) - u * (
            (u @ center.gradient) / sharpness
        )
        center = taylor_center(
            loss_of_flat, center.theta + step, center.eigen.top_vector, lanczos_tolerance
        )
    return center


def constrained_descent(
    loss_of_flat: LossOfFlat,
    theta: torch.Tensor,
    top_vector: np.ndarray,
    lr: float,
    steps: int,
    checkpoint_every: int,
    projection_steps: int,
    stop_lambda2_times_lr_over_2: float,
    lanczos_tolerance: float,
) -> Trajectory:
    """θ† from θ†_0 = proj_M(θ) (their `track_dynamics`). Losses and checkpoints from the stop
    (or a non-finite loss) on are NaN, so the first NaN loss marks where tracking ended."""
    losses = np.full(steps + 1, np.nan)
    checkpoints = np.full((len(checkpoint_steps(steps, checkpoint_every)), theta.numel()), np.nan)
    center = project(
        loss_of_flat,
        taylor_center(loss_of_flat, theta, top_vector, lanczos_tolerance),
        lr,
        projection_steps,
        lanczos_tolerance,
    )
    for step in range(steps + 1):
        if not np.isfinite(center.loss):
            return Trajectory(losses, checkpoints, diverged=True)
        if center.eigen.second * lr / 2 > stop_lambda2_times_lr_over_2:
            return Trajectory(losses, checkpoints, diverged=False)
        losses[step] = center.loss
        if step % checkpoint_every == 0:
            checkpoints[step // checkpoint_every] = center.theta.numpy()
        if step == steps:
            break
        stepped = taylor_center(
            loss_of_flat,
            center.theta - lr * center.gradient,
            center.eigen.top_vector,
            lanczos_tolerance,
        )
        center = project(loss_of_flat, stepped, lr, projection_steps, lanczos_tolerance)
    return Trajectory(losses, checkpoints, diverged=False)
