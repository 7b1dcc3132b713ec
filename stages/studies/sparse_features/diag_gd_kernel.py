"""Compiled CPU kernel for diagonal-net full-batch GD (Andriushchenko et al. 2023, §3), many runs.

The update of the public code's `GD` (diag_nets.py) and of `diag_net.train` (the torch reference,
also the CUDA path): with residuals r = X(u ⊙ v) − y and Xerr = Xᵀ r,
    u ← u − γ_t (Xerr ⊙ v)/n,   v ← v − γ_t (Xerr ⊙ u)/n     (both from the old u, v)
in the public code's order of operations; the torch reference divides Xerr by n first, so the two
agree to rounding. The residual's dot products use diag_sgd_kernel's four interleaved partial sums;
Xerr sums over the examples in order. No fast-math: reruns are bit-identical.

Runs are described by indices, as in diag_sgd_kernel: run r trains on data set `data_of_run[r]`
and follows step-size column `rate_of_run[r]`. Divergence follows batched_snapshots.py (recorded
beta non-finite or above the threshold: NaN from that evaluation step on, the step kept).
"""

from __future__ import annotations

import numba
import numpy as np

from .diag_sgd_kernel import dot_uv, launch, record_beta


@numba.njit(nogil=True)
def gd_runs(
    x, y, data_of_run, rates, rate_of_run, init_scale, eval_steps, threshold, beta, diverged_step
):
    """Train every run; fills beta (runs, len(eval_steps), d) and diverged_step (runs,; −1 if never)."""
    runs = data_of_run.shape[0]
    steps = rates.shape[0]
    examples, dim = x.shape[1], x.shape[2]
    u = np.empty(dim)
    v = np.empty(dim)
    residual = np.empty(examples)
    xerr = np.empty(dim)
    for run in range(runs):
        data, schedule = data_of_run[run], rate_of_run[run]
        u[:] = init_scale
        v[:] = 0.0
        evaluation = 0
        for step in range(steps + 1):
            if evaluation < eval_steps.shape[0] and eval_steps[evaluation] == step:
                if record_beta(u, v, beta[run, evaluation], threshold):
                    diverged_step[run] = step
                    beta[run, evaluation:] = np.nan
                    break
                evaluation += 1
            if step == steps:
                break
            for i in range(examples):
                residual[i] = dot_uv(u, v, x[data, i]) - y[data, i]
            xerr[:] = 0.0
            for i in range(examples):
                for j in range(dim):
                    xerr[j] += x[data, i, j] * residual[i]
            rate = rates[step, schedule]
            for j in range(dim):
                u_old = u[j]
                u[j] = u_old - rate * ((xerr[j] * v[j]) / examples)
                v[j] = v[j] - rate * ((xerr[j] * u_old) / examples)


def train(
    x: np.ndarray,
    y: np.ndarray,
    data_of_run: np.ndarray,
    rates: np.ndarray,
    rate_of_run: np.ndarray,
    init_scale: float,
    eval_steps: np.ndarray,
    divergence_threshold: float,
) -> dict[str, np.ndarray]:
    """x (S, n, d), y (S, n); rates (T, R) step sizes; `data_of_run` and `rate_of_run` (runs,) pick
    a data set and a rate column per run. Returns beta (runs, len(eval_steps), d), diverged (runs,)
    and diverged_step (runs,; −1 if never)."""
    schedule = (
        np.asarray(data_of_run, dtype=np.int64),
        np.ascontiguousarray(rates, dtype=np.float64),
        np.asarray(rate_of_run, dtype=np.int64),
    )
    return launch(gd_runs, x, y, schedule, init_scale, eval_steps, divergence_threshold)
