"""Measure one variant's runs into tidy rows: seed, step, metric, value and the setting columns
experiment, method, lr (η), batch_size (SGD) and steps_since_edge (self_stabilization).

Metrics (their names carry the normalisation):
- crossing_step, steps_after_crossing, horizon_met (cohen_gd): the first checkpoint with S·η/2 ≥ 1,
  the steps GD ran after it, and whether that is at least the horizon rule's
  `min_steps_after_crossing` (E2 counts a seed that misses it as failing);
- lambda2_over_lambda1_at_edge, edge_step, edge_reached (self_stabilization): λ2/λ1 where GD first
  had S·η/2 ≥ 1, that step, and whether GD got there within max_steps_to_edge;
- loss_half_mse: Cohen's loss, ½ Σ_classes (f − onehot)² averaged over examples (digits), or
  1/(2n) Σ (f − y)² (diagonal net);
- sharpness, lambda2: λ1 = S and λ2 of the training-loss Hessian by warm-started Lanczos;
  sharpness_times_lr_over_2 = S·η/2 (1 at the edge of stability);
- distance_to_gd: ‖θ − θ_GD‖ at equal steps since the edge, for θ† (method constrained), the
  predicted dynamics θ† + v (predicted), their second-order twin θ† + w (quadratic) and gradient
  flow (flow), every step (from the tracking, tracking.py);
- x_along_top_eigenvector: u·(θ_GD − θ†) for GD, u·v and u·w for the predictions, u θ†'s top
  eigenvector (Damian et al.'s x_t);
- tracked_steps: the last step θ† was tracked before the λ2 stop (−1: never);
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
    DiagonalGD,
    DiagonalSGD,
    SelfStabilizationTracking,
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
    rows: TidyRows, seed: int, offsets, metric: str, values, edge_step: int | None, **settings
) -> None:
    """Rows at steps `offsets` from initialisation (edge_step None), or, for a trajectory tracked
    from the edge, at edge_step + offsets with steps_since_edge = offsets."""
    if edge_step is None:
        rows.add_series(seed, offsets, metric, values, **settings)
        return
    for offset, value in zip(np.atleast_1d(offsets), np.atleast_1d(values), strict=True):
        rows.add(seed, edge_step + offset, metric, value, steps_since_edge=int(offset), **settings)


def add_sharpness(
    rows: TidyRows,
    seed: int,
    saved: np.ndarray,
    checkpoints: np.ndarray,
    lr: float,
    loss_of_flat: LossOfFlat,
    tolerance: float,
    edge_step: int | None = None,
    **settings,
) -> np.ndarray:
    """λ1, λ2 and S·η/2 at every checkpoint (at steps `saved`); returns S·η/2."""
    top, second = sharpness_along(loss_of_flat, checkpoints, tolerance)
    add_along(rows, seed, saved, "sharpness", top, edge_step, **settings)
    add_along(rows, seed, saved, "lambda2", second, edge_step, **settings)
    add_along(rows, seed, saved, "sharpness_times_lr_over_2", top * lr / 2, edge_step, **settings)
    return top * lr / 2


def measure_cohen_gd(config: Config, variant: CohenGD, data, runs, reads) -> TidyRows:
    setup = config.cohen_gd
    rows = variant_rows(variant, lr=variant.lr)
    loss_of_flat = digits_loss(setup.network, data)
    saved = checkpoint_steps(variant.steps, variant.checkpoint_every)
    for index, seed in enumerate(runs["seeds"]):
        losses = runs["losses"][index]
        rows.add_series(seed, np.arange(len(losses)), "loss_half_mse", losses)
        normalised = add_sharpness(
            rows,
            seed,
            saved,
            runs["checkpoints"][index],
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


TRACKED = {  # method: {metric: the tracking array it is read from (tracking.py), every step}
    "gd": {"loss_half_mse": "gd_loss", "x_along_top_eigenvector": "x_gd"},
    "constrained": {
        "loss_half_mse": "constrained_loss",
        "distance_to_gd": "distance_gd_constrained",
    },
    "predicted": {
        "distance_to_gd": "distance_gd_predicted",
        "x_along_top_eigenvector": "x_predicted",
    },
    "quadratic": {
        "distance_to_gd": "distance_gd_quadratic",
        "x_along_top_eigenvector": "x_quadratic",
    },
    "flow": {"loss_half_mse": "flow_loss", "distance_to_gd": "distance_gd_flow"},
}


def measure_self_stabilization(
    config: Config, variant: SelfStabilizationTracking, data, runs, reads
) -> TidyRows:
    """Rows per trajectory (method gd, constrained = θ†, predicted = θ† + v, quadratic = θ† + w,
    flow) at steps since the edge: the tracking's per-step losses, distances to GD and
    displacements x along θ†'s u; S(θ†)·η/2 every step and λ2(θ†) at the eigengap checks (from the
    tracking); λ1, λ2 and S·η/2 of GD and of the flow at their checkpoints (Lanczos, here); the
    edge's step, λ2/λ1 there and whether it was reached; the last step θ† was tracked."""
    setup = config.self_stabilization
    rows = variant_rows(variant, lr=setup.lr)
    loss_of_flat = digits_loss(setup.network, data)
    last = variant.track_steps
    offsets = np.arange(last + 1)
    saved = checkpoint_steps(last, variant.checkpoint_every)
    for index, seed in enumerate(runs["seeds"]):
        edge = int(runs["edge_step"][index])

        def along(metric, values, method, at=offsets, seed=seed, edge=edge):
            add_along(rows, seed, at, metric, values, edge, method=method)

        for method, metrics in TRACKED.items():
            for metric, name in metrics.items():
                along(metric, runs[name][index], method)
        along(
            "sharpness_times_lr_over_2",
            runs["constrained_sharpness"][index] * setup.lr / 2,
            "constrained",
        )
        checks = np.flatnonzero(np.isfinite(runs["constrained_lambda2"][index]))
        along("lambda2", runs["constrained_lambda2"][index][checks], "constrained", at=checks)
        for method in ("gd", "flow"):
            add_sharpness(
                rows,
                seed,
                saved,
                runs[f"{method}_checkpoints"][index],
                setup.lr,
                loss_of_flat,
                setup.lanczos_tolerance,
                edge,
                method=method,
            )
            along("diverged", float(runs[f"{method}_diverged"][index]), method, at=last)
        top_two = runs["edge_eigenvalues"][index]
        for metric, value in (
            ("edge_step", edge),
            ("edge_reached", float(runs["edge_reached"][index])),
            ("lambda2_over_lambda1_at_edge", top_two[1] / top_two[0]),
        ):
            along(metric, value, "gd", at=0)
        along("tracked_steps", float(runs["tracked_steps"][index]), "constrained", at=last)
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
    SelfStabilizationTracking: measure_self_stabilization,
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
