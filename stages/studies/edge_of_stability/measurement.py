"""Measure one variant's runs into tidy rows (seed, step, metric, value, experiment, method, lr).

Metrics (their names carry the normalisation):
- crossing_step, steps_after_crossing, horizon_met (cohen_gd): the first checkpoint with S·η/2 ≥ 1,
  the steps GD ran after it, and whether that is at least the horizon rule's
  `min_steps_after_crossing` (E2 judges only seeds that meet it);
- lambda2_over_lambda1_at_edge (self_stabilization): λ2/λ1 where GD first had S·η/2 ≥ 1;
- loss_half_mse: Cohen's loss, ½ Σ_classes (f − onehot)² averaged over examples (digits), or
  1/(2n) Σ (f − y)² (diagonal net);
- sharpness, lambda2: λ1 = S and λ2 of the training-loss Hessian by warm-started Lanczos;
  sharpness_times_lr_over_2 = S·η/2 (1 at the edge of stability);
- distance_to_gd: ‖θ − θ_GD‖ at equal steps since the edge (θ† and gradient flow; reads the run of
  the self_stabilization GD variant);
- toy: window means of x², of S·η/2 and the means after the first step with S·η/2 ≥ 1;
- diagonal net: trace_hessian (exact, Σ_i e_iᵀ H e_i), trace_times_lr_over_2, converged, diverged.
For self_stabilization variants, `step` counts steps since the edge (the step at which GD first had
S·η/2 ≥ 1 is the metric edge_step at step 0).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
import torch

from ...common.hessian import HessianAt, exact_trace, top_eigenpairs
from . import diagonal_net
from .config import (
    SETTING_COLUMNS,
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
from .descent import LossOfFlat, checkpoint_steps
from .objectives import cubic_toy, diagonal_tensors, digits_loss


def method_label(variant: Variant) -> str:
    """The table's `method`: SGD carries its batch size (E4 is a batch-1 statement)."""
    return f"sgd_batch{variant.batch}" if isinstance(variant, DiagonalSGD) else variant.method


def sharpness_along(
    loss_of_flat: LossOfFlat, checkpoints: np.ndarray, tolerance: float
) -> tuple[np.ndarray, np.ndarray]:
    """λ1 and λ2 at each checkpoint (NaN rows stay NaN), Lanczos warm-started from the previous
    checkpoint's top eigenvector (Cohen et al. compute S every few steps the same way)."""
    top, second = np.full(len(checkpoints), np.nan), np.full(len(checkpoints), np.nan)
    warm = None
    for index, theta in enumerate(checkpoints):
        if not np.all(np.isfinite(theta)):
            continue
        eigen = top_eigenpairs(
            HessianAt(loss_of_flat, torch.as_tensor(theta)),
            k=2,
            warm_start=warm,
            tolerance=tolerance,
        )
        top[index], second[index], warm = eigen.sharpness, eigen.second, eigen.top_vector
    return top, second


def first_crossing(saved_steps: np.ndarray, normalised: np.ndarray, level: float = 1.0) -> float:
    """The first saved step with S·η/2 ≥ level (NaN if none): where GD met 2/η."""
    reached = np.flatnonzero(np.asarray(normalised) >= level)
    return float(saved_steps[reached[0]]) if len(reached) else float("nan")


def horizon_after_crossing(
    saved_steps: np.ndarray, normalised: np.ndarray, steps: int, min_steps_after: int
) -> tuple[float, float, float]:
    """(crossing step, steps run after it, 1.0 when those are ≥ min_steps_after else 0.0); a run that
    never crossed has NaN steps after and does not meet the rule."""
    crossing = first_crossing(saved_steps, normalised)
    after = steps - crossing
    return crossing, after, float(bool(after >= min_steps_after))


class Rows:
    """Collects long-format rows for one variant (experiment, method; lr fixed unless given per row)."""

    def __init__(self, variant: Variant, lr: float):
        self.experiment, self.method, self.lr, self.rows = (
            variant.experiment,
            method_label(variant),
            lr,
            [],
        )

    def add(self, seed: int, steps, metric: str, values, lr: float | None = None) -> None:
        for step, value in zip(np.atleast_1d(steps), np.atleast_1d(values), strict=True):
            self.rows.append(
                {
                    "seed": int(seed),
                    "step": int(step),
                    "metric": metric,
                    "value": float(value),
                    "experiment": self.experiment,
                    "method": self.method,
                    "lr": float(self.lr if lr is None else lr),
                }
            )

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(
            self.rows, columns=["seed", "step", "metric", "value", *SETTING_COLUMNS]
        )


