"""An implicit (equilibrium) layer z* = f(z*, x) with a choice of gradient (Geng et al. 2021).

The forward pass solves the fixed point with Anderson acceleration and keeps no graph. What the
backward pass returns for ∂L/∂θ is ∂L/∂z · A · ∂f/∂θ at z*, with
- exact:    A = (I − J)⁻¹, J = ∂f/∂z at z*, by solving the adjoint fixed point g = g·J + ∂L/∂z
            (Anderson on vector-Jacobian products), then one VJP for θ (implicit function theorem);
- unrolled: the phantom gradient (§3, damped unrolling): k damped steps z ← (1 − λ)z + λ f(z, x) from z*
            with autograd on, backpropagated; at an exact fixed point this is
            A = λ Σ_{t<k} ((1 − λ)I + λJ)^t;
- neumann:  the same A as a truncated Neumann series (§3), from k − 1 VJPs at z* and no unrolled
            graph; k = 1, λ = 1 is Jacobian-free backpropagation (A = I);
- none:     A = 0 (k = 0): z* enters the loss as a constant, so no gradient reaches the layer
            (P3's deliberately poor estimator).
`Costs` counts, per call, the machine-independent work: evaluations of f in the forward solve
(no graph), evaluations of f recorded for the backward pass, and VJPs through f in the backward pass
(the adjoint solve's included). Solver residuals and non-convergence are recorded there too.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from .anderson import anderson
from .config import Gradient, NoGradient, PhantomGradient, SolverSettings


@dataclass
class Costs:
    """Work and solver health accumulated over calls (one call: one forward and one backward)."""

    forward_evaluations: int = 0
    backward_graph_evaluations: int = 0
    backward_vjps: int = 0
    forward_unconverged: int = 0
    adjoint_unconverged: int = 0
    forward_residuals: list[float] = field(default_factory=list)
    adjoint_residuals: list[float] = field(default_factory=list)

    @property
    def backward_passes(self) -> int:
        """Passes through f that the backward pass costs: evaluations with graph plus VJPs."""
        return self.backward_graph_evaluations + self.backward_vjps


class Cell(nn.Module):
    """f(z, x) split as the MDEQ code does: `inject(x)` once per input, `step(z, injection)` per iteration."""

    def inject(self, inputs: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def step(self, state: torch.Tensor, injection: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def initial_state(self, injection: torch.Tensor) -> torch.Tensor:
        return torch.zeros_like(injection)


def cosine(a: torch.Tensor, b: torch.Tensor) -> float:
    """The cosine similarity of two flat gradients (the paper's measure of direction)."""
    return float(a @ b / (a.norm() * b.norm()))


def solve_forward(
    cell: Cell, injection: torch.Tensor, settings: SolverSettings, costs: Costs
) -> torch.Tensor:
    """z* by Anderson from z = 0, without a graph."""
    with torch.no_grad():
        frozen = injection.detach()
        solve = anderson(lambda z: cell.step(z, frozen), cell.initial_state(frozen), settings)
    costs.forward_evaluations += solve.evaluations
    costs.forward_unconverged += int(not solve.converged)
    costs.forward_residuals.append(solve.relative_residual)
    return solve.point


def equilibrium(
    cell: Cell,
    inputs: torch.Tensor,
    gradient: Gradient,
    forward_settings: SolverSettings,
    adjoint_settings: SolverSettings,
    costs: Costs,
) -> torch.Tensor:
    """z* (≈ f(z*, x)) attached to the graph so that autograd's ∂L/∂θ is the chosen gradient's."""
    injection = cell.inject(inputs)
    fixed_point = solve_forward(cell, injection, forward_settings, costs)
    return attach(cell, injection, fixed_point, gradient, adjoint_settings, costs)


def attach(
    cell: Cell,
    injection: torch.Tensor,
    fixed_point: torch.Tensor,
    gradient: Gradient,
    adjoint_settings: SolverSettings,
    costs: Costs,
) -> torch.Tensor:
    """The backward-specific part: everything after the forward solve that the chosen gradient costs."""
    if isinstance(gradient, NoGradient):
        return fixed_point.detach()
    if isinstance(gradient, PhantomGradient) and gradient.form == "unrolled":
        state = fixed_point
        for _ in range(gradient.k):
            state = (1.0 - gradient.damping) * state + gradient.damping * cell.step(
                state, injection
            )
        costs.backward_graph_evaluations += gradient.k
        costs.backward_vjps += gradient.k
        return state
    anchor = fixed_point.detach().requires_grad_()
    output = cell.step(anchor, injection)
    costs.backward_graph_evaluations += 1
    costs.backward_vjps += 1  # the VJP that carries A·∂L/∂z to θ

    inner = []  # non-empty while a VJP below differentiates `output`: the hook must then leave J plain

    def vjp(vector: torch.Tensor) -> torch.Tensor:
        """vector · J at z*."""
        inner.append(True)
        try:
            return torch.autograd.grad(output, anchor, vector, retain_graph=True)[0]
        finally:
            inner.pop()

    def exact(upstream: torch.Tensor) -> torch.Tensor:
        solve = anderson(lambda g: vjp(g) + upstream, upstream, adjoint_settings)
        costs.backward_vjps += solve.evaluations
        costs.adjoint_unconverged += int(not solve.converged)
        costs.adjoint_residuals.append(solve.relative_residual)
        return solve.point

    def neumann(upstream: torch.Tensor) -> torch.Tensor:
        """upstream · A with A = λ Σ_{t<k} ((1 − λ)I + λJ)^t, term by term."""
        term, total = upstream, upstream
        for _ in range(gradient.k - 1):
            term = (1.0 - gradient.damping) * term + gradient.damping * vjp(term)
            total = total + term
        costs.backward_vjps += gradient.k - 1
        return gradient.damping * total

    estimate = neumann if isinstance(gradient, PhantomGradient) else exact
    if output.requires_grad:
        output.register_hook(
            lambda upstream: None if inner or upstream is None else estimate(upstream)
        )
    return output
