"""Diagonal linear network beta = u ⊙ v trained by SGD (batch 1) or full-batch GD, all runs in one
tensor program with a leading run dimension (Andriushchenko et al. 2023, §3; float64 as in the
public code).

Per-example loss l_i = ½ (<u ⊙ v, x_i> − y_i)²; training loss L = (1/n) Σ_i l_i = ||X beta − y||²/(2n).
Gradients (eq. for the diagonal net in §3): with residual r_i = <u ⊙ v, x_i> − y_i,
    ∇_u l_i = r_i x_i ⊙ v,   ∇_v l_i = r_i x_i ⊙ u,
and GD uses the mean over i. Initialisation u0 = init_scale·1, v0 = 0 (public code).
"""

from __future__ import annotations

import numpy as np
import torch

from .batched_snapshots import SnapshotRecorder


def diag_net_gradients(
    u: torch.Tensor, v: torch.Tensor, inputs: torch.Tensor, targets: torch.Tensor
):
    """Gradients of L = mean_i ½(<u⊙v, x_i> − y_i)² for runs stacked on the leading axis.

    u, v: (runs, d); inputs: (runs, batch, d); targets: (runs, batch).
    """
    residual = torch.einsum("rbd,rd->rb", inputs, u * v) - targets
    correlation = torch.einsum("rb,rbd->rd", residual, inputs) / inputs.shape[1]
    return correlation * v, correlation * u


def train(
    x_train: np.ndarray,
    y_train: np.ndarray,
    rates: np.ndarray,
    optimizer: str,
    sample_indices: np.ndarray | None,
    init_scale: float,
    eval_steps: np.ndarray,
    divergence_threshold: float,
    device: str = "cpu",
) -> dict[str, np.ndarray]:
    """Run every seed's training in lockstep.

    x_train (runs, n, d), y_train (runs, n); rates (T,); sample_indices (T, runs) for SGD;
    eval_steps: sorted steps in [0, T] at which beta = u ⊙ v is recorded (after that many updates).
    Divergence handling: see batched_snapshots.py.
    Returns beta (runs, len(eval_steps), d), diverged (runs,), diverged_step (runs,; −1 if never).
    """
    x = torch.as_tensor(x_train, dtype=torch.float64, device=device)
    y = torch.as_tensor(y_train, dtype=torch.float64, device=device)
    runs, _, dim = x.shape
    u = torch.full((runs, dim), init_scale, dtype=torch.float64, device=device)
    v = torch.zeros((runs, dim), dtype=torch.float64, device=device)
    rates = torch.as_tensor(
        np.asarray(rates), dtype=torch.float64, device=device
    )  # (T,) or per run (T, runs)
    recorder = SnapshotRecorder(runs, eval_steps, divergence_threshold, device)
    run_index = torch.arange(runs, device=device)
    order = (
        torch.as_tensor(sample_indices, dtype=torch.long, device=device)
        if optimizer == "sgd"
        else None
    )
    for step in range(len(rates) + 1):
        if recorder.due(step):
            recorder.record(step, beta=u * v)
        if step == len(rates):
            break
        if order is not None:
            picked = order[step]
            grad_u, grad_v = diag_net_gradients(
                u, v, x[run_index, picked][:, None, :], y[run_index, picked][:, None]
            )
        else:
            grad_u, grad_v = diag_net_gradients(u, v, x, y)
        rate = (rates[step] * recorder.alive)[:, None]
        u, v = u - rate * grad_u, v - rate * grad_v
    return recorder.result()
