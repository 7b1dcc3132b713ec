"""Compiled CPU kernel for diagonal-net SGD with batch 1 (Andriushchenko et al. 2023, §3), many runs.

The same update as `diag_net.train` (the torch reference, also the CUDA path), one example per step:
    r = <u ⊙ v, x_i> − y_i,   u ← u − γ_t (r x_i) ⊙ v,   v ← v − γ_t (r x_i) ⊙ u
with every product taken in the reference's order, so the two agree to rounding; only the dot
product's summation order differs (four interleaved partial sums here, which also breaks the
dependency chain of a sequential sum). No fast-math: the compiled code fixes the order of every
operation, so reruns are bit-identical.

Runs are described by indices instead of copies: run r trains on data set `data_of_run[r]` (rows
of x, y), visits examples in the order column `order_of_run[r]` and follows step-size column
`rate_of_run[r]`. A probe of G step sizes × S data sets × O orders then holds S data sets, O
orders and G rate columns in memory, not G·S·O copies of each.

Divergence follows batched_snapshots.py: at each evaluation step beta = u ⊙ v is recorded;
a run whose recorded beta has a non-finite entry or one above the threshold in absolute value is
diverged from that step on: its snapshots from there are NaN, the step is kept, and it stops
training (the reference freezes it with a zero step, which leaves the same snapshots).

The compiled code is cached on disk (numba's cache=True, in __pycache__ beside this file): compiling
`sgd_runs` took 2.3 s of one core in every stage that runs it, loading it takes a fraction of that.
numba keys the cache on this file's modification time and size and on the CPU, and every function
the kernel calls is in this file, so an edit here recompiles. diag_gd_kernel.gd_runs is not
cached: it calls functions of this file, and numba would not see an edit to them.
"""

from __future__ import annotations

import numba
import numpy as np

PARTIAL_SUMS = 4


@numba.njit(nogil=True, cache=True)
def dot_uv(u, v, row):
    """<u ⊙ v, row> as four interleaved partial sums added pairwise (fixed order)."""
    dim = u.shape[0]
    s0 = s1 = s2 = s3 = 0.0
    i = 0
    while i + PARTIAL_SUMS <= dim:
        s0 += row[i] * (u[i] * v[i])
        s1 += row[i + 1] * (u[i + 1] * v[i + 1])
        s2 += row[i + 2] * (u[i + 2] * v[i + 2])
        s3 += row[i + 3] * (u[i + 3] * v[i + 3])
        i += PARTIAL_SUMS
    while i < dim:
        s0 += row[i] * (u[i] * v[i])
        i += 1
    return (s0 + s1) + (s2 + s3)


@numba.njit(nogil=True, cache=True)
def record_beta(u, v, out, threshold):
    """Write beta = u ⊙ v into `out`; True when the run has diverged (non-finite or above threshold)."""
    bad = False
    for i in range(u.shape[0]):
        value = u[i] * v[i]
        out[i] = value
        if not abs(value) <= threshold:  # also true for NaN
            bad = True
    return bad


@numba.njit(nogil=True, cache=True)
def sgd_runs(
    x,
    y,
    data_of_run,
    order,
    order_of_run,
    rates,
    rate_of_run,
    init_scale,
    eval_steps,
    threshold,
    beta,
    diverged_step,
):
    """Train every run; fills beta (runs, len(eval_steps), d) and diverged_step (runs,; −1 if never)."""
    runs = data_of_run.shape[0]
    steps = rates.shape[0]
    dim = x.shape[2]
    u = np.empty(dim)
    v = np.empty(dim)
    for run in range(runs):
        data, column, schedule = data_of_run[run], order_of_run[run], rate_of_run[run]
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
            example = order[step, column]
            row = x[data, example]
            residual = dot_uv(u, v, row) - y[data, example]
            rate = rates[step, schedule]
            for i in range(dim):
                correlation = residual * row[i]
                u_old = u[i]
                u[i] = u_old - rate * (correlation * v[i])
                v[i] = v[i] - rate * (correlation * u_old)


def train(
    x: np.ndarray,
    y: np.ndarray,
    data_of_run: np.ndarray,
    order: np.ndarray,
    order_of_run: np.ndarray,
    rates: np.ndarray,
    rate_of_run: np.ndarray,
    init_scale: float,
    eval_steps: np.ndarray,
    divergence_threshold: float,
) -> dict[str, np.ndarray]:
    """x (S, n, d), y (S, n); order (T, O) example indices; rates (T, R) step sizes; the three
    `*_of_run` arrays (runs,) pick a data set, an order column and a rate column per run.
    Returns beta (runs, len(eval_steps), d), diverged (runs,), diverged_step (runs,; −1 if never)."""
    schedule = (
        np.asarray(data_of_run, dtype=np.int64),
        np.ascontiguousarray(order, dtype=np.int64),
        np.asarray(order_of_run, dtype=np.int64),
        np.ascontiguousarray(rates, dtype=np.float64),
        np.asarray(rate_of_run, dtype=np.int64),
    )
    return launch(sgd_runs, x, y, schedule, init_scale, eval_steps, divergence_threshold)


def launch(
    kernel,
    x: np.ndarray,
    y: np.ndarray,
    schedule: tuple[np.ndarray, ...],
    init_scale: float,
    eval_steps: np.ndarray,
    divergence_threshold: float,
) -> dict[str, np.ndarray]:
    """Run `kernel` (sgd_runs, or diag_gd_kernel.gd_runs) on contiguous float64 data, with its
    per-run `schedule` arrays (data_of_run first) in its own argument order and its outputs
    allocated here. Returns beta (runs, len(eval_steps), d), diverged (runs,), diverged_step
    (runs,; −1 if never)."""
    runs = len(schedule[0])
    eval_steps = np.ascontiguousarray(eval_steps, dtype=np.int64)
    beta = np.empty((runs, len(eval_steps), x.shape[2]))
    diverged_step = np.full(runs, -1, dtype=np.int64)
    kernel(
        np.ascontiguousarray(x, dtype=np.float64),
        np.ascontiguousarray(y, dtype=np.float64),
        *schedule,
        float(init_scale),
        eval_steps,
        float(divergence_threshold),
        beta,
        diverged_step,
    )
    return {"beta": beta, "diverged": diverged_step >= 0, "diverged_step": diverged_step}
