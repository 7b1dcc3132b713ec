"""The one-bit error of Sun et al. injected into an optimiser step: the k-scaled update, and SGD
with Nesterov momentum built on it for several copies of a model held side by side.

Sun, Lao, Sundaramoorthi & Yezzi (NeurIPS 2022), §3 and their public code (instability/
PDE_nesterov.py): the update θ ← θ − η·d is computed as

    θ ← θ − (η·k)·(d/k)        with k odd,

equal to the plain step in exact arithmetic but rounded differently, so that a fraction of the
entries of θ move by one unit in the last place. k = 1 is the unperturbed step (bit-for-bit the
plain one); powers of two are exact in binary floating point and would perturb nothing, so they are
refused. Copies of a model that differ only in k are trained in lockstep on identical batches.
"""

from __future__ import annotations

import torch


def check_perturbation(k: int) -> int:
    """k = 1 (no perturbation) or an odd integer >= 3."""
    if isinstance(k, bool) or not isinstance(k, int) or k < 1 or k % 2 == 0:
        raise ValueError(f"perturbation k must be 1 or an odd integer >= 3, got {k!r}")
    return k


def scaled_update_(param: torch.Tensor, direction: torch.Tensor, lr: float, k: int) -> None:
    """In place: param ← param − (lr·k)·(direction/k), the paper's k-scaled step."""
    param.sub_(direction.div(check_perturbation(k)).mul_(lr * k))


def scaled_update_per_copy_(
    param: torch.Tensor, direction: torch.Tensor, lr: float, ks: list[int]
) -> None:
    """`scaled_update_` for a tensor whose leading axis holds len(ks) copies side by side, copy c
    with its own k: bit for bit what `scaled_update_` gives on each copy's slice (k and lr·k enter
    as the same float values a Python scalar would). Any memory layout (channels-last too)."""
    copies = len(ks)
    shape = (copies,) + (1,) * param.dim()  # one factor per copy, broadcast over its entries
    divisors = torch.tensor([check_perturbation(k) for k in ks], dtype=param.dtype).view(shape)
    scales = torch.tensor([lr * k for k in ks], dtype=param.dtype).view(shape)
    step = direction.unflatten(0, (copies, -1)).div(divisors).mul_(scales)
    param.unflatten(0, (copies, -1)).sub_(step)


def nesterov_direction_(
    param: torch.Tensor,
    grad: torch.Tensor,
    buffer: torch.Tensor,
    momentum: float,
    weight_decay: float,
) -> torch.Tensor:
    """PyTorch's SGD direction with Nesterov momentum and L2 weight decay; updates `buffer` in place:
    g ← ∇ + λθ,  b ← μb + g,  d = g + μb."""
    gradient = grad.add(param, alpha=weight_decay)
    buffer.mul_(momentum).add_(gradient)
    return gradient.add(buffer, alpha=momentum)


class PerturbedNesterovSGD:
    """SGD with Nesterov momentum whose step is the k-scaled update, for parameters whose leading
    axis holds one copy per entry of `ks` (one copy: ks = [k]); the step size is given per step
    (a schedule)."""

    def __init__(self, params, momentum: float, weight_decay: float, ks: list[int]):
        self.params = [p for p in params]
        self.momentum, self.weight_decay = momentum, weight_decay
        self.ks = [check_perturbation(k) for k in ks]
        for param in self.params:
            if param.shape[0] % len(self.ks):
                raise ValueError(
                    f"a parameter of shape {tuple(param.shape)} holds no {len(ks)} copies"
                )
        self.buffers = [torch.zeros_like(p) for p in self.params]

    @torch.no_grad()
    def step(self, lr: float) -> None:
        for param, buffer in zip(self.params, self.buffers, strict=True):
            direction = nesterov_direction_(
                param, param.grad, buffer, self.momentum, self.weight_decay
            )
            scaled_update_per_copy_(param, direction, lr, self.ks)

    def zero_grad(self) -> None:
        for param in self.params:
            param.grad = None
