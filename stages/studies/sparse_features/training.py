"""The large-step probe and training for every variant of the study.

Probe and train both describe their runs as a `RunPlan`: per run, a data set, an SGD order and a
step-size column, each an index into arrays held once. Diagonal-net SGD on the CPU executes the
plan in the compiled kernel (diag_sgd_kernel), diagonal-net GD in diag_gd_kernel; the ReLU net and
CUDA run the torch programs on per-run copies. A probed variant whose experiment asks for it (probe.rerun_diverged) reruns each
diverged run at its data set's next lower step that passed the probe.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch

from ...common.study import Execution, TrainResult
from . import data as datasets
from . import diag_gd_kernel, diag_net, diag_sgd_kernel, relu_net
from .batched_snapshots import evaluation_steps
from .config import Config, DiagonalNetSetup, ReluNetSetup, Setup, Variant
from .public_code_draws import student_hidden_public_code

# how the public code draws one SGD example per step from NumPy's legacy generator
DRAWS = ("randint", "choice_without_replacement")


def sampling_indices(
    recipe: str, sampling_seeds: list[int], n_train: int, steps: int, draw: str = "randint"
) -> np.ndarray:
    """SGD example order, (steps, runs). public_code: the public code's draws from NumPy's legacy
    generator seeded with each sampling seed, `randint`: np.random.randint(n) per step (the
    diagonal nets, diag_nets.py `SGD`), `choice_without_replacement`: np.random.choice(n, 1,
    replace=False) per step (the ReLU net, fc_nets.py `train_fc_net`), which is the first entry of
    a fresh permutation of range(n). generator: default_rng(seed).integers."""
    if draw not in DRAWS:
        raise ValueError(f"draw = {draw!r}: one of {DRAWS}")
    if recipe != "public_code":
        columns = [
            np.random.default_rng(seed).integers(n_train, size=steps) for seed in sampling_seeds
        ]
    elif draw == "choice_without_replacement":
        columns = []
        for seed in sampling_seeds:
            rng = np.random.RandomState(seed)
            columns.append(np.array([rng.permutation(n_train)[0] for _ in range(steps)]))
    else:
        columns = [
            np.random.RandomState(seed).randint(n_train, size=steps) for seed in sampling_seeds
        ]
    return np.stack(columns, axis=1).astype(np.int64)


def initial_hidden(setup: ReluNetSetup, data_seeds) -> np.ndarray:
    """Student first layer W0 = init_scale·N(0, 1) per data seed. public_code: as the notebook
    (fc_nets_two_layer.ipynb): torch's generator seeded with the seed draws the default
    initialisation of the student's two torch.nn.Linear layers, then the N(0, 1) weights, in
    float32. generator: a NumPy stream of its own per seed."""
    shape = (setup.student_width, setup.dim)
    if setup.recipe == "public_code":
        return np.stack(
            [
                student_hidden_public_code(seed, setup.student_width, setup.dim, setup.init_scale)
                for seed in data_seeds
            ]
        )
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
    """Execute a plan on the model of `setup`'s type: the diagonal net on the CPU in the compiled
    kernels (SGD, GD), on CUDA in torch on per-run copies; the ReLU net in torch."""
    steps = len(plan.rates)
    draw = "choice_without_replacement" if isinstance(setup, ReluNetSetup) else "randint"
    order = (
        sampling_indices(setup.recipe, plan.sampling_seeds, setup.n_train, steps, draw)
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
    if isinstance(setup, DiagonalNetSetup) and device == "cpu":
        return diag_gd_kernel.train(
            data["x_train"],
            data["y_train"],
            plan.data_of_run,
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
        getattr(torch, setup.precision),
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
    lr_per_seed, passed_in_bisection = _bisect(
        setup, data, optimizer, grid, on_grid, allowed, steps
    )
    passed = [
        sorted({*(grid[g] for g in range(len(grid)) if allowed[g, s]), *passed_in_bisection[s]})[
            ::-1
        ]
        for s in range(seeds)
    ]
    return {
        "lr_per_seed": lr_per_seed,
        "grid_lr_per_seed": on_grid,
        "passed_lr_per_seed": passed,  # every probed step that passed, largest first
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
) -> tuple[list[float], list[list[float]]]:
    """`refine_rounds` bisections per data set between its grid choice (allowed) and the next grid step
    (not allowed), by the grid's rule; data sets with no stable grid step or none above keep theirs.
    Returns the chosen step per data set and the bisection steps that passed on each."""
    low = np.asarray(on_grid, dtype=np.float64)
    position = np.searchsorted(grid, low)
    refine = allowed.any(axis=0) & (position + 1 < len(grid))
    high = np.where(
        refine, np.asarray([*grid, np.nan])[np.minimum(position + 1, len(grid))], np.nan
    )
    passed: list[list[float]] = [[] for _ in on_grid]
    for _ in range(setup.probe.refine_rounds if refine.any() else 0):
        middle = np.where(refine, (low + high) / 2, low)
        ok = (
            _diverged_share(setup, data, optimizer, middle[None, :], steps)[0]
            <= setup.probe.max_diverged_share
        )
        for s in np.flatnonzero(refine & ok):
            passed[s].append(float(middle[s]))
        low = np.where(refine & ok, middle, low)
        high = np.where(refine & ~ok, middle, high)
    return low.tolist(), passed


def _rates(variant: Variant, setup: Setup, probed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(steps, runs) step sizes and the large step of each run, from the probed step of each run's
    data set where the schedule is probed (NaN otherwise)."""
    resolved = [variant.schedule.resolve(float(lr)) for lr in probed]
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
    """All seeds of one variant in one batched program, on `execution.device`; where the
    experiment's probe says so, diverged runs of a probed variant are rerun (`_rerun_diverged`)."""
    variant = config.variants[variant_name]
    setup = config.setup_of(variant_name)
    data = datasets.unstack(arrays, variant.experiment)
    chosen = probe[variant.experiment][variant.optimizer] if variant.schedule.probed else None
    probed = np.asarray(
        chosen["lr_per_seed"] if chosen else np.full(setup.seeds, np.nan), dtype=np.float64
    )
    rates, large = _rates(variant, setup, probed)
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
    reruns = np.zeros(setup.seeds, dtype=np.int64)
    run_steps = setup.seeds * setup.steps
    if chosen and setup.probe.rerun_diverged:
        out, large, reruns = _rerun_diverged(
            setup, data, variant, plan, out, probed, chosen["passed_lr_per_seed"], execution
        )
        run_steps += int(reruns.sum()) * setup.steps
    return TrainResult(
        {
            **out,
            "eval_steps": eval_steps,
            "lr_large": large,
            "large_step_reruns": reruns,
            "seeds": np.asarray(setup.data_seeds, dtype=np.int64),
        },
        run_steps=run_steps,
        runs=setup.seeds + int(reruns.sum()),
    )


