"""Data generation, the large-step probe and training for every variant of the study."""
from __future__ import annotations

import numpy as np

from ...common.snapshots import evaluation_steps
from ...common.study import Execution, TrainResult
from . import data as datasets
from . import diag_net, relu_net
from .config import Config, Experiment, Variant


def generate(config: Config) -> dict[str, np.ndarray]:
    """One data set per seed for each experiment, stacked on a leading seed axis."""
    diag, relu = config.experiments["diag_net"], config.experiments["relu_net"]
    sparse = [datasets.sparse_regression(diag.recipe, seed, diag.n_train, diag.n_test, diag.dim, diag.support)
              for seed in range(diag.seeds)]
    teacher = [datasets.teacher_student(relu.recipe, seed, relu.n_train, relu.n_test, relu.dim, relu.teacher_width)
               for seed in range(relu.seeds)]
    return {**datasets.stack(sparse, "diag_net"), **datasets.stack(teacher, "relu_net")}


def sampling_indices(recipe: str, sampling_seeds: list[int], n_train: int, steps: int) -> np.ndarray:
    """SGD example order, (steps, runs). public_code: RandomState(seed).randint(n) per step, the
    draws of the public notebooks (seed 2 there); generator: default_rng(seed).integers."""
    if recipe == "public_code":
        columns = [np.random.RandomState(seed).randint(n_train, size=steps) for seed in sampling_seeds]
    else:
        columns = [np.random.default_rng(seed).integers(n_train, size=steps) for seed in sampling_seeds]
    return np.stack(columns, axis=1)


def initial_hidden(experiment: Experiment, data_seeds) -> np.ndarray:
    """Student first layer W0 = init_scale·N(0, 1) per data seed (a stream of its own per seed)."""
    shape = (experiment.student_width, experiment.dim)
    return experiment.init_scale * np.stack([np.random.default_rng([int(seed), 1]).standard_normal(shape)
                                             for seed in data_seeds])


def _run(experiment: Experiment, data: dict, optimizer: str, rates: np.ndarray, data_seeds, sampling_seeds,
         eval_steps: np.ndarray, device: str = "cpu") -> dict[str, np.ndarray]:
    """Train one run per row of `data` (rows already aligned with data_seeds and sampling_seeds)."""
    indices = (sampling_indices(experiment.recipe, sampling_seeds, experiment.n_train, len(rates))
               if optimizer == "sgd" else None)
    if experiment.name == "diag_net":
        return diag_net.train(data["x_train"], data["y_train"], rates, optimizer, indices, experiment.init_scale,
                              eval_steps, experiment.divergence_threshold, device)
    return relu_net.train(data["x_train"], data["y_train"], rates, indices, initial_hidden(experiment, data_seeds),
                          eval_steps, experiment.divergence_threshold, device)


def probe(config: Config, arrays: dict[str, np.ndarray]) -> dict:
    """The large step of each data set, per experiment and optimizer (see config.Probe).

    Every data set trains at every grid step, the constant step held for the probe's horizon (at
    least the longest large-step phase of any probed variant: config.parse checks it), on sampling
    seeds no run uses; all runs batched.
    """
    chosen = {}
    for name, experiment in config.experiments.items():
        steps = max(1, int(round(experiment.probe.horizon * experiment.steps)))
        data = datasets.unstack(arrays, name)
        chosen[name] = {optimizer: _probe_grid(experiment, data, optimizer, grid, steps)
                        for optimizer, grid in experiment.probe.grids.items()}
    return chosen


def _probe_grid(experiment: Experiment, data: dict, optimizer: str, grid: list[float], steps: int) -> dict:
    settings = experiment.probe
    orders = settings.sampling_seeds if optimizer == "sgd" else 1  # GD does not depend on an order
    seeds = experiment.seeds
    # run r covers grid position r // (seeds·orders), data seed (r // orders) % seeds, order r % orders
    data_seeds = np.tile(np.repeat(np.arange(seeds), orders), len(grid))
    sampling = [settings.first_sampling_seed + int(o) for o in np.tile(np.arange(orders), len(grid) * seeds)]
    rates = np.broadcast_to(np.repeat(np.asarray(grid), seeds * orders), (steps, len(data_seeds)))
    batch = {key: data[key][data_seeds] for key in ("x_train", "y_train")}
    out = _run(experiment, batch, optimizer, rates, data_seeds, sampling, np.array([steps]))
    diverged_share = out["diverged"].reshape(len(grid), seeds, orders).mean(axis=2)
    allowed = diverged_share <= settings.max_diverged_share
    lr_per_seed = [max((grid[g] for g in range(len(grid)) if allowed[g, s]), default=grid[0]) for s in range(seeds)]
    return {"lr_per_seed": lr_per_seed, "grid": grid, "probe_steps": steps, "orders": orders,
            "diverged_share": diverged_share.round(6).tolist(),
            "no_stable_step": [s for s in range(seeds) if not allowed[:, s].any()]}


def _rates(variant: Variant, experiment: Experiment, probe: dict | None) -> tuple[np.ndarray, np.ndarray]:
    """(steps, runs) step sizes and the large step of each run (probed per data set where asked)."""
    schedule = variant.schedule
    if schedule.probed:
        probed = np.asarray(probe[variant.experiment][variant.optimizer]["lr_per_seed"], dtype=np.float64)
    else:
        probed = np.full(experiment.seeds, np.nan)
    resolved = [schedule.resolve(float(lr)) for lr in probed]
    rates = np.stack([s.rates(experiment.steps) for s in resolved], axis=1)
    return rates, np.array([s.lr for s in resolved])


def train(config: Config, variant_name: str, arrays: dict[str, np.ndarray], probe: dict | None,
          execution: Execution) -> TrainResult:
    """All seeds of one variant in one batched tensor program, on `execution.device`."""
    variant = config.variants[variant_name]
    experiment = config.experiments[variant.experiment]
    data = datasets.unstack(arrays, variant.experiment)
    rates, initial_lr = _rates(variant, experiment, probe)
    eval_steps = evaluation_steps(experiment.steps, experiment.eval_points)
    seeds = np.arange(experiment.seeds)
    out = _run(experiment, data, variant.optimizer, rates, seeds,
               [int(seed) + experiment.sampling_seed_offset for seed in seeds], eval_steps, execution.device)
    return TrainResult({**out, "eval_steps": eval_steps, "lr_large": initial_lr},
                       run_steps=experiment.seeds * experiment.steps, runs=experiment.seeds)
