"""Train one variant: every seed of it, in this process (one torch thread, float64 throughout).

One trainer per kind of variant (config.py), chosen by the variant's type; the arrays each returns
are what measurement.py reads back. Sharpness along a trajectory is not computed here but in
measure, from the checkpoints, except where the dynamics themselves need it (the search for the
edge and the projections of θ†).
"""

from __future__ import annotations

import numpy as np
import torch

from ...common.study import Execution, TrainResult
from . import diagonal_net
from .config import (
    CohenGD,
    Config,
    ConstrainedTrajectory,
    DiagonalGD,
    DiagonalSGD,
    GradientFlow,
    SelfStabilizationGD,
    ToyCubicGD,
    Variant,
)
from .constrained_trajectory import constrained_descent
from .cubic_toy import toy_descent
from .descent import EdgeStart, LossOfFlat, Trajectory, checkpoint_steps, descend, run_to_edge
from .objectives import cubic_toy, diagonal_tensors, digits_loss, mlp_of


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


def substeps_per_step(variant: SelfStabilizationGD | ConstrainedTrajectory | GradientFlow) -> int:
    """Gradient evaluations per tracked step: the flow's Euler sub-steps, else one."""
    return variant.substeps if isinstance(variant, GradientFlow) else 1


def track_from_edge(
    loss_of_flat: LossOfFlat,
    config: Config,
    variant: SelfStabilizationGD | ConstrainedTrajectory | GradientFlow,
    start: EdgeStart,
) -> Trajectory:
    """The variant's own dynamics from the edge: GD, θ† (constrained_trajectory.py) or the flow."""
    setup = config.self_stabilization
    if isinstance(variant, ConstrainedTrajectory):
        return constrained_descent(
            loss_of_flat,
            start.theta,
            start.top_vector,
            setup.lr,
            setup.track_steps,
            setup.checkpoint_every,
            variant.projection_steps,
            variant.stop_lambda2_times_lr_over_2,
            setup.lanczos_tolerance,
        )
    return descend(
        loss_of_flat,
        start.theta,
        setup.lr,
        setup.track_steps,
        setup.checkpoint_every,
        substeps_per_step(variant),
    )


def train_self_stabilization(
    config: Config, variant: SelfStabilizationGD | ConstrainedTrajectory | GradientFlow, data
) -> TrainResult:
    """GD from initialisation to the first step with S·η/2 ≥ 1, then `track_steps` steps of GD,
    of θ† or of gradient flow (Damian et al. start all three at that point). A seed whose GD
    never reaches the edge keeps NaN trajectories (edge_reached false)."""
    setup = config.self_stabilization
    loss_of_flat = digits_loss(setup.network, data)
    steps, every = setup.track_steps, setup.checkpoint_every
    unreached = Trajectory(
        np.full(steps + 1, np.nan),
        np.full((len(checkpoint_steps(steps, every)), setup.network.parameter_count), np.nan),
        False,
    )
    runs, starts, run_steps = [], [], 0
    for seed in setup.seeds:
        start = run_to_edge(
            loss_of_flat,
            mlp_of(setup.network).initial(seed),
            setup.lr,
            setup.max_steps_to_edge,
            setup.edge_search_every,
            setup.lanczos_tolerance,
        )
        runs.append(
            track_from_edge(loss_of_flat, config, variant, start) if start.reached else unreached
        )
        starts.append(start)
        run_steps += start.step + (steps * substeps_per_step(variant) if start.reached else 0)
    arrays = {
        "seeds": np.asarray(setup.seeds, np.int64),
        "edge_step": np.asarray([s.step for s in starts], np.int64),
        "edge_reached": np.asarray([s.reached for s in starts]),
        "edge_eigenvalues": np.asarray([s.eigenvalues for s in starts]),
        "losses": np.stack([r.losses for r in runs]),
        "checkpoints": np.stack([r.checkpoints for r in runs]),
        "diverged": np.asarray([r.diverged for r in runs]),
    }
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
    SelfStabilizationGD: train_self_stabilization,
    ConstrainedTrajectory: train_self_stabilization,
    GradientFlow: train_self_stabilization,
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
