"""Anderson acceleration for the fixed points of an implicit layer (forward z = f(z, x) and adjoint
g = g·J + v), batched over examples.

Walker & Ni (2011), type-II Anderson with memory m: with G_i = f(z_i) − z_i for the last m iterates,
choose α (Σα = 1) minimising ‖Σ α_i G_i‖² (+ a small ridge), and set z ← Σ α_i f(z_i). Each example
has its own α (a batched (m+1)×(m+1) solve), as in the DEQ code. The residual reported is the
relative one of the whole batch, ‖f(z) − z‖ / ‖f(z)‖ (Frobenius), as the paper's code reports it.
A solve that reaches `max_iterations` without meeting the tolerance is returned with
converged = False: callers record it, never hide it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from .config import SolverSettings

# relative to the mean diagonal of GGᵀ: keeps the small solve regular at tight tolerances
RIDGE = 1e-10


@dataclass(frozen=True)
class Solve:
    """The fixed point found and what it cost; evaluations count calls of the map."""

    point: torch.Tensor
    relative_residual: float
    evaluations: int
    converged: bool


def relative_residual(mapped: torch.Tensor, point: torch.Tensor) -> float:
    scale = float(mapped.norm())
    difference = float((mapped - point).norm())
    return difference / scale if scale > 0 else difference


def anderson(
    fixed_map: Callable[[torch.Tensor], torch.Tensor], start: torch.Tensor, settings: SolverSettings
) -> Solve:
    """Fixed point of `fixed_map` from `start` (shape (n, ...): n independent problems)."""
    shape, batch = start.shape, start.shape[0]
    flat = lambda t: t.reshape(batch, -1)  # noqa: E731
    memory = settings.memory
    iterates = torch.zeros(batch, memory, start[0].numel(), dtype=start.dtype, device=start.device)
    images = torch.zeros_like(iterates)
    iterates[:, 0] = flat(start)
    images[:, 0] = flat(fixed_map(start))
    evaluations = 1
    residual = relative_residual(images[:, 0], iterates[:, 0])
    newest = 0
    while residual > settings.tolerance and evaluations < settings.max_iterations:
        used = min(evaluations, memory)
        if used == 1:
            proposal = images[:, 0]
        else:
            gaps = images[:, :used] - iterates[:, :used]
            gram = gaps @ gaps.transpose(1, 2)
            ridge = RIDGE * gram.diagonal(dim1=1, dim2=2).mean(dim=1).clamp_min(
                torch.finfo(start.dtype).tiny
            )
            gram = gram + ridge[:, None, None] * torch.eye(
                used, dtype=start.dtype, device=start.device
            )
            bordered = torch.zeros(
                batch, used + 1, used + 1, dtype=start.dtype, device=start.device
            )
            bordered[:, 0, 1:] = bordered[:, 1:, 0] = 1.0
            bordered[:, 1:, 1:] = gram
            target = torch.zeros(batch, used + 1, 1, dtype=start.dtype, device=start.device)
            target[:, 0] = 1.0
            weights = torch.linalg.solve(bordered, target)[:, 1:]  # α, (n, used, 1), Σα = 1
            proposal = (weights * images[:, :used]).sum(dim=1)
        newest = evaluations % memory
        iterates[:, newest] = proposal
        images[:, newest] = flat(fixed_map(proposal.reshape(shape)))
        evaluations += 1
        residual = relative_residual(images[:, newest], iterates[:, newest])
    return Solve(
        images[:, newest].reshape(shape), residual, evaluations, residual <= settings.tolerance
    )
