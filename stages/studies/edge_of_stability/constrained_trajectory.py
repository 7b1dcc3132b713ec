"""The constrained trajectory θ† of Damian, Nichani & Lee (2023) ("self-stabilization"); the
projection follows their public code (adamian98/EOS, taylor.py: `taylor_center`, `linear_project`,
`constrained_step`).

θ†_{t+1} = proj_M(θ†_t − η ∇L(θ†_t)),  M = {θ : S(θ) ≤ 2/η and ∇L(θ)·u(θ) = 0},

with the projection linearised and repeated `projection_steps` times (their `linear_project`):

    θ ← θ − max(0, S − 2/η) ∇S⊥ / ‖∇S⊥‖²  −  u (u·∇L) / S,

where u is the unit top eigenvector of H, ∇S = D³L[u, u] and ∇S⊥ = ∇S − u(u·∇S). The second term
is a Newton step along u that sets the gradient's component along u to zero. Tracking stops when
λ2(θ†) exceeds `stop_lambda2_times_lr_over_2`·2/η (they use 1.9/η, checked every 50 steps): then a
second direction is near the edge and θ† as defined no longer describes GD (tracking.py).

As in their code, each Taylor centre follows u with a solver warm-started from the previous u
(theirs: LOBPCG); here ARPACK's Lanczos with a Krylov basis of KRYLOV_DIMENSION vectors, which from
the previous u converges in about 7 Hessian-vector products where the default basis of
stages/common/hessian.top_eigenpairs takes 21. The sign of u does not matter: every use of u
(the projection, ∇S, the predicted dynamics) is even in u.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy.sparse.linalg import ArpackNoConvergence, eigsh

from ...common.hessian import HessianAt, sharpness_gradient, top_eigenpairs
from .descent import LossOfFlat

KRYLOV_DIMENSION = 4  # Lanczos basis when following u from the previous step's u


@dataclass
class TaylorCenter:
    """What one projection and one predicted step need at θ: L, ∇L, S and u, ∇S, and H itself
    (for Hessian-vector products, `hessian.matvec`)."""

    theta: torch.Tensor
    loss: float
    gradient: torch.Tensor
    sharpness: float
    top_vector: torch.Tensor
    sharpness_gradient: torch.Tensor
    hessian: HessianAt

    @property
    def sharpness_gradient_perp(self) -> torch.Tensor:
        """∇S⊥ = ∇S − u (u·∇S): the part of ∇S off the unstable direction."""
        u = self.top_vector
        return self.sharpness_gradient - u * (u @ self.sharpness_gradient)


def follow_top_eigenpair(
    hessian: HessianAt, warm_start: np.ndarray, tolerance: float
) -> tuple[float, np.ndarray]:
    """λ1 and its unit eigenvector by Lanczos (which='LA') from `warm_start` with a small Krylov
    basis; should ARPACK not converge with it, the common solver's default basis takes over."""
    try:
        values, vectors = eigsh(
            hessian.as_linear_operator(),
            k=1,
            which="LA",
            v0=np.asarray(warm_start, np.float64),
            tol=tolerance,
            ncv=min(KRYLOV_DIMENSION, hessian.size),
        )
        return float(values[0]), vectors[:, 0]
    except ArpackNoConvergence:
        eigen = top_eigenpairs(hessian, k=1, warm_start=warm_start, tolerance=tolerance)
        return eigen.sharpness, eigen.top_vector


def taylor_center(
    loss_of_flat: LossOfFlat, theta: torch.Tensor, warm_start: np.ndarray, lanczos_tolerance: float
) -> TaylorCenter:
    """L, ∇L, S, u and ∇S = D³L[u, u] at θ (their `taylor_center`)."""
    hessian = HessianAt(loss_of_flat, theta)
    sharpness, top_vector = follow_top_eigenpair(hessian, warm_start, lanczos_tolerance)
    u = torch.as_tensor(top_vector, dtype=theta.dtype)
    return TaylorCenter(
        theta.detach(),
        float(hessian.loss.detach()),
        hessian.gradient.detach(),
        sharpness,
        u,
        sharpness_gradient(loss_of_flat, theta, u),
        hessian,
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
        u, grad_s_perp = center.top_vector, center.sharpness_gradient_perp
        excess = max(0.0, center.sharpness - 2.0 / lr)
        step = -excess * grad_s_perp / (grad_s_perp @ grad_s_perp) - u * (
            (u @ center.gradient) / center.sharpness
        )
        center = taylor_center(
            loss_of_flat, center.theta + step, center.top_vector.numpy(), lanczos_tolerance
        )
    return center


def constrained_step(
    loss_of_flat: LossOfFlat,
    center: TaylorCenter,
    lr: float,
    projection_steps: int,
    lanczos_tolerance: float,
) -> TaylorCenter:
    """θ†_{t+1} = proj_M(θ†_t − η ∇L(θ†_t)) (their `constrained_step`)."""
    stepped = taylor_center(
        loss_of_flat,
        center.theta - lr * center.gradient,
        center.top_vector.numpy(),
        lanczos_tolerance,
    )
    return project(loss_of_flat, stepped, lr, projection_steps, lanczos_tolerance)


def second_eigenvalue(center: TaylorCenter, lanczos_tolerance: float) -> float:
    """λ2(θ†) by the common Lanczos (k = 2) warm-started from u: the eigengap check."""
    eigen = top_eigenpairs(
        center.hessian, k=2, warm_start=center.top_vector.numpy(), tolerance=lanczos_tolerance
    )
    return eigen.second
