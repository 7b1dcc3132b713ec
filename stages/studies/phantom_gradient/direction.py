"""P1: how well each phantom gradient points where the exact implicit gradient points.

At a saved parameter vector, on a fixed batch of training digits: the fixed point and the exact
gradient ∂L/∂(W, U, b) of the implicit layer, both solved to the reference tolerance (float64), then
the unrolled and the Neumann phantom gradient for every (k, λ) of the grid from the same fixed point.
Reported: the cosine of each with the exact gradient (the paper's measure of direction), the relative
difference ‖unrolled − Neumann‖ / ‖Neumann‖ (the two forms agree to rounding at an exact fixed point),
the reference solves' health, and ρ(J) = ρ(diag(1 − z*²) W) on a few examples. Where a reference
solve missed its tolerance (ρ(J) near or above 1), the cosines and the forms' difference are NaN:
without a fixed point the comparison is void (the study notes' pitfall), and the checks count the
seed as lost. The head's gradient,
identical for every estimator, is left out of the cosines.

P1's control: for every k of the grid, a random direction (standard normal over the same parameters,
drawn from the seed, the epoch and k) in place of the phantom gradient, and its cosine with the exact
gradient. It carries no information about the exact gradient, so its cosine is near 0 (about
±1/√(parameters)) and does not rise with k.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from .config import PHANTOM_FORMS, DirectionGrid, ExactGradient, Gradient, PhantomGradient
from .implicit_layer import Costs, attach, cosine, solve_forward
from .models import DenseClassifier


@dataclass
class DirectionAt:
    """What P1 measures at one checkpoint."""

    reference_unconverged: int  # reference solves (forward and adjoint) that missed their tolerance
    reference_max_residual: float  # their largest relative residual ‖f(z) − z‖ / ‖f(z)‖
    jacobian_spectral_radius_max: float  # largest ρ(J) over the sampled examples
    # cosine with the exact gradient per phantom gradient of the grid (NaN: untrusted reference)
    cosines: dict[PhantomGradient, float] = field(default_factory=dict)
    # ‖unrolled − Neumann‖ / ‖Neumann‖ per (k, λ) of the grid (NaN: the two are equal only at an
    # exact fixed point, so an unconverged reference forward solve voids the comparison)
    relative_differences: dict[tuple[int, float], float] = field(default_factory=dict)
    # cosine with the exact gradient of a random direction drawn for each k of the grid (the control)
    random_cosines: dict[int, float] = field(default_factory=dict)


def layer_gradient(
    model: DenseClassifier,
    inputs: torch.Tensor,
    labels: torch.Tensor,
    fixed_point: torch.Tensor,
    gradient: Gradient,
    direction: DirectionGrid,
    costs: Costs,
) -> torch.Tensor:
    """∂L/∂(W, U, b) of the cross-entropy on `inputs` under one gradient, flat."""
    state = attach(
        model.cell,
        model.cell.inject(inputs),
        fixed_point,
        gradient,
        direction.reference_solver,
        costs,
    )
    loss = F.cross_entropy(model.head(state), labels)
    return torch.cat(
        [g.flatten() for g in torch.autograd.grad(loss, list(model.cell.parameters()))]
    )


def random_direction(like: torch.Tensor, draw: Sequence[int]) -> torch.Tensor:
    """A standard normal direction shaped as `like`, from the integers in `draw` (seed, epoch, k)."""
    values = np.random.default_rng(list(draw)).standard_normal(like.numel())
    return torch.as_tensor(values, dtype=like.dtype)


def direction_at(
    model: DenseClassifier,
    inputs: torch.Tensor,
    labels: torch.Tensor,
    direction: DirectionGrid,
    draw: Sequence[int],
) -> DirectionAt:
    """P1 at the model's parameters: every phantom gradient of the grid against the exact one, and
    the control's random directions (drawn from `draw` + (k,): the seed and the checkpoint epoch)."""
    costs = Costs()
    with torch.no_grad():
        fixed_point = solve_forward(
            model.cell, model.cell.inject(inputs), direction.reference_solver, costs
        )
    exact = layer_gradient(model, inputs, labels, fixed_point, ExactGradient(), direction, costs)
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
            phantoms = [PhantomGradient(form, k, damping) for form in PHANTOM_FORMS]
            gradients = [
                layer_gradient(model, inputs, labels, fixed_point, phantom, direction, Costs())
                for phantom in phantoms
            ]
            for phantom, gradient in zip(phantoms, gradients, strict=True):
                result.cosines[phantom] = cosine(gradient, exact) if trusted else math.nan
            unrolled, neumann = gradients
            difference = float((unrolled - neumann).norm() / neumann.norm())
            result.relative_differences[k, damping] = difference if trusted else math.nan
    for k in direction.ks:
        random = random_direction(exact, (*draw, k))
        result.random_cosines[k] = cosine(random, exact) if trusted else math.nan
    return result
