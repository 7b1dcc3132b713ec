"""The large-step probe and training for every variant of the study.

Probe and train both describe their runs as a `RunPlan`: per run, a data set, an SGD order and a
step-size column, each an index into arrays held once. Diagonal-net SGD on the CPU executes the
plan in the compiled kernel (diag_sgd_kernel); GD, the ReLU net and CUDA run the torch programs
on per-run copies.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...common.study import Execution, TrainResult
from . import data as datasets
from . import diag_net, diag_sgd_kernel, relu_net
from .batched_snapshots import evaluation_steps
from .config import Config, DiagonalNetSetup, ReluNetSetup, Setup, Variant


def sampling_indices(
    recipe: str, sampling_seeds: list[int], n_train: int, steps: int
) -> np.ndarray:
    """SGD example order, (steps, runs). public_code: RandomState(seed).randint(n) per step, the
    draws of the public notebooks (seed 2 there); generator: default_rng(seed).integers."""
    if recipe == "public_code":
        columns = [
            np.random.RandomState(seed).randint(n_train, size=steps) for seed in sampling_seeds
        ]
    else:
        columns = [
            np.random.default_rng(seed).integers(n_train, size=steps) for seed in sampling_seeds
        ]
    return np.stack(columns, axis=1)


def initial_hidden(setup: ReluNetSetup, data_seeds) -> np.ndarray:
    """Student first layer W0 = init_scale·N(0, 1) per data seed (a stream of its own per seed)."""
    shape = (setup.student_width, setup.dim)
    return setup.init_scale * np.stack(
        [np.random.default_rng([int(seed), 1]).standard_normal(shape) for seed in data_seeds]
    )


@dataclass(frozen=True)
class RunPlan:
    """Run r trains on data set `data_of_run[r]` (a position on the experiment's seed axis), with
    SGD order seed `sampling_seeds[order_of_run[r]]` and step sizes `rates[:, rate_of_run[r]]`."""

    rates: np.ndarray  # (steps, columns)
    rate_of_run: np.ndarray
    data_of_run: np.ndarray
    sampling_seeds: list[int]
    order_of_run: np.ndarray


def _run(
    setup: Setup,
    data: dict,
    optimizer: str,
    plan: RunPlan,
    eval_steps: np.ndarray,
    device: str = "cpu",
) -> dict[str, np.ndarray]:
    """Execute a plan on the model of `setup`'s type: diagonal-net SGD on the CPU in the compiled
    kernel, diagonal-net GD (and CUDA) in torch on per-run copies, the ReLU net in torch."""
    steps = len(plan.rates)
    order = (
        sampling_indices(setup.recipe, plan.sampling_seeds, setup.n_train, steps)
        if optimizer == "sgd"
        else None
    )
    if isinstance(setup, DiagonalNetSetup) and optimizer == "sgd" and device == "cpu":
        return diag_sgd_kernel.train(
            data["x_train"],
            data["y_train"],
            plan.data_of_run,
            order,
            plan.order_of_run,
            plan.rates,
            plan.rate_of_run,
            setup.init_scale,
            eval_steps,
            setup.divergence_threshold,
        )
    x, y = data["x_train"][plan.data_of_run], data["y_train"][plan.data_of_run]
    rates = plan.rates[:, plan.rate_of_run]
    per_run_order = order[:, plan.order_of_run] if order is not None else None
    if isinstance(setup, DiagonalNetSetup):
        return diag_net.train(
            x,
            y,
            rates,
            optimizer,
            per_run_order,
            setup.init_scale,
            eval_steps,
            setup.divergence_threshold,
            device,
        )
    seeds = np.asarray(setup.data_seeds)[plan.data_of_run]
    return relu_net.train(
        x,
        y,
        rates,
        per_run_order,
        initial_hidden(setup, seeds),
        eval_steps,
        setup.divergence_threshold,
        device,
    )


def probe(config: Config, arrays: dict[str, np.ndarray]) -> dict:
    """The large step of each data set, per experiment and optimizer (see config.Probe).

    Every data set trains at every grid step, the constant step held for the probe's horizon (at
    least the longest large-step phase of any probed variant: config.parse checks it), on sampling
    seeds no run uses; all runs batched.
    """
    chosen = {}
    for name, setup in config.experiments.items():
        steps = max(1, int(round(setup.probe.horizon * setup.steps)))
        data = datasets.unstack(arrays, name)
        chosen[name] = {
            optimizer: _probe_grid(setup, data, optimizer, grid, steps)
            for optimizer, grid in setup.probe.grids.items()
        }
    return chosen


def _diverged_share(
    setup: Setup, data: dict, optimizer: str, candidates: np.ndarray, steps: int
) -> np.ndarray:
    """Share of probe orders that diverge within `steps` at constant step `candidates[c, s]`, for
    candidate c and data set s: all (candidate, data set, order) runs in one batch, (C, seeds)."""
    settings = setup.probe
    orders = settings.sampling_seeds if optimizer == "sgd" else 1  # GD does not depend on an order
    count, seeds = candidates.shape
    # run r covers candidate r // (seeds·orders), data seed (r // orders) % seeds, order r % orders;
    # probe orders start first_sampling_seed after the first data seed, far from every run's order
    first_order = settings.first_sampling_seed + setup.first_seed
    plan = RunPlan(
        rates=np.broadcast_to(candidates.reshape(-1), (steps, count * seeds)),
        rate_of_run=np.repeat(np.arange(count * seeds), orders),
        data_of_run=np.tile(np.repeat(np.arange(seeds), orders), count),
        sampling_seeds=[first_order + o for o in range(orders)],
        order_of_run=np.tile(np.arange(orders), count * seeds),
    )
    out = _run(setup, data, optimizer, plan, np.array([steps]))
    return out["diverged"].reshape(count, seeds, orders).mean(axis=2)


def _probe_grid(
    setup: Setup, data: dict, optimizer: str, grid: tuple[float, ...], steps: int
) -> dict:
    settings = setup.probe
    seeds = setup.seeds
    diverged_share = _diverged_share(
        setup, data, optimizer, np.repeat(np.asarray(grid)[:, None], seeds, 1), steps
    )
    allowed = diverged_share <= settings.max_diverged_share
    on_grid = [
        max((grid[g] for g in range(len(grid)) if allowed[g, s]), default=grid[0])
        for s in range(seeds)
    ]
    lr_per_seed = _bisect(setup, data, optimizer, grid, on_grid, allowed, steps)
    return {
        "lr_per_seed": lr_per_seed,
        "grid_lr_per_seed": on_grid,
        "refine_rounds": settings.refine_rounds,
        "grid": grid,
        "probe_steps": steps,
        "orders": settings.sampling_seeds if optimizer == "sgd" else 1,
        "diverged_share": diverged_share.round(6).tolist(),
        "no_stable_step": [s for s in range(seeds) if not allowed[:, s].any()],
    }


def _bisect(
    setup: Setup,
    data: dict,
    optimizer: str,
    grid: tuple[float, ...],
    on_grid: list[float],
    allowed: np.ndarray,
    steps: int,
) -> list[float]:
    """`refine_rounds` bisections per data set between its grid choice (allowed) and the next grid step
    (not allowed), by the grid's rule; data sets with no stable grid step or none above keep theirs."""
    low = np.asarray(on_grid, dtype=np.float64)
    position = np.searchsorted(grid, low)
    refine = allowed.any(axis=0) & (position + 1 < len(grid))
    high = np.where(
        refine, np.asarray([*grid, np.nan])[np.minimum(position + 1, len(grid))], np.nan
    )
    for _ in range(setup.probe.refine_rounds if refine.any() else 0):
        middle = np.where(refine, (low + high) / 2, low)
        ok = (
            _diverged_share(setup, data, optimizer, middle[None, :], steps)[0]
            <= setup.probe.max_diverged_share
        )
        low = np.where(refine & ok, middle, low)
        high = np.where(refine & ~ok, middle, high)
    return low.tolist()


