"""P2: the backward passes of the convolutional implicit cell, exact against the phantom gradients,
counted and timed (the conv_timing variant's run).

Per seed: a cell and a linear head drawn from the seed, a batch of training digits drawn from it,
one forward solve (untimed; the cell and the batch do not change, so every round starts from the
same fixed point). A backward is timed
from the forward solve's fixed point to ∂L/∂θ of the cell: what the chosen gradient itself costs
(the phantom's unrolled steps included; the exact gradient's adjoint solve stops at its cap, 20
evaluations as MDEQ's B_THRES, and goes on with its last iterate). Exact, unrolled and Neumann are
timed in every round, interleaved, the order rotating each round, after `warmup` untimed rounds, so
a busy neighbour core slows all three alike. Counts (evaluations of f with graph, VJPs) come from the
first round and do not depend on the machine; the times, every timed round's in (seed, round)
order, go to TrainResult.wall_clock only, never into the tables.
"""

from __future__ import annotations

import time

import numpy as np
import torch
import torch.nn.functional as F

from ...common.digits import IMAGE_SIDE
from ...common.study import TrainResult
from .config import CLASSES, GRADIENT_FORMS, Config, ConvTimingVariant, Gradient
from .implicit_layer import Costs, attach, cosine, solve_forward
from .models import ConvCell, linear_head


class TimedCell:
    """One seed's cell, head and batch; `gradient` runs one backward choice and returns ∂L/∂θ flat."""

    def __init__(self, config: Config, seed: int, data: dict[str, np.ndarray]):
        setup = config.conv_timing
        generator = torch.Generator().manual_seed(seed)
        self.setup = setup
        self.cell = ConvCell(setup.channels, setup.groups, setup.recurrent_gain, generator)
        self.head = linear_head(setup.channels * IMAGE_SIDE**2, CLASSES, torch.float32, generator)
        chosen = np.random.default_rng(seed).choice(
            len(data["train_labels"]), setup.batch_size, replace=False
        )
        self.images = torch.as_tensor(data["train_inputs"][chosen], dtype=torch.float32).reshape(
            -1, 1, IMAGE_SIDE, IMAGE_SIDE
        )
        self.labels = torch.as_tensor(data["train_labels"][chosen])

    def fixed_point(self, costs: Costs) -> torch.Tensor:
        with torch.no_grad():
            return solve_forward(
                self.cell, self.cell.inject(self.images), self.setup.forward_solver, costs
            )

    def gradient(self, fixed_point: torch.Tensor, gradient: Gradient, costs: Costs) -> torch.Tensor:
        state = attach(
            self.cell,
            self.cell.inject(self.images),
            fixed_point,
            gradient,
            self.setup.adjoint_solver,
            costs,
        )
        loss = F.cross_entropy(self.head(state.flatten(1)), self.labels)
        grads = torch.autograd.grad(loss, list(self.cell.parameters()))
        return torch.cat([g.flatten() for g in grads])


def time_seed(
    timed: TimedCell,
    fixed_point: torch.Tensor,
    choices: dict[str, Gradient],
    warmup: int,
    repeats: int,
) -> dict[str, list[float]]:
    """Each backward's time in every round after the warm-up, from the same fixed point."""
    seconds = {name: [] for name in choices}
    names = list(choices)
    for round_index in range(warmup + repeats):
        shift = round_index % len(names)
        for name in names[shift:] + names[:shift]:
            start = time.perf_counter()
            timed.gradient(fixed_point, choices[name], Costs())
            elapsed = time.perf_counter() - start
            if round_index >= warmup:
                seconds[name].append(elapsed)
    return seconds


def time_backwards(
    config: Config, variant: ConvTimingVariant, data: dict[str, np.ndarray]
) -> TrainResult:
    """The conv_timing variant's run: per seed, the counts and cosines of the three backward passes
    (arrays), and every timed round's time of each (wall_clock `backward_<form>_seconds`, a list in
    (seed, round) order, so that a round's three times pair up)."""
    setup = config.conv_timing
    choices = variant.estimators()
    seeds = config.seeds(setup.seeds)
    arrays = {
        name: []
        for name in (
            "forward_evaluations",
            "forward_relative_residual",
            "forward_unconverged_solves",
            "adjoint_solves_at_cap",
            "adjoint_relative_residual",
            "cosine_unrolled",
            "cosine_neumann",
            "unrolled_neumann_relative_difference",
            *(
                f"{part}_{form}"
                for form in GRADIENT_FORMS
                for part in ("backward_graph_evaluations", "backward_vjps")
            ),
        )
    }
    seconds = {name: [] for name in choices}
    for seed in seeds:
        timed = TimedCell(config, seed, data)
        forward = Costs()
        fixed_point = timed.fixed_point(forward)
        costs = {name: Costs() for name in choices}
        grads = {name: timed.gradient(fixed_point, choices[name], costs[name]) for name in choices}
        for form in GRADIENT_FORMS:
            arrays[f"backward_graph_evaluations_{form}"].append(
                costs[form].backward_graph_evaluations
            )
            arrays[f"backward_vjps_{form}"].append(costs[form].backward_vjps)
        arrays["forward_evaluations"].append(forward.forward_evaluations)
        arrays["forward_relative_residual"].append(forward.forward_residuals[0])
        arrays["forward_unconverged_solves"].append(forward.forward_unconverged)
        arrays["adjoint_solves_at_cap"].append(costs["exact"].adjoint_unconverged)
        arrays["adjoint_relative_residual"].append(costs["exact"].adjoint_residuals[0])
        arrays["cosine_unrolled"].append(cosine(grads["unrolled"], grads["exact"]))
        arrays["cosine_neumann"].append(cosine(grads["neumann"], grads["exact"]))
        arrays["unrolled_neumann_relative_difference"].append(
            float((grads["unrolled"] - grads["neumann"]).norm() / grads["neumann"].norm())
        )
        timings = time_seed(timed, fixed_point, choices, setup.warmup, setup.repeats)
        for name, values in timings.items():
            seconds[name] += values
    wall_clock = {f"backward_{name}_seconds": seconds[name] for name in GRADIENT_FORMS}
    result = {name: np.asarray(values) for name, values in arrays.items()}
    result["seeds"] = np.asarray(seeds, np.int64)
    return TrainResult(
        result,
        run_steps=len(seeds) * (1 + setup.warmup + setup.repeats) * len(choices),
        runs=len(seeds),
        wall_clock=wall_clock,
    )
