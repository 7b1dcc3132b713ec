"""Train one variant: every seed of it, in this process (one torch thread, float64 throughout).

Each kind of variant (see config.py) has one function here; the arrays it returns are what
measurement.py reads back. Sharpness along a trajectory is not computed here but in measure, from
the checkpoints, except where the dynamics themselves need it (the search for the edge and the
projections of θ†).
"""
from __future__ import annotations

import numpy as np
import torch

from stages.common.study import Execution, TrainResult

from . import diagonal
from .config import Config, DiagonalGD, DiagonalSGD, EdgeRun, GradientDescent, Network, Toy
from .constrained import constrained_descent
from .data import half_square_loss, one_hot
from .descent import EdgeStart, LossOfFlat, Trajectory, checkpoint_steps, descend, run_to_edge
from .toy import CubicToy, toy_descent


def digits_loss(network: Network, data: dict[str, np.ndarray]) -> LossOfFlat:
    """θ -> Cohen's ½-square loss of the MLP on the first `network.examples` digits."""
    inputs = torch.as_tensor(data["digits_inputs"][:network.examples])
    targets = torch.as_tensor(one_hot(data["digits_labels"][:network.examples]))
    mlp = network.mlp
    return lambda theta: half_square_loss(mlp.outputs(theta, inputs), targets)


def train_gd(config: Config, variant: GradientDescent, data) -> TrainResult:
    """Full-batch GD from PyTorch's default initialisation, one run per seed (Cohen et al. §3)."""
    loss_of_flat = digits_loss(variant.network, data)
    runs = [descend(loss_of_flat, variant.network.mlp.initial(seed), variant.lr, variant.steps,
                    variant.checkpoint_every) for seed in variant.seeds]
    arrays = {"seeds": np.asarray(variant.seeds, np.int64),
              "losses": np.stack([r.losses for r in runs]),
              "checkpoints": np.stack([r.checkpoints for r in runs]),
              "diverged": np.asarray([r.diverged for r in runs])}
    return TrainResult(arrays, run_steps=variant.steps * len(variant.seeds), runs=len(variant.seeds))


def track_from_edge(loss_of_flat: LossOfFlat, variant: EdgeRun, start: EdgeStart, tolerance: float) -> Trajectory:
    """The variant's own dynamics from the edge: GD, θ† (constrained.py) or gradient flow."""
    if variant.kind == "edge_constrained":
        return constrained_descent(loss_of_flat, start.theta, start.top_vector, variant.lr, variant.track_steps,
                                   variant.checkpoint_every, variant.projection_steps,
                                   variant.stop_lambda2_times_lr_over_2, tolerance)
    substeps = variant.substeps if variant.kind == "edge_flow" else 1
    return descend(loss_of_flat, start.theta, variant.lr, variant.track_steps, variant.checkpoint_every, substeps)


def train_edge(config: Config, variant: EdgeRun, data) -> TrainResult:
    """GD from initialisation to the first step with S·η/2 ≥ 1, then `track_steps` steps of GD,
    of the constrained trajectory θ†, or of gradient flow (Damian et al. §6 start all three at
    that point). A seed whose GD never reaches the edge keeps NaN trajectories (edge_reached 0)."""
    loss_of_flat = digits_loss(variant.network, data)
    tolerance = config.sharpness.lanczos_tolerance
    mlp, steps, every = variant.network.mlp, variant.track_steps, variant.checkpoint_every
    unreached = Trajectory(np.full(steps + 1, np.nan),
                           np.full((len(checkpoint_steps(steps, every)), mlp.parameter_count), np.nan), False)
    runs, starts, run_steps = [], [], 0
    for seed in variant.seeds:
        start = run_to_edge(loss_of_flat, mlp.initial(seed), variant.lr, variant.max_steps_to_edge,
                            variant.edge_search_every, tolerance)
        runs.append(track_from_edge(loss_of_flat, variant, start, tolerance) if start.reached else unreached)
        starts.append(start)
        run_steps += start.step + (steps * max(1, variant.substeps) if start.reached else 0)
    arrays = {"seeds": np.asarray(variant.seeds, np.int64),
              "edge_step": np.asarray([s.step for s in starts], np.int64),
              "edge_reached": np.asarray([s.reached for s in starts]),
              "losses": np.stack([r.losses for r in runs]),
              "checkpoints": np.stack([r.checkpoints for r in runs]),
              "diverged": np.asarray([r.diverged for r in runs])}
    return TrainResult(arrays, run_steps=run_steps, runs=len(variant.seeds))


def toy_model(variant: Toy) -> CubicToy:
    return CubicToy(variant.a, variant.b, variant.alpha, variant.epsilon)


def train_toy(config: Config, variant: Toy, data) -> TrainResult:
    """GD on the cubic toy from y0 = 0 (S ≈ a, below 2/η) and x0 ~ U(−s, s) drawn from each seed."""
    x0 = np.asarray([np.random.default_rng(seed).uniform(-1.0, 1.0) * variant.initial_x_scale
                     for seed in variant.seeds])
    xs, ys = toy_descent(toy_model(variant), variant.lr, x0, np.zeros_like(x0), variant.steps)
    arrays = {"seeds": np.asarray(variant.seeds, np.int64), "x": xs, "y": ys}
    return TrainResult(arrays, run_steps=variant.steps * len(variant.seeds), runs=len(variant.seeds))


def diagonal_tensors(data) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.as_tensor(data["diagonal_inputs"]), torch.as_tensor(data["diagonal_targets"])


def train_diagonal_sgd(config: Config, variant: DiagonalSGD, data) -> TrainResult:
    """All (η, seed) runs of SGD as one tensor program; run r has seed r (its batch order)."""
    inputs, targets = diagonal_tensors(data)
    lrs = variant.run_lrs()
    seeds = list(range(len(lrs)))
    indices = diagonal.sample_indices(seeds, variant.steps, variant.batch, len(targets))
    theta = diagonal.descend(diagonal.initial(len(lrs), inputs.shape[1], variant.init_scale),
                             torch.tensor(lrs, dtype=torch.float64), inputs, targets, indices)
    arrays = {"seeds": np.asarray(seeds, np.int64), "lrs": np.asarray(lrs), "final_theta": theta.numpy()}
    return TrainResult(arrays, run_steps=variant.steps * len(lrs), runs=len(lrs))


def train_diagonal_gd(config: Config, variant: DiagonalGD, data) -> TrainResult:
    """One full-batch GD run (GD from u = v = init_scale·1 is deterministic: one seed, 0)."""
    inputs, targets = diagonal_tensors(data)
    theta = diagonal.descend(diagonal.initial(1, inputs.shape[1], variant.init_scale),
                             torch.tensor([variant.lr], dtype=torch.float64), inputs, targets,
                             diagonal.full_batch_indices(1, variant.steps, len(targets)))
    arrays = {"seeds": np.zeros(1, np.int64), "lrs": np.asarray([variant.lr]), "final_theta": theta.numpy()}
    return TrainResult(arrays, run_steps=variant.steps, runs=1)


TRAINERS = {"gd": train_gd, "edge_gd": train_edge, "edge_constrained": train_edge, "edge_flow": train_edge,
            "toy": train_toy, "diagonal_sgd": train_diagonal_sgd, "diagonal_gd": train_diagonal_gd}


def train(config: Config, variant_name: str, data: dict[str, np.ndarray], probe, execution: Execution) -> TrainResult:
    """The Study contract's train: the variant's kind picks the trainer (execution: one process)."""
    variant = config.variants[variant_name]
    return TRAINERS[variant.kind](config, variant, data)
