"""From the edge, the trajectories Damian et al. (2023) compare, in one loop as their code's
`track_dynamics` (adamian98/EOS, taylor.py): GD θ_t; the constrained trajectory θ†_t
(constrained_trajectory.py); the predicted dynamics θ†_t + v_t and the second-order control
θ†_t + w_t (predicted_dynamics.py); gradient flow θ_GF at the same times t·η.

Per step t the loop records, then steps (their order):
- the distances ‖θ_t − θ†_t‖, ‖θ_t − (θ†_t + v_t)‖, ‖θ_t − (θ†_t + w_t)‖, ‖θ_t − θ_GF(tη)‖, the
  displacements along θ†'s top eigenvector x = u·(θ_t − θ†_t), u·v_t, u·w_t, and L and S at θ†_t;
  these need every step of four trajectories, so they are taken here, not from checkpoints;
- every `eigengap_check_every` steps λ2(θ†_t); once λ2·η/2 exceeds the stop, θ† (and with it v, w
  and every distance) is no longer tracked, while GD and the flow run on to `track_steps`;
- θ of GD and of the flow every `checkpoint_every` steps, where the measure stage computes S.
A non-finite loss ends that trajectory (NaN from there on) and marks it diverged.
"""

from __future__ import annotations

import numpy as np

from .config import SelfStabilizationTracking
from .constrained_trajectory import constrained_step, project, second_eigenvalue, taylor_center
from .descent import EdgeStart, LossOfFlat, checkpoint_steps, gradient_flow_step, loss_and_gradient
from .predicted_dynamics import predicted_step, quadratic_step

PER_STEP = (  # arrays of shape (track_steps + 1,), NaN where not tracked
    "gd_loss",
    "flow_loss",
    "constrained_loss",
    "constrained_sharpness",
    "constrained_lambda2",  # at the eigengap checks only
    "distance_gd_constrained",
    "distance_gd_predicted",
    "distance_gd_quadratic",
    "distance_gd_flow",
    "x_gd",
    "x_predicted",
    "x_quadratic",
)


def untracked(variant: SelfStabilizationTracking, parameters: int) -> dict[str, np.ndarray]:
    """The arrays of a seed whose GD never reached the edge: NaN throughout."""
    steps, saved = (
        variant.track_steps,
        len(checkpoint_steps(variant.track_steps, variant.checkpoint_every)),
    )
    return {
        **{name: np.full(steps + 1, np.nan) for name in PER_STEP},
        "gd_checkpoints": np.full((saved, parameters), np.nan),
        "flow_checkpoints": np.full((saved, parameters), np.nan),
        "tracked_steps": np.array(-1),
        "gd_diverged": np.array(False),
        "flow_diverged": np.array(False),
    }


def track_from_edge(
    loss_of_flat: LossOfFlat,
    start: EdgeStart,
    lr: float,
    variant: SelfStabilizationTracking,
    lanczos_tolerance: float,
) -> dict[str, np.ndarray]:
    """The loop of the module docstring from the edge `start` (θ† starts at proj_M(θ_edge))."""
    out = untracked(variant, start.theta.numel())
    center = project(
        loss_of_flat,
        taylor_center(loss_of_flat, start.theta, start.top_vector, lanczos_tolerance),
        lr,
        variant.projection_steps,
        lanczos_tolerance,
    )
    gd = flow = start.theta.detach()
    v = w = gd - center.theta
    tracking, gd_alive, flow_alive, last_tracked = True, True, True, -1
    for step in range(variant.track_steps + 1):
        if gd_alive:
            gd_loss, gd_gradient = loss_and_gradient(loss_of_flat, gd)
            gd_alive = bool(np.isfinite(gd_loss))
        if flow_alive:
            flow_loss, flow_gradient = loss_and_gradient(loss_of_flat, flow)
            flow_alive = bool(np.isfinite(flow_loss))
        tracking = tracking and bool(np.isfinite(center.loss))
        if gd_alive:
            out["gd_loss"][step] = gd_loss
        if flow_alive:
            out["flow_loss"][step] = flow_loss
        if gd_alive and flow_alive:
            out["distance_gd_flow"][step] = float((gd - flow).norm())
        if step % variant.checkpoint_every == 0:
            if gd_alive:
                out["gd_checkpoints"][step // variant.checkpoint_every] = gd.numpy()
            if flow_alive:
                out["flow_checkpoints"][step // variant.checkpoint_every] = flow.numpy()
        if tracking:
            last_tracked, u = step, center.top_vector
            out["constrained_loss"][step] = center.loss
            out["constrained_sharpness"][step] = center.sharpness
            out["x_predicted"][step], out["x_quadratic"][step] = float(u @ v), float(u @ w)
            if gd_alive:
                deviation = gd - center.theta
                out["x_gd"][step] = float(u @ deviation)
                out["distance_gd_constrained"][step] = float(deviation.norm())
                out["distance_gd_predicted"][step] = float((deviation - v).norm())
                out["distance_gd_quadratic"][step] = float((deviation - w).norm())
            if step % variant.eigengap_check_every == 0:
                second = second_eigenvalue(center, lanczos_tolerance)
                out["constrained_lambda2"][step] = second
                tracking = second * lr / 2 <= variant.stop_lambda2_times_lr_over_2
        if step == variant.track_steps or not (tracking or gd_alive or flow_alive):
            break
        if gd_alive:
            gd = gd - lr * gd_gradient
        if flow_alive:
            flow = gradient_flow_step(loss_of_flat, flow, flow_gradient, lr, variant.flow_substeps)
        if tracking:
            v, w = predicted_step(v, center, lr), quadratic_step(w, center, lr)
            center = constrained_step(
                loss_of_flat, center, lr, variant.projection_steps, lanczos_tolerance
            )
    out["tracked_steps"] = np.array(last_tracked)
    out["gd_diverged"], out["flow_diverged"] = np.array(not gd_alive), np.array(not flow_alive)
    return out
