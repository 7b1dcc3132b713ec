"""P1: how well each phantom gradient points where the exact implicit gradient points.

At a saved parameter vector, on a fixed batch of training digits: the fixed point and the exact
gradient ∂L/∂(W, U, b) of the implicit layer, both solved to the reference tolerance (float64), then
the unrolled and the Neumann phantom gradient for every (k, λ) of the grid from the same fixed point.
Reported: the cosine of each with the exact gradient (the paper's measure of direction), the relative
difference ‖unrolled − Neumann‖ / ‖Neumann‖ (the two forms agree to rounding at an exact fixed point),
the reference solves' health, and ρ(J) = ρ(diag(1 − z*²) W) on a few examples. The head's gradient,
identical for every estimator, is left out of the cosines.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from .cells import DenseClassifier
from .config import Direction
from .implicit import Costs, attach, solve_forward
from .settings import Backward


@dataclass
class DirectionAt:
    cosines: dict[tuple[str, int, float], float] = field(
        default_factory=dict
    )  # (form, k, λ) -> cosine
    relative_differences: dict[tuple[int, float], float] = field(
        default_factory=dict
    )  # (k, λ) -> unrolled vs Neumann
    reference_unconverged: int = 0
    reference_max_residual: float = math.nan
    jacobian_spectral_radius_max: float = math.nan


def layer_gradient(
    model: DenseClassifier,
    inputs: torch.Tensor,
    labels: torch.Tensor,
    fixed_point: torch.Tensor,
    backward: Backward,
    direction: Direction,
    costs: Costs,
) -> torch.Tensor:
    """∂L/∂(W, U, b) of the cross-entropy on `inputs` under one backward choice, flat."""
    state = attach(
        model.cell,
        model.cell.inject(inputs),
        fixed_point,
        backward,
        direction.reference_solver,
        costs,
    )
    loss = F.cross_entropy(model.head(state), labels)
    return torch.cat(
        [g.flatten() for g in torch.autograd.grad(loss, list(model.cell.parameters()))]
    )


def direction_at(
    model: DenseClassifier, inputs: torch.Tensor, labels: torch.Tensor, direction: Direction
) -> DirectionAt:
    costs = Costs()
    with torch.no_grad():
        fixed_point = solve_forward(
            model.cell, model.cell.inject(inputs), direction.reference_solver, costs
        )
    exact = layer_gradient(model, inputs, labels, fixed_point, Backward("exact"), direction, costs)
    result = DirectionAt(
        reference_unconverged=costs.forward_unconverged + costs.adjoint_unconverged,
        reference_max_residual=max(costs.forward_residuals + costs.adjoint_residuals),
        jacobian_spectral_radius_max=float(
            model.cell.jacobian_spectral_radii(fixed_point[: direction.spectral_samples]).max()
        ),
    )
    trusted = result.reference_unconverged == 0 and bool(torch.isfinite(exact).all())
    for damping in direction.dampings:
        for k in direction.ks:
            phantoms = {
                form: layer_gradient(
                    model,
                    inputs,
                    labels,
                    fixed_point,
                    Backward(form, k, damping),
                    direction,
                    Costs(),
                )
                for form in ("unrolled", "neumann")
            }
            for form, gradient in phantoms.items():
                cosine = float(gradient @ exact / (gradient.norm() * exact.norm()))
                result.cosines[form, k, damping] = cosine if trusted else math.nan
            result.relative_differences[k, damping] = float(
                (phantoms["unrolled"] - phantoms["neumann"]).norm() / phantoms["neumann"].norm()
            )
    return result
