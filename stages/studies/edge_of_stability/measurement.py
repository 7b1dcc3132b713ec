"""Measure one variant's runs into tidy rows: seed, step, metric, value and the setting columns
experiment, method, lr (η), batch_size (SGD) and steps_since_edge (self_stabilization).

Metrics (their names carry the normalisation):
- crossing_step, steps_after_crossing, horizon_met (cohen_gd): the first checkpoint with S·η/2 ≥ 1,
  the steps GD ran after it, and whether that is at least the horizon rule's
  `min_steps_after_crossing` (E2 judges only seeds that meet it);
- lambda2_over_lambda1_at_edge, edge_step, edge_reached (self_stabilization): λ2/λ1 where GD first
  had S·η/2 ≥ 1, that step, and whether GD got there within max_steps_to_edge;
- loss_half_mse: Cohen's loss, ½ Σ_classes (f − onehot)² averaged over examples (digits), or
  1/(2n) Σ (f − y)² (diagonal net);
- sharpness, lambda2: λ1 = S and λ2 of the training-loss Hessian by warm-started Lanczos;
  sharpness_times_lr_over_2 = S·η/2 (1 at the edge of stability);
- distance_to_gd: ‖θ − θ_GD‖ at equal steps since the edge (θ† and gradient flow; reads the run of
  the self_stabilization GD variant);
- toy: window means of x² and of S·η/2, the first step with S·η/2 ≥ 1, and the means after it;
- diagonal net: trace_hessian (exact, Σ_i e_iᵀ H e_i), trace_times_lr_over_2, converged, diverged.

`step` is the optimisation step the measured parameters come from, counted from initialisation:
- a trajectory's rows sit at their own step; for self_stabilization that is the edge step plus
  `steps_since_edge` (for the flow, `steps_since_edge` counts units η of time, so a flow row sits
  at the time of the GD step it is compared with), and the edge metrics sit at the edge step
  (steps_since_edge 0; for a seed that never reached the edge, where the search stopped);
- a window mean sits at the last step of its window;
- a number that summarises a whole run (crossing_step, horizon_met, diverged, tracked_steps, the
  toy's means after the edge, the diagonal net's final θ) sits at the run's last step.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
import torch

from ...common.hessian import HessianAt, exact_trace, top_eigenpairs
from ...common.tables import TidyRows
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


def variant_rows(variant: Variant, **settings) -> TidyRows:
    """Rows labelled with the variant's experiment and method; `settings` fixes others (None where
    one does not apply to the variant; a per-row value overrides it)."""
    columns = {"lr": None, "batch_size": None, "steps_since_edge": None, **settings}
    return TidyRows(
        SETTING_COLUMNS, experiment=variant.experiment, method=variant.method, **columns
    )


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


def add_along(
    rows: TidyRows, seed: int, offsets, metric: str, values, edge_step: int | None
) -> None:
    """Rows at steps `offsets` from initialisation (edge_step None), or, for a trajectory tracked
    from the edge, at edge_step + offsets with steps_since_edge = offsets."""
    if edge_step is None:
        rows.add_series(seed, offsets, metric, values)
        return
    for offset, value in zip(np.atleast_1d(offsets), np.atleast_1d(values), strict=True):
        rows.add(seed, edge_step + offset, metric, value, steps_since_edge=int(offset))


def add_trajectory(
    rows: TidyRows,
    seed: int,
    losses: np.ndarray,
    checkpoints: np.ndarray,
    every: int,
    lr: float,
    loss_of_flat: LossOfFlat,
    tolerance: float,
    edge_step: int | None = None,
) -> np.ndarray:
    """Losses at every step, λ1, λ2 and S·η/2 at every checkpoint; returns S·η/2."""
    top, second = sharpness_along(loss_of_flat, checkpoints, tolerance)
    saved = checkpoint_steps(len(losses) - 1, every)
    add_along(rows, seed, np.arange(len(losses)), "loss_half_mse", losses, edge_step)
    add_along(rows, seed, saved, "sharpness", top, edge_step)
    add_along(rows, seed, saved, "lambda2", second, edge_step)
    add_along(rows, seed, saved, "sharpness_times_lr_over_2", top * lr / 2, edge_step)
    return top * lr / 2


def measure_cohen_gd(config: Config, variant: CohenGD, data, runs, reads) -> TidyRows:
    setup = config.cohen_gd
    rows = variant_rows(variant, lr=variant.lr)
    loss_of_flat = digits_loss(setup.network, data)
    saved = checkpoint_steps(variant.steps, variant.checkpoint_every)
    for index, seed in enumerate(runs["seeds"]):
        normalised = add_trajectory(
            rows,
            seed,
            runs["losses"][index],
            runs["checkpoints"][index],
            variant.checkpoint_every,
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
) -> TidyRows:
    """As cohen_gd, at steps since the edge, plus (θ†, flow) the distance to the GD variant's run
    at equal steps, and (θ†) the last step tracked before λ2 crossed the stop threshold."""
    setup = config.self_stabilization
    rows = variant_rows(variant, lr=setup.lr)
    loss_of_flat = digits_loss(setup.network, data)
    last, saved = setup.track_steps, checkpoint_steps(setup.track_steps, setup.checkpoint_every)
    gd = reads[setup.gd_variant] if not isinstance(variant, SelfStabilizationGD) else None
    for index, seed in enumerate(runs["seeds"]):
        losses, checkpoints = runs["losses"][index], runs["checkpoints"][index]
        edge = int(runs["edge_step"][index])
        add_trajectory(
            rows,
            seed,
            losses,
            checkpoints,
            setup.checkpoint_every,
            setup.lr,
            loss_of_flat,
            setup.lanczos_tolerance,
            edge_step=edge,
        )
        top_two = runs["edge_eigenvalues"][index]
        for metric, value in (
            ("edge_step", edge),
            ("edge_reached", float(runs["edge_reached"][index])),
            ("lambda2_over_lambda1_at_edge", top_two[1] / top_two[0]),
        ):
            rows.add(seed, edge, metric, value, steps_since_edge=0)
        untracked = np.flatnonzero(~np.isfinite(losses))
        for metric, value in (
            ("diverged", float(runs["diverged"][index])),
            ("tracked_steps", untracked[0] - 1 if len(untracked) else len(losses) - 1),
        ):
            rows.add(seed, edge + last, metric, value, steps_since_edge=last)
        if gd is not None:
            reference = gd["checkpoints"][list(gd["seeds"]).index(seed)]
            distances = np.linalg.norm(checkpoints - reference, axis=1)
            add_along(rows, seed, saved, "distance_to_gd", distances, edge)
    return rows


def measure_toy(config: Config, variant: ToyCubicGD, data, runs, reads) -> TidyRows:
    """Window means (windows of `window` steps, an even number, so whole period-2 oscillations),
    each at its window's last step, and the means of x² and S·η/2 from the first step with
    S·η/2 ≥ 1 to the end (Damian et al. §3: ≈ δ² = 2α/b and ≈ 1)."""
    model, window = cubic_toy(config.toy_cubic), config.toy_cubic.window
    rows = variant_rows(variant, lr=variant.lr)
    for index, seed in enumerate(runs["seeds"]):
        x, y = runs["x"][index], runs["y"][index]
        with np.errstate(over="ignore", invalid="ignore"):
            normalised = model.sharpness(x, y) * variant.lr / 2
            x_squared = x**2
        usable = (len(x) // window) * window
        window_last_steps = np.arange(window, usable + 1, window) - 1
        rows.add_series(
            seed,
            window_last_steps,
            "x_squared_window_mean",
            x_squared[:usable].reshape(-1, window).mean(axis=1),
        )
        rows.add_series(
            seed,
            window_last_steps,
            "sharpness_times_lr_over_2_window_mean",
            normalised[:usable].reshape(-1, window).mean(axis=1),
        )
        at_edge = np.flatnonzero(normalised >= 1)
        edge = at_edge[0] if len(at_edge) else len(x)
        for metric, value in (
            ("edge_step", edge if len(at_edge) else np.nan),
            ("x_squared_mean_after_edge", x_squared[edge:].mean() if len(at_edge) else np.nan),
            (
                "sharpness_times_lr_over_2_mean_after_edge",
                normalised[edge:].mean() if len(at_edge) else np.nan,
            ),
            ("predicted_x_squared", model.predicted_x_squared),
            ("diverged", float(not np.isfinite(x[-1] + y[-1]))),
        ):
            rows.add(seed, variant.steps, metric, value)
    return rows


def measure_diagonal(
    config: Config, variant: DiagonalSGD | DiagonalGD, data, runs, reads
) -> TidyRows:
    """At each run's final θ: loss, converged (loss below the threshold), and for finite runs the
    exact trace, λ1 and λ2 of the full-batch Hessian (Wu & Su: tr H ≤ 2/η for batch-1 SGD)."""
    setup = config.diagonal_net
    inputs, targets = diagonal_tensors(data)
    batch_size = variant.batch if isinstance(variant, DiagonalSGD) else None
    rows = variant_rows(variant, batch_size=batch_size)
    for seed, lr, theta in zip(runs["seeds"], runs["lrs"], runs["final_theta"], strict=True):
        theta = torch.as_tensor(theta)
        loss = float(diagonal_net.half_mse(theta, inputs, targets))
        finite = bool(np.isfinite(loss))
        lr = float(lr)
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