def _rates(variant: Variant, setup: Setup, probe: dict | None) -> tuple[np.ndarray, np.ndarray]:
    """(steps, runs) step sizes and the large step of each run (probed per data set where asked)."""
    schedule = variant.schedule
    if schedule.probed:
        probed = np.asarray(
            probe[variant.experiment][variant.optimizer]["lr_per_seed"], dtype=np.float64
        )
    else:
        probed = np.full(setup.seeds, np.nan)
    resolved = [schedule.resolve(float(lr)) for lr in probed]
    rates = np.stack([s.rates(setup.steps) for s in resolved], axis=1)
    return rates, np.array([s.lr for s in resolved])


def train(
    config: Config,
    variant_name: str,
    arrays: dict[str, np.ndarray],
    *,
    probe: dict | None,
    execution: Execution,
    reads,
) -> TrainResult:
    """All seeds of one variant in one batched program, on `execution.device`."""
    variant = config.variants[variant_name]
    setup = config.setup_of(variant_name)
    data = datasets.unstack(arrays, variant.experiment)
    rates, initial_lr = _rates(variant, setup, probe)
    eval_steps = evaluation_steps(setup.steps, setup.eval_points)
    runs = np.arange(setup.seeds)
    plan = RunPlan(
        rates=rates,
        rate_of_run=runs,
        data_of_run=runs,
        order_of_run=runs,
        sampling_seeds=[seed + setup.sampling_seed_offset for seed in setup.data_seeds],
    )
    out = _run(setup, data, variant.optimizer, plan, eval_steps, execution.device)
    return TrainResult(
        {
            **out,
            "eval_steps": eval_steps,
            "lr_large": initial_lr,
            "seeds": np.asarray(setup.data_seeds, dtype=np.int64),
        },
        run_steps=setup.seeds * setup.steps,
        runs=setup.seeds,
    )