def add_trajectory(
    rows: Rows,
    seed: int,
    losses: np.ndarray,
    checkpoints: np.ndarray,
    every: int,
    lr: float,
    loss_of_flat: LossOfFlat,
    tolerance: float,
) -> np.ndarray:
    """Losses at every step, λ1, λ2 and S·η/2 at every checkpoint; returns S·η/2."""
    top, second = sharpness_along(loss_of_flat, checkpoints, tolerance)
    saved = checkpoint_steps(len(losses) - 1, every)
    rows.add(seed, np.arange(len(losses)), "loss_half_mse", losses)
    rows.add(seed, saved, "sharpness", top)
    rows.add(seed, saved, "lambda2", second)
    rows.add(seed, saved, "sharpness_times_lr_over_2", top * lr / 2)
    return top * lr / 2


def measure_cohen_gd(config: Config, variant: CohenGD, data, runs, reads) -> Rows:
    setup = config.cohen_gd
    rows = Rows(variant, variant.lr)
    loss_of_flat = digits_loss(setup.network, data)
    saved = checkpoint_steps(variant.steps, setup.checkpoint_every)
    for index, seed in enumerate(runs["seeds"]):
        normalised = add_trajectory(
            rows,
            seed,
            runs["losses"][index],
            runs["checkpoints"][index],
            setup.checkpoint_every,
            variant.lr,
            loss_of_flat,
            setup.lanczos_tolerance,
        )
        horizon = horizon_after_crossing(
            saved, normalised, variant.steps, setup.min_steps_after_crossing
        )
        for metric, value in zip(
            ("crossing_step", "steps_after_crossing", "horizon_met"), horizon, strict=True
        ):
            rows.add(seed, variant.steps, metric, value)
        rows.add(seed, variant.steps, "diverged", float(runs["diverged"][index]))
    return rows


def measure_self_stabilization(
    config: Config,
    variant: SelfStabilizationGD | ConstrainedTrajectory | GradientFlow,
    data,
    runs,
    reads,
) -> Rows:
    """As cohen_gd, per step since the edge, plus (θ†, flow) the distance to the GD variant's run
    at equal steps, and (θ†) the last step tracked before λ2 crossed the stop threshold."""
    setup = config.self_stabilization
    rows = Rows(variant, setup.lr)
    loss_of_flat = digits_loss(setup.network, data)
    saved = checkpoint_steps(setup.track_steps, setup.checkpoint_every)
    gd = reads[setup.gd_variant] if not isinstance(variant, SelfStabilizationGD) else None
    for index, seed in enumerate(runs["seeds"]):
        losses, checkpoints = runs["losses"][index], runs["checkpoints"][index]
        add_trajectory(
            rows,
            seed,
            losses,
            checkpoints,
            setup.checkpoint_every,
            setup.lr,
            loss_of_flat,
            setup.lanczos_tolerance,
        )
        rows.add(seed, 0, "edge_step", runs["edge_step"][index])
        rows.add(seed, 0, "edge_reached", float(runs["edge_reached"][index]))
        top_two = runs["edge_eigenvalues"][index]
        rows.add(seed, 0, "lambda2_over_lambda1_at_edge", top_two[1] / top_two[0])
        rows.add(seed, setup.track_steps, "diverged", float(runs["diverged"][index]))
        untracked = np.flatnonzero(~np.isfinite(losses))
        rows.add(
            seed,
            setup.track_steps,
            "tracked_steps",
            untracked[0] - 1 if len(untracked) else len(losses) - 1,
        )
        if gd is not None:
            reference = gd["checkpoints"][list(gd["seeds"]).index(seed)]
            rows.add(seed, saved, "distance_to_gd", np.linalg.norm(checkpoints - reference, axis=1))
    return rows


