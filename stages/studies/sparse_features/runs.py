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


def _run_diag_net(experiment: Experiment, data: dict, optimizer: str, rates: np.ndarray,
                  sampling_seeds: list[int], eval_steps: np.ndarray) -> dict[str, np.ndarray]:
    indices = (sampling_indices(experiment.recipe, sampling_seeds, experiment.n_train, len(rates))
               if optimizer == "sgd" else None)
    return diag_net.train(data["x_train"], data["y_train"], rates, optimizer, indices,
                          experiment.init_scale, eval_steps, experiment.divergence_threshold)


def probe(config: Config, arrays: dict[str, np.ndarray]) -> dict:
    """Choose the large step of each diag_net data set for SGD and for GD (see config.Probe).

    Each data set is trained at every grid step, with the constant step held for the longest
    large-step phase any variant uses, on sampling seeds that no run uses; all runs batched.
    """
    experiment = config.experiments["diag_net"]
    settings = experiment.probe
    data = datasets.unstack(arrays, "diag_net")
    horizon = max([v.schedule.decay_at for v in config.variants.values()
                   if v.experiment == "diag_net" and v.schedule.probed and v.schedule.decay_at] + [0.5])
    steps = int(round(horizon * experiment.steps))
    seeds = experiment.seeds
    chosen = {}
    for optimizer, grid, orders in (("sgd", settings.sgd_grid, settings.sampling_seeds), ("gd", settings.gd_grid, 1)):
        # run index = ((grid position) * seeds + data seed) * orders + order
        batch = {name: np.repeat(np.tile(data[name], (len(grid),) + (1,) * (data[name].ndim - 1)), orders, axis=0)
                 for name in ("x_train", "y_train")}
        rates_per_run = np.repeat(np.repeat(np.asarray(grid), seeds), orders)
        sampling = [settings.first_sampling_seed + o for _ in range(len(grid) * seeds) for o in range(orders)]
        rates = np.broadcast_to(rates_per_run, (steps, len(rates_per_run)))
        out = _run_diag_net(experiment, batch, optimizer, rates, sampling, np.array([steps]))
        diverged_share = out["diverged"].reshape(len(grid), seeds, orders).mean(axis=2)
        allowed = diverged_share <= settings.max_diverged_share
        lr_per_seed = []
        for seed in range(seeds):
            stable = [grid[g] for g in range(len(grid)) if allowed[g, seed]]
            lr_per_seed.append(max(stable) if stable else grid[0])
        chosen[optimizer] = {"lr_per_seed": lr_per_seed, "grid": grid, "probe_steps": steps, "orders": orders,
                             "diverged_share": diverged_share.round(6).tolist(),
                             "no_stable_step": [s for s in range(seeds) if not allowed[:, s].any()]}
    return {"diag_net": chosen}


def _large_rates(variant: Variant, experiment: Experiment, probe: dict | None) -> tuple[np.ndarray, np.ndarray]:
    """(steps, runs) step sizes and the large step of each run (probed per data set where asked)."""
    schedule = variant.schedule
    if schedule.probed:
        large = np.asarray(probe[variant.experiment][variant.optimizer]["lr_per_seed"], dtype=np.float64)
    else:
        large = np.full(experiment.seeds, schedule.lr)
    rates = np.stack([schedule.resolve(float(lr)).rates(experiment.steps) for lr in large], axis=1)
    return rates, large


def train(config: Config, variant_name: str, arrays: dict[str, np.ndarray], probe: dict | None,
          execution: Execution) -> TrainResult:
    """All seeds of one variant in one batched tensor program (one process: batching beats a pool here)."""
    variant = config.variants[variant_name]
    experiment = config.experiments[variant.experiment]
    data = datasets.unstack(arrays, variant.experiment)
    rates, large = _large_rates(variant, experiment, probe)
    eval_steps = evaluation_steps(experiment.steps, experiment.eval_points)
    sampling_seeds = [seed + experiment.sampling_seed_offset for seed in range(experiment.seeds)]
    if variant.experiment == "diag_net":
        out = _run_diag_net(experiment, data, variant.optimizer, rates, sampling_seeds, eval_steps)
    else:
        initial = np.stack([np.random.default_rng([seed, 1]).standard_normal((experiment.student_width, experiment.dim))
                            for seed in range(experiment.seeds)]) * experiment.init_scale
        indices = sampling_indices(experiment.recipe, sampling_seeds, experiment.n_train, experiment.steps)
        out = relu_net.train(data["x_train"], data["y_train"], rates, indices, initial, eval_steps,
                             experiment.divergence_threshold)
    return TrainResult({**out, "eval_steps": eval_steps, "lr_large": large},
                       run_steps=experiment.seeds * experiment.steps, runs=experiment.seeds)
