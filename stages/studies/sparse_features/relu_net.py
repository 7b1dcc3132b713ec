"""Two-layer ReLU network without biases, f(x) = Σ_j a_j ReLU(<w_j, x>), trained by SGD with
batch 1 on the teacher-student task of Andriushchenko et al. 2023 (§4.1; public notebook
fc_nets_two_layer.ipynb), all seeds in one tensor program.

Loss: mean squared error without ½, L = mean_i (f(x_i) − y_i)² (as the public code). Gradients of
one example with residual r = f(x) − y:  ∇_a = 2r ReLU(Wx),  ∇_W = 2r (a ⊙ 1[Wx > 0]) xᵀ, the
gradients torch's autograd gives the public code (its ReLU passes no gradient at 0). Initialisation
(public code): W = init_scale·N(0, 1), a = 0. Precision: float32 as the public code (torch's default
dtype), or float64.
"""

from __future__ import annotations

import numpy as np
import torch

from .batched_snapshots import SnapshotRecorder


def gradients(
    hidden: torch.Tensor, output: torch.Tensor, inputs: torch.Tensor, targets: torch.Tensor
):
    """Gradients of mean_b (f(x_b) − y_b)² with respect to (hidden, output), per run."""
    pre_activation = torch.einsum("rmd,rbd->rbm", hidden, inputs)
    activation = torch.relu(pre_activation)
    residual = torch.einsum("rbm,rm->rb", activation, output) - targets
    scale = 2.0 * residual / inputs.shape[1]
    grad_output = torch.einsum("rb,rbm->rm", scale, activation)
    gate = (pre_activation > 0).to(hidden.dtype) * output[:, None, :]
    grad_hidden = torch.einsum("rb,rbm,rbd->rmd", scale, gate, inputs)
    return grad_hidden, grad_output


def train(
    x_train: np.ndarray,
    y_train: np.ndarray,
    rates: np.ndarray,
    sample_indices: np.ndarray,
    initial_hidden: np.ndarray,
    eval_steps: np.ndarray,
    divergence_threshold: float,
    device: str = "cpu",
    dtype: torch.dtype = torch.float64,
) -> dict[str, np.ndarray]:
    """SGD with batch 1 for every run in lockstep, in `dtype`; records (hidden, output) at
    `eval_steps` (as float64 arrays of the `dtype` values).

    Divergence handling: see batched_snapshots.py.
    """
    x = torch.as_tensor(x_train, device=device).to(dtype)
    y = torch.as_tensor(y_train, device=device).to(dtype)
    hidden = torch.as_tensor(initial_hidden, device=device).to(dtype).clone()
    runs, width, _ = hidden.shape
    output = torch.zeros((runs, width), dtype=dtype, device=device)
    rates = torch.as_tensor(np.asarray(rates), device=device).to(dtype)  # (T,) or (T, runs)
    recorder = SnapshotRecorder(runs, eval_steps, divergence_threshold, device, dtype)
    order = torch.as_tensor(sample_indices, dtype=torch.long, device=device)
    run_index = torch.arange(runs, device=device)
    for step in range(len(rates) + 1):
        if recorder.due(step):
            recorder.record(step, hidden=hidden, output=output)
        if step == len(rates):
            break
        picked = order[step]
        grad_hidden, grad_output = gradients(
            hidden, output, x[run_index, picked][:, None, :], y[run_index, picked][:, None]
        )
        rate = rates[step] * recorder.alive
        hidden = hidden - rate[:, None, None] * grad_hidden
        output = output - rate[:, None] * grad_output
    return recorder.result()