def measure_toy(config: Config, variant: ToyCubicGD, data, runs, reads) -> Rows:
    """Window means (windows of `window` steps, an even number, so whole period-2 oscillations)
    and the means of x² and S·η/2 from the first step with S·η/2 ≥ 1 to the end."""
    model, window = cubic_toy(config.toy_cubic), config.toy_cubic.window
    rows = Rows(variant, variant.lr)
    for index, seed in enumerate(runs["seeds"]):
        x, y = runs["x"][index], runs["y"][index]
        with np.errstate(over="ignore", invalid="ignore"):
            normalised = model.sharpness(x, y) * variant.lr / 2
            x_squared = x**2
        usable = (len(x) // window) * window
        ends = np.arange(window, usable + 1, window)
        rows.add(
            seed, ends, "x_squared_window_mean", x_squared[:usable].reshape(-1, window).mean(axis=1)
        )
        rows.add(
            seed,
            ends,
            "sharpness_times_lr_over_2_window_mean",
            normalised[:usable].reshape(-1, window).mean(axis=1),
        )
        at_edge = np.flatnonzero(normalised >= 1)
        edge = at_edge[0] if len(at_edge) else len(x)
        rows.add(seed, 0, "edge_step", edge if len(at_edge) else np.nan)
        rows.add(
            seed,
            variant.steps,
            "x_squared_mean_after_edge",
            x_squared[edge:].mean() if len(at_edge) else np.nan,
        )
        rows.add(
            seed,
            variant.steps,
            "sharpness_times_lr_over_2_mean_after_edge",
            normalised[edge:].mean() if len(at_edge) else np.nan,
        )
        rows.add(seed, variant.steps, "predicted_x_squared", model.predicted_x_squared)
        rows.add(seed, variant.steps, "diverged", float(not np.isfinite(x[-1] + y[-1])))
    return rows


def measure_diagonal(config: Config, variant: DiagonalSGD | DiagonalGD, data, runs, reads) -> Rows:
    """At each run's final θ: loss, converged (loss below the threshold), and for finite runs the
    exact trace, λ1 and λ2 of the full-batch Hessian."""
    setup = config.diagonal_net
    inputs, targets = diagonal_tensors(data)
    rows = Rows(variant, float("nan"))
    for seed, lr, theta in zip(runs["seeds"], runs["lrs"], runs["final_theta"], strict=True):
        theta = torch.as_tensor(theta)
        loss = float(diagonal_net.half_mse(theta, inputs, targets))
        finite = bool(np.isfinite(loss))
        rows.add(seed, variant.steps, "loss_half_mse", loss, lr=lr)
        rows.add(seed, variant.steps, "diverged", float(not finite), lr=lr)
        rows.add(
            seed,
            variant.steps,
            "converged",
            float(finite and loss < setup.converged_loss_below),
            lr=lr,
        )
        if not finite:
            continue
        hessian = HessianAt(lambda flat: diagonal_net.half_mse(flat, inputs, targets), theta)
        trace = exact_trace(hessian)
        eigen = top_eigenpairs(hessian, k=2, tolerance=setup.lanczos_tolerance, seed=int(seed))
        for metric, value in (
            ("trace_hessian", trace),
            ("trace_times_lr_over_2", trace * lr / 2),
            ("sharpness", eigen.sharpness),
            ("lambda2", eigen.second),
            ("sharpness_times_lr_over_2", eigen.sharpness * lr / 2),
        ):
            rows.add(seed, variant.steps, metric, value, lr=lr)
    return rows


MEASURES = {
    CohenGD: measure_cohen_gd,
    SelfStabilizationGD: measure_self_stabilization,
    ConstrainedTrajectory: measure_self_stabilization,
    GradientFlow: measure_self_stabilization,
    ToyCubicGD: measure_toy,
    DiagonalSGD: measure_diagonal,
    DiagonalGD: measure_diagonal,
}


def measure(
    config: Config,
    variant_name: str,
    data: dict[str, np.ndarray],
    runs: dict[str, np.ndarray],
    *,
    reads: Mapping[str, dict[str, np.ndarray]],
) -> pd.DataFrame:
    """The skeleton's measure; `reads` holds the runs config.measure_reads names."""
    variant = config.variants[variant_name]
    return MEASURES[type(variant)](config, variant, data, runs, reads).frame()
