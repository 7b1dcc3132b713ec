"""Train one variant: every seed of it, in this process (one torch thread, float64 throughout).

One trainer per kind of variant (config.py), chosen by the variant's type; the arrays each returns
are what measurement.py reads back. Sharpness along a trajectory is not computed here but in
measure, from the checkpoints, except where the dynamics themselves need it (the search for the
edge and the tracking from it, tracking.py).
"""

from __future__ import annotations

import numpy as np
import torch

from ...common.study import Execution, TrainResult
from . import diagonal_net
from .config import (
    CohenGD,
    Config,
    DiagonalGD,
    DiagonalSGD,
    SelfStabilizationTracking,
    ToyCubicGD,
    Variant,
)
from .cubic_toy import toy_descent
from .descent import descend, run_to_edge
from .objectives import cubic_toy, diagonal_tensors, digits_loss, mlp_of
from .tracking import track_from_edge, untracked


def train_cohen_gd(config: Config, variant: CohenGD, data) -> TrainResult:
    """Full-batch GD from PyTorch's default initialisation, one run per seed (Cohen et al. §3)."""
    setup = config.cohen_gd
    loss_of_flat = digits_loss(setup.network, data)
    runs = [
        descend(
            loss_of_flat,
            mlp_of(setup.network).initial(seed),
            variant.lr,
            variant.steps,
            variant.checkpoint_every,
        )
        for seed in setup.seeds
    ]
    arrays = {
        "seeds": np.asarray(setup.seeds, np.int64),
        "losses": np.stack([r.losses for r in runs]),
        "checkpoints": np.stack([r.checkpoints for r in runs]),
        "diverged": np.asarray([r.diverged for r in runs]),
    }
    return TrainResult(arrays, run_steps=variant.steps * len(setup.seeds), runs=len(setup.seeds))


def train_self_stabilization(
    config: Config, variant: SelfStabilizationTracking, data
) -> TrainResult:
    """GD from initialisation to the first step with S·η/2 ≥ 1, then the tracking loop from there
    (tracking.py; Damian et al. start every trajectory at that point). A seed whose GD never
    reaches the edge keeps NaN arrays (edge_reached false). run_steps counts the GD steps."""
    setup = config.self_stabilization
    loss_of_flat = digits_loss(setup.network, data)
    tracked, starts = [], []
    for seed in setup.seeds:
        start = run_to_edge(
            loss_of_flat,
            mlp_of(setup.network).initial(seed),
            setup.lr,
            setup.max_steps_to_edge,
            setup.edge_search_every,
            setup.lanczos_tolerance,
        )
        tracked.append(
            track_from_edge(loss_of_flat, start, setup.lr, variant, setup.lanczos_tolerance)
            if start.reached
            else untracked(variant, setup.network.parameter_count)
        )
        starts.append(start)
    arrays = {
        "seeds": np.asarray(setup.seeds, np.int64),
        "edge_step": np.asarray([s.step for s in starts], np.int64),
        "edge_reached": np.asarray([s.reached for s in starts]),
        "edge_eigenvalues": np.asarray([s.eigenvalues for s in starts]),
        **{name: np.stack([run[name] for run in tracked]) for name in tracked[0]},
    }
    run_steps = sum(s.step + (variant.track_steps if s.reached else 0) for s in starts)
    return TrainResult(arrays, run_steps=run_steps, runs=len(setup.seeds))


def train_toy(config: Config, variant: ToyCubicGD, data) -> TrainResult:
    """GD on the cubic toy from y0 = 0 (S ≈ a, below 2/η) and x0 ~ U(−s, s) drawn from each seed."""
    setup = config.toy_cubic
    x0 = np.asarray(
        [
            np.random.default_rng(seed).uniform(-1.0, 1.0) * setup.initial_x_scale
            for seed in setup.seeds
        ]
    )
    xs, ys = toy_descent(cubic_toy(setup), variant.lr, x0, np.zeros_like(x0), variant.steps)
    arrays = {"seeds": np.asarray(setup.seeds, np.int64), "x": xs, "y": ys}
    return TrainResult(arrays, run_steps=variant.steps * len(setup.seeds), runs=len(setup.seeds))


def descend_diagonal(
    config: Config, data, lrs: list[float], seeds: list[int], indices: torch.Tensor, steps: int
) -> TrainResult:
    """Runs of the diagonal net from u = v = init_scale·1, one per (η, seed), as one tensor program."""
    inputs, targets = diagonal_tensors(data)
    theta = diagonal_net.descend(
        diagonal_net.initial(len(lrs), inputs.shape[1], config.diagonal_net.init_scale),
        torch.tensor(lrs, dtype=torch.float64),
        inputs,
        targets,
        indices,
    )
    arrays = {
        "seeds": np.asarray(seeds, np.int64),
        "lrs": np.asarray(lrs),
        "final_theta": theta.numpy(),
    }
    return TrainResult(arrays, run_steps=steps * len(lrs), runs=len(lrs))


def train_diagonal_sgd(config: Config, variant: DiagonalSGD, data) -> TrainResult:
    """SGD: all (η, seed) runs at once; seed k's batch order is the same at every η."""
    seeds = variant.run_seeds(config.first_seed)
    examples = len(data["diagonal_targets"])
    indices = diagonal_net.sample_indices(seeds, variant.steps, variant.batch, examples)
    return descend_diagonal(config, data, variant.run_lrs(), seeds, indices, variant.steps)


def train_diagonal_gd(config: Config, variant: DiagonalGD, data) -> TrainResult:
    """GD: one run per η (from u = v = init_scale·1 GD is deterministic; its seed is 0)."""
    examples = len(data["diagonal_targets"])
    runs = len(variant.lrs)
    indices = diagonal_net.full_batch_indices(runs, variant.steps, examples)
    return descend_diagonal(config, data, list(variant.lrs), [0] * runs, indices, variant.steps)


TRAINERS = {
    CohenGD: train_cohen_gd,
    SelfStabilizationTracking: train_self_stabilization,
    ToyCubicGD: train_toy,
    DiagonalSGD: train_diagonal_sgd,
    DiagonalGD: train_diagonal_gd,
}


def train(
    config: Config,
    variant_name: str,
    data: dict[str, np.ndarray],
    *,
    probe,
    execution: Execution,
    reads,
) -> TrainResult:
    """The skeleton's train: the variant's kind picks the trainer (one process)."""
    variant: Variant = config.variants[variant_name]
    return TRAINERS[type(variant)](config, variant, data)