def _rerun_diverged(
    setup: Setup,
    data: dict,
    variant: Variant,
    plan: RunPlan,
    out: dict[str, np.ndarray],
    probed: np.ndarray,
    passed: list[list[float]],
    execution: Execution,
) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """Rerun every diverged run on the same data and SGD order at its data set's next lower step
    that passed the probe (`passed`, largest first), round after round, until it does not diverge
    or no lower step is left (it then stays diverged). Returns the merged arrays, the large step
    each run ended with and the number of reruns per run."""
    out = {key: np.array(value) for key, value in out.items()}
    probed = probed.copy()
    reruns = np.zeros(len(probed), dtype=np.int64)
    eval_steps = evaluation_steps(setup.steps, setup.eval_points)
    while True:
        lower = {
            int(r): max(lr for lr in passed[r] if lr < probed[r])
            for r in np.flatnonzero(out["diverged"])
            if any(lr < probed[r] for lr in passed[r])
        }
        if not lower:
            break
        subset = np.array(sorted(lower))
        probed[subset] = [lower[r] for r in subset]
        rates, _ = _rates(variant, setup, probed[subset])
        again = _run(
            setup,
            data,
            variant.optimizer,
            replace(
                plan,
                rates=rates,
                rate_of_run=np.arange(len(subset)),
                data_of_run=plan.data_of_run[subset],
                sampling_seeds=[plan.sampling_seeds[r] for r in subset],
                order_of_run=np.arange(len(subset)),
            ),
            eval_steps,
            execution.device,
        )
        for key, value in again.items():
            out[key][subset] = value
        reruns[subset] += 1
    return out, _rates(variant, setup, probed)[1], reruns
