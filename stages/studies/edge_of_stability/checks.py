"""Claim checks E1–E4 on the study's tidy table; every threshold comes from claims.yaml.

A check does not decide. It returns `Evidence` (stages/common/decision.py): per part of the claim,
one value per seed (a run, or a seed slot for E4's trend), the criterion and the claims.yaml key it
comes from, and the same parts computed where the claimed effect is absent (the control). The one
decision rule resamples the seeds and gives the verdict. A diverged or lost run enters as NaN, which
fails its criterion, unless a part says otherwise (E4: runs that did not converge are no minimum
and are left out of the bound, with the converged share judged as a part of its own).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from ...common.atomic import DataError
from ...common.decision import EXCLUDED, Evidence, Part, at_least, at_most, within
from ...common.params import Section

INIT_SEEDS = "init seed"  # parts on runs from the same initialisations are resampled together

# --- reading the table ---------------------------------------------------------------------------


def series(
    table: pd.DataFrame, experiment: str, method: str, metric: str, batch_size: int | None = None
) -> pd.DataFrame:
    """Rows of one experiment, method (with `batch_size`, of that SGD batch size) and metric:
    columns lr, seed, step, steps_since_edge, value, sorted by (lr, seed, step)."""
    selected = (
        (table["experiment"] == experiment)
        & (table["method"] == method)
        & (table["metric"] == metric)
    )
    if batch_size is not None:  # a null batch size (a full-batch method) is never equal
        selected &= table["batch_size"].eq(batch_size).fillna(False)
    return (
        table.loc[selected, ["lr", "seed", "step", "steps_since_edge", "value"]]
        .sort_values(["lr", "seed", "step"])
        .reset_index(drop=True)
    )


def require(frame: pd.DataFrame, what: str) -> pd.DataFrame:
    if frame.empty:
        raise DataError(f"the table has no rows for {what}: run the variants this claim names")
    return frame


def runs_of(table: pd.DataFrame, experiment: str, method: str) -> pd.MultiIndex:
    """Every (lr, seed) run of an experiment's method: each run has a `diverged` row, so a run
    that produced nothing else still enters its parts (as a lost seed)."""
    rows = require(series(table, experiment, method, "diverged"), f"{experiment} {method} runs")
    return pd.MultiIndex.from_frame(rows[["lr", "seed"]].drop_duplicates())


def per_run(frame: pd.DataFrame, summary, runs: pd.MultiIndex) -> pd.Series:
    """summary(one run's rows sorted by step) -> float for every run in `runs` (NaN where a run has
    no rows), indexed by (lr, seed)."""
    found = frame.groupby(["lr", "seed"])[["step", "steps_since_edge", "value"]].apply(summary)
    return found.reindex(runs).astype(np.float64)


def first_step_at_or_above(rows: pd.DataFrame, level: float) -> float:
    reached = rows.loc[rows["value"] >= level, "step"]
    return float(reached.iloc[0]) if len(reached) else float("nan")


def part(name: str, values: pd.Series, criterion, tolerance: str, **options) -> Part:
    """A Part on a Series indexed by seed (or by (lr, seed) for one lr)."""
    seeds = values.index.get_level_values("seed") if values.index.nlevels > 1 else values.index
    return Part(name, list(seeds), values.to_numpy(np.float64), criterion, tolerance, **options)


def median_of(values) -> float:
    """The median of the finite values (NaN when there are none): a number shown, never judged."""
    values = np.asarray(values, dtype=np.float64)
    finite = values[np.isfinite(values)]
    return float(np.median(finite)) if len(finite) else float("nan")


def spread(values) -> str:
    """median [min, max] over seeds, with the lost seeds (shown beside the parts)."""
    values = np.asarray(values, dtype=np.float64)
    finite = values[np.isfinite(values)]
    lost = len(values) - len(finite)
    if not len(finite):
        return f"— ({lost} lost)"
    text = f"{np.median(finite):.4g} [{finite.min():.4g}, {finite.max():.4g}]"
    return text + (f" ({lost} of {len(values)} lost)" if lost else "")


# --- E1 progressive sharpening -------------------------------------------------------------------


def reversed_in_time(frame: pd.DataFrame) -> pd.DataFrame:
    """Each run's values in reverse step order: S falls from its last value to its first. The null
    table of E1: the same numbers with the sharpening turned round."""
    flipped = frame.copy()
    flipped["value"] = frame.groupby(["lr", "seed"])["value"].transform(
        lambda v: v.to_numpy()[::-1]
    )
    return flipped


def sharpening_parts(
    normalised: pd.DataFrame, runs: pd.MultiIndex, tolerance: Section, label: str = ""
) -> list[Part]:
    """E1's parts on S·η/2 per run: at every η but the control, it starts below reach_fraction and
    its peak reaches it; at the control η, its peak stays ≤ control_peak_at_most and S still rises
    (final/initial ≥ control_rise_at_least). A diverged run has no peak (NaN) and fails."""
    reach = tolerance.number("reach_fraction", positive=True)
    control_lr = tolerance.number("control_lr", positive=True)
    initial = per_run(normalised, lambda rows: rows["value"].iloc[0], runs)
    peak = per_run(normalised, lambda rows: rows["value"].max(skipna=False), runs)
    rise = per_run(normalised, lambda rows: rows["value"].iloc[-1] / rows["value"].iloc[0], runs)
    lrs = sorted(runs.get_level_values("lr").unique())
    if control_lr not in lrs:
        raise ValueError(f"control_lr = {control_lr:g} is not among the GD step sizes {lrs}")
    parts = []
    for lr in lrs:
        where = f"η = {lr:g}{label}"
        if lr == control_lr:
            parts += [
                part(
                    f"{where}: peak S·η/2 (stays well below 2/η)",
                    peak[lr],
                    at_most(tolerance.number("control_peak_at_most", positive=True)),
                    "control_peak_at_most",
                    group=INIT_SEEDS,
                ),
                part(
                    f"{where}: final / initial S (still sharpens)",
                    rise[lr],
                    at_least(tolerance.number("control_rise_at_least", positive=True)),
                    "control_rise_at_least",
                    group=INIT_SEEDS,
                ),
            ]
            continue
        parts += [
            part(
                f"{where}: S·η/2 at the start (below the edge)",
                initial[lr],
                at_most(reach),
                "reach_fraction",
                group=INIT_SEEDS,
            ),
            part(
                f"{where}: peak S·η/2 (reaches the edge)",
                peak[lr],
                at_least(reach),
                "reach_fraction",
                group=INIT_SEEDS,
                paper="1 (S rises to 2/η; Cohen et al. Fig. 1)",
            ),
        ]
    return parts


def progressive_sharpening(table: pd.DataFrame, tolerance: Section) -> Evidence:
    """E1 (Cohen et al. 2021, §3, Fig. 1): under GD, S starts below 2/η and rises until
    S·η/2 ≥ reach_fraction, for every η but the control; at the control η, S rises (final/initial
    ≥ control_rise_at_least) but its peak S·η/2 stays ≤ control_peak_at_most. Control: the same
    parts on each run's S reversed in time."""
    reach = tolerance.number("reach_fraction", positive=True)
    normalised = require(
        series(table, "cohen_gd", "gd", "sharpness_times_lr_over_2"), "gd sharpness"
    )
    runs = runs_of(table, "cohen_gd", "gd")
    rows, numbers = [], {}
    initial = per_run(normalised, lambda r: r["value"].iloc[0], runs)
    peak = per_run(normalised, lambda r: r["value"].max(skipna=False), runs)
    rise = per_run(normalised, lambda r: r["value"].iloc[-1] / r["value"].iloc[0], runs)
    crossing = per_run(normalised, lambda r: first_step_at_or_above(r, reach), runs)
    losses = series(table, "cohen_gd", "gd", "loss_half_mse")
    for lr in sorted(runs.get_level_values("lr").unique()):
        steps = int(losses.loc[losses["lr"] == lr, "step"].max())
        rows.append(
            {
                "η": f"{lr:g}",
                "2/η": f"{2 / lr:.3g}",
                "steps (flow time η·steps)": f"{steps} ({lr * steps:g})",
                "initial S·η/2": spread(initial[lr]),
                "peak S·η/2": spread(peak[lr]),
                "final / initial S": spread(rise[lr]),
                f"first step with S·η/2 ≥ {reach:g}": spread(crossing[lr]),
            }
        )
        numbers[f"lr{lr:g}_peak_sharpness_times_lr_over_2_median"] = float(median_of(peak[lr]))
        numbers[f"lr{lr:g}_final_over_initial_sharpness_median"] = float(median_of(rise[lr]))
    return Evidence(
        parts=sharpening_parts(normalised, runs, tolerance),
        control=sharpening_parts(reversed_in_time(normalised), runs, tolerance, ", reversed"),
        control_description=(
            "every run's S·η/2 reversed in time, so that S falls from its last value to its first: "
            "the sharpening is removed and the same numbers remain; it must fail, since an edge run "
            "then starts at the edge and the control η's S shrinks"
        ),
        summary=(
            "Per η: S·η/2 at the first checkpoint and its peak over the run; the control η's final "
            "over initial S (medians over the init seeds)."
        ),
        rows=rows,
        numbers=numbers,
    )


# --- E2 edge of stability ------------------------------------------------------------------------


EDGE_SUMMARIES = (
    "median",
    "lambda2_median",
    "within_band",
    "loss_rise_share",
    "final_over_crossing_loss",
)


def edge_summary(
    normalised_after: np.ndarray, lambda2_after: np.ndarray, losses: np.ndarray, lr: float, band
) -> dict[str, float]:
    """One run from the crossing on (Cohen et al. §3): the median S·η/2 after it (and of λ2·η/2),
    the share of those measurements with |S·η/2 − 1| ≤ band, the share of steps whose loss rose, and
    the final loss over the loss at the crossing (`losses` starts at the crossing). NaN anywhere
    (a diverged run, or one that never crossed) gives NaN summaries."""
    if not len(normalised_after) or not len(losses):
        return dict.fromkeys(EDGE_SUMMARIES, np.nan)
    if np.isnan(normalised_after).any() or np.isnan(losses).any():
        return dict.fromkeys(EDGE_SUMMARIES, np.nan)
    return {
        "median": float(np.median(normalised_after)),
        "lambda2_median": float(np.median(lambda2_after) * lr / 2),
        "within_band": float((np.abs(normalised_after - 1) <= band).mean()),
        "loss_rise_share": float((np.diff(losses) > 0).mean()),
        "final_over_crossing_loss": float(losses[-1] / losses[0]),
    }


def gd_edge_summaries(table: pd.DataFrame, reach: float, band: float, control_lr: float):
    """Per GD run at every η but the control, from its first checkpoint with S·η/2 ≥ reach. A run
    that did not meet the horizon rule (metric horizon_met: params' min_steps_after_crossing) has
    NaN summaries: "over long horizons" cannot be judged on it, and it fails."""
    normalised = require(
        series(table, "cohen_gd", "gd", "sharpness_times_lr_over_2"), "gd sharpness"
    )
    second = series(table, "cohen_gd", "gd", "lambda2")
    losses = series(table, "cohen_gd", "gd", "loss_half_mse")
    met = require(series(table, "cohen_gd", "gd", "horizon_met"), "gd horizon_met")
    met = met.set_index(["lr", "seed"])["value"]
    records = {}
    for lr, seed in runs_of(table, "cohen_gd", "gd"):
        if lr == control_lr:
            continue
        rows = normalised[(normalised["lr"] == lr) & (normalised["seed"] == seed)]
        crossing = first_step_at_or_above(rows, reach)
        summary = dict.fromkeys(EDGE_SUMMARIES, np.nan)
        if met.get((lr, seed)) == 1.0 and np.isfinite(crossing):
            run_losses = losses[(losses["lr"] == lr) & (losses["seed"] == seed)]
            run_second = second[(second["lr"] == lr) & (second["seed"] == seed)]
            summary = edge_summary(
                rows.loc[rows["step"] > crossing, "value"].to_numpy(),
                run_second.loc[run_second["step"] > crossing, "value"].to_numpy(),
                run_losses.loc[run_losses["step"] >= crossing, "value"].to_numpy(),
                lr,
                band,
            )
        records[(lr, seed)] = {"crossing_step": crossing, **summary}
    frame = pd.DataFrame.from_dict(records, orient="index")
    frame.index = pd.MultiIndex.from_tuples(frame.index, names=["lr", "seed"])
    return frame


def flow_edge_summaries(table: pd.DataFrame, band: float) -> pd.DataFrame:
    """The same summaries for gradient flow from the edge (self_stabilization flow): it starts where
    GD first had S·η/2 ≥ 1 (steps_since_edge 0), so every later checkpoint is "after the crossing";
    its steps are units η of time."""
    normalised = require(
        series(table, "self_stabilization", "flow", "sharpness_times_lr_over_2"), "flow sharpness"
    )
    second = series(table, "self_stabilization", "flow", "lambda2")
    losses = series(table, "self_stabilization", "flow", "loss_half_mse")
    records = {}
    for lr, seed in runs_of(table, "self_stabilization", "flow"):

        def of(frame, lr=lr, seed=seed):
            return frame[(frame["lr"] == lr) & (frame["seed"] == seed)].sort_values(
                "steps_since_edge"
            )

        run, run_second, run_losses = of(normalised), of(second), of(losses)
        records[(lr, seed)] = edge_summary(
            run.loc[run["steps_since_edge"] > 0, "value"].to_numpy(),
            run_second.loc[run_second["steps_since_edge"] > 0, "value"].to_numpy(),
            run_losses["value"].to_numpy(),
            lr,
            band,
        )
    frame = pd.DataFrame.from_dict(records, orient="index")
    frame.index = pd.MultiIndex.from_tuples(frame.index, names=["lr", "seed"])
    return frame


def edge_parts(summaries: pd.DataFrame, tolerance: Section, label: str, group: str) -> list[Part]:
    """E2's four parts on per-run summaries of one trajectory kind at one η."""
    low, high = (
        tolerance.number("median_low", positive=True),
        tolerance.number("median_high", positive=True),
    )
    band = tolerance.number("band", positive=True)
    return [
        part(
            f"{label}: median S·η/2 after the crossing (at or just above 2/η)",
            summaries["median"],
            within(low, high),
            "median_low",
            group=group,
            paper="1.03–1.05 (README demo figure, read off)",
        ),
        part(
            f"{label}: share of measurements within ±{band:.0%} of 2/η",
            summaries["within_band"],
            at_least(tolerance.number("within_band_share_at_least", positive=True)),
            "within_band_share_at_least",
            group=group,
        ),
        part(
            f"{label}: share of steps the loss rose (non-monotone)",
            summaries["loss_rise_share"],
            at_least(tolerance.number("loss_rise_share_at_least", positive=True)),
            "loss_rise_share_at_least",
            group=group,
        ),
        part(
            f"{label}: final / crossing loss (still decreasing)",
            summaries["final_over_crossing_loss"],
            at_most(tolerance.number("final_over_crossing_loss_at_most", positive=True)),
            "final_over_crossing_loss_at_most",
            group=group,
        ),
    ]


def edge_of_stability(table: pd.DataFrame, tolerance: Section) -> Evidence:
    """E2 (Cohen et al. 2021, §3): after S·η/2 first reaches reach_fraction, S hovers at or just
    above 2/η (median S·η/2 in [median_low, median_high], a share ≥ within_band_share_at_least of
    measurements within ±band of 2/η) while the loss rises on a share ≥ loss_rise_share_at_least of
    steps yet ends lower than at the crossing (final/crossing ≤ final_over_crossing_loss_at_most).
    Control: the same parts on gradient flow from the edge."""
    reach, band = (
        tolerance.number("reach_fraction", positive=True),
        tolerance.number("band", positive=True),
    )
    control_lr = tolerance.number("control_lr", positive=True)
    gd = gd_edge_summaries(table, reach, band, control_lr)
    if gd.empty:
        raise ValueError("no GD step size besides the control: E2 needs the edge runs")
    flow = flow_edge_summaries(table, band)
    parts, rows = [], []
    for lr, group in gd.groupby(level="lr"):
        parts += edge_parts(group, tolerance, f"GD η = {lr:g}", INIT_SEEDS)
        rows.append(
            {
                "trajectory": f"GD η = {lr:g}",
                "crossing step": spread(group["crossing_step"]),
                "median S·η/2 after": spread(group["median"]),
                "median λ2·η/2 after": spread(group["lambda2_median"]),
                f"share within ±{band:.0%}": spread(group["within_band"]),
                "share of steps loss rose": spread(group["loss_rise_share"]),
                "final / crossing loss": spread(group["final_over_crossing_loss"]),
            }
        )
    for lr, group in flow.groupby(level="lr"):
        rows.append(
            {
                "trajectory": f"gradient flow from the edge (η = {lr:g} units of time)",
                "crossing step": "0 (starts at the edge)",
                "median S·η/2 after": spread(group["median"]),
                "median λ2·η/2 after": spread(group["lambda2_median"]),
                f"share within ±{band:.0%}": spread(group["within_band"]),
                "share of steps loss rose": spread(group["loss_rise_share"]),
                "final / crossing loss": spread(group["final_over_crossing_loss"]),
            }
        )
    control = []
    for lr, group in flow.groupby(level="lr"):
        control += edge_parts(group, tolerance, f"gradient flow, η = {lr:g}", "flow init seed")
    numbers = {
        f"lr{lr:g}_{name}_after_crossing_median": float(median_of(group[name]))
        for lr, group in gd.groupby(level="lr")
        for name in EDGE_SUMMARIES
    }
    return Evidence(
        parts=parts,
        control=control,
        control_description=(
            "gradient flow from the edge (Cohen et al. contrast GD with gradient flow, their "
            "src/flow.py): here the self_stabilization experiment's flow, the pipeline's one flow "
            "run, on its own network; without the step's instability S rises past 2/η and the loss "
            "falls monotonically, so it must fail"
        ),
        summary=(
            "Per run from its first checkpoint with S·η/2 ≥ reach_fraction; λ2·η/2 beside λ1: when "
            "it too sits near 1, both top eigenvalues are at the edge."
        ),
        rows=rows,
        numbers=numbers,
    )


# --- E3 self-stabilization -----------------------------------------------------------------------


def final_values(table: pd.DataFrame, experiment: str, method: str, metric: str) -> pd.Series:
    """The last-step value of `metric` per seed."""
    rows = require(series(table, experiment, method, metric), f"{experiment} {method} {metric}")
    return rows.groupby("seed")["value"].last()


def median_distance_since_edge(table: pd.DataFrame, method: str, seeds) -> pd.Series:
    """Per seed, the median over checkpoints after the edge of ‖θ_GD − θ‖ (the edge itself is the
    common start); checkpoints after θ†'s λ2 stop have no distance and are not in the median."""
    rows = require(
        series(table, "self_stabilization", method, "distance_to_gd"), f"{method} distances"
    )
    since_edge = rows[rows["steps_since_edge"] > 0]
    return since_edge.groupby("seed")["value"].median().reindex(seeds)


def peak_sharpness(table: pd.DataFrame, method: str, seeds) -> pd.Series:
    rows = series(table, "self_stabilization", method, "sharpness_times_lr_over_2")
    return rows.groupby("seed")["value"].max().reindex(seeds)


def toy_sharpness_before_edge(table: pd.DataFrame, seeds) -> pd.Series:
    """Per toy run, the mean of its window means of S·η/2 over windows that end before the edge."""
    windows = series(table, "toy_cubic", "gd", "sharpness_times_lr_over_2_window_mean")
    edge = final_values(table, "toy_cubic", "gd", "edge_step")
    before = windows[windows["step"] < windows["seed"].map(edge)]
    return before.groupby("seed")["value"].mean().reindex(seeds)


def self_stabilization(table: pd.DataFrame, tolerance: Section) -> Evidence:
    """E3 (Damian et al. 2023). (a) the cubic toy: mean S·η/2 after the edge in [toy_sharpness_low,
    _high]. (b) the network: per seed, the median over checkpoints since the edge of ‖θ_GD − θ†‖
    over that of ‖θ_GD − θ_GF‖ at most distance_ratio_at_most, and max S(θ†)·η/2 at most
    constrained_sharpness_at_most. Control: the flow in θ†'s place, and the toy before its edge.
    The toy's mean x² / δ² is shown, not judged: it is 1 for any bounded stationary run."""
    toy_band = within(
        tolerance.number("toy_sharpness_low", positive=True),
        tolerance.number("toy_sharpness_high", positive=True),
    )
    ratio_at_most = at_most(tolerance.number("distance_ratio_at_most", positive=True))
    sharpness_at_most = at_most(tolerance.number("constrained_sharpness_at_most", positive=True))
    toy_seeds = runs_of(table, "toy_cubic", "gd").get_level_values("seed")
    toy_after = final_values(
        table, "toy_cubic", "gd", "sharpness_times_lr_over_2_mean_after_edge"
    ).reindex(toy_seeds)
    toy_before = toy_sharpness_before_edge(table, toy_seeds)
    x_squared = final_values(table, "toy_cubic", "gd", "x_squared_mean_after_edge")
    predicted = final_values(table, "toy_cubic", "gd", "predicted_x_squared")
    seeds = runs_of(table, "self_stabilization", "gd").get_level_values("seed")
    to_dagger = median_distance_since_edge(table, "constrained", seeds)
    to_flow = median_distance_since_edge(table, "flow", seeds)
    dagger_peak, flow_peak = (
        peak_sharpness(table, "constrained", seeds),
        peak_sharpness(table, "flow", seeds),
    )
    parts = [
        part(
            "(a) toy: mean S·η/2 after the edge",
            toy_after,
            toy_band,
            "toy_sharpness_low",
            group="toy x0",
            paper="1 (S ≈ 2/η, §3)",
        ),
        part(
            "(b) network: median ‖GD − θ†‖ / median ‖GD − flow‖ since the edge",
            to_dagger / to_flow,
            ratio_at_most,
            "distance_ratio_at_most",
            group=INIT_SEEDS,
            paper="≪ 1",
        ),
        part(
            "(b) network: max S(θ†)·η/2",
            dagger_peak,
            sharpness_at_most,
            "constrained_sharpness_at_most",
            group=INIT_SEEDS,
            paper="≤ 1 (θ† keeps S ≤ 2/η)",
        ),
    ]
    control = [
        part(
            "(a) toy before its edge: mean S·η/2",
            toy_before,
            toy_band,
            "toy_sharpness_low",
            group="toy x0",
        ),
        part(
            "(b) flow in θ†'s place: median ‖GD − flow‖ / median ‖GD − θ†‖",
            to_flow / to_dagger,
            ratio_at_most,
            "distance_ratio_at_most",
            group=INIT_SEEDS,
        ),
        part(
            "(b) flow in θ†'s place: max S(flow)·η/2",
            flow_peak,
            sharpness_at_most,
            "constrained_sharpness_at_most",
            group=INIT_SEEDS,
        ),
    ]
    eigen_ratio = final_values(table, "self_stabilization", "gd", "lambda2_over_lambda1_at_edge")
    tracked = final_values(table, "self_stabilization", "constrained", "tracked_steps")
    rows = [
        {
            "quantity": "(a) toy: mean x² after the edge / δ² = 2α/b (1 for any bounded stationary run)",
            "ours": spread((x_squared / predicted).reindex(toy_seeds)),
        },
        {"quantity": "(a) toy: mean x² after the edge", "ours": spread(x_squared)},
        {"quantity": "(b) λ2/λ1 where GD meets 2/η", "ours": spread(eigen_ratio)},
        {"quantity": "(b) median ‖GD − θ†‖ since the edge", "ours": spread(to_dagger)},
        {"quantity": "(b) median ‖GD − flow‖ since the edge", "ours": spread(to_flow)},
        {"quantity": "(b) max S(flow)·η/2", "ours": spread(flow_peak)},
        {"quantity": "(b) last step θ† was tracked (λ2 stop)", "ours": spread(tracked)},
    ]
    numbers = {
        "toy_x_squared_over_predicted_median": float(median_of(x_squared / predicted)),
        "distance_ratio_constrained_over_flow_median": float(median_of(to_dagger / to_flow)),
        "constrained_max_sharpness_times_lr_over_2_median": float(median_of(dagger_peak)),
        "flow_max_sharpness_times_lr_over_2_median": float(median_of(flow_peak)),
        "lambda2_over_lambda1_at_edge_median": float(median_of(eigen_ratio)),
    }
    return Evidence(
        parts=parts,
        control=control,
        control_description=(
            "gradient flow in θ†'s place (the trajectory Damian et al. contrast θ† with) and the "
            "toy's GD before it reaches 2/η: GD does not follow the flow, the flow's S rises past "
            "2/η, and before the edge there is nothing to stabilise, so each must fail"
        ),
        rows=rows,
        numbers=numbers,
    )


# --- E4 SGD trace bound --------------------------------------------------------------------------


def diagonal_final(
    table: pd.DataFrame, method: str, metric: str, batch_size: int | None = None
) -> pd.Series:
    """Final-step `metric` of every diagonal-net run of `method`, indexed by (lr, seed), with NaN
    where the run did not converge (the bound is a statement about minima)."""
    what = f"{method}{'' if batch_size is None else f' batch {batch_size}'}"
    converged = require(series(table, "diagonal_net", method, "converged", batch_size), what)
    converged = converged.set_index(["lr", "seed"])["value"]
    values = series(table, "diagonal_net", method, metric, batch_size)
    values = values.set_index(["lr", "seed"])["value"].reindex(converged.index)
    return values.where(converged == 1.0)


def seed_slots(runs: pd.Series) -> pd.DataFrame:
    """Runs as a (slot, lr) table: slot k holds the k-th run (in seed order) of every η, so that a
    slot's row is one run per step size, all independent, for a trend per slot."""
    frame = runs.rename("value").reset_index()
    frame["slot"] = frame.groupby("lr")["seed"].rank(method="first").astype(int) - 1
    return frame.pivot(index="slot", columns="lr", values="value").sort_index(axis=1)


def rank_correlation(lrs: np.ndarray, traces: np.ndarray) -> float:
    """Spearman's ρ of (η, tr H) over one slot's runs; NaN if any run is missing."""
    if np.isnan(traces).any():
        return float("nan")
    return float(spearmanr(lrs, traces).statistic)


def sgd_trace_bound(table: pd.DataFrame, tolerance: Section) -> Evidence:
    """E4 (Wu & Su 2023, the trace bound of batch-1 SGD): converged runs have tr(H)·η/2 ≤
    trace_times_lr_over_2_at_most at every η (a run that did not converge is no minimum: left out,
    with the converged share ≥ converged_share_at_least judged beside it); tr(H) falls as η grows
    (per seed slot, Spearman's ρ of (η, tr H) ≤ trend_spearman_at_most); GD near its edge has
    λmax·η/2 in [gd_sharpness_low, gd_sharpness_high] but tr(H)·η/2 ≥
    gd_trace_times_lr_over_2_at_least (one deterministic run). Control: SGD's bound on that GD run."""
    bound = at_most(tolerance.number("trace_times_lr_over_2_at_most", positive=True))
    share_at_least = at_least(tolerance.number("converged_share_at_least", positive=True))
    normalised = diagonal_final(table, "sgd", "trace_times_lr_over_2", batch_size=1)
    traces = diagonal_final(table, "sgd", "trace_hessian", batch_size=1)
    parts, rows = [], []
    for lr, values in normalised.groupby(level="lr"):
        parts += [
            part(
                f"SGD batch 1, η = {lr:g}: tr(H)·η/2 of converged runs",
                values,
                bound,
                "trace_times_lr_over_2_at_most",
                diverged=EXCLUDED,
                paper="≤ 1 (tr H ≤ 2/η)",
            ),
            part(
                f"SGD batch 1, η = {lr:g}: share of runs converged",
                values.notna().astype(float),
                share_at_least,
                "converged_share_at_least",
                statistic=lambda v: v.mean(axis=1),
            ),
        ]
        rows.append(
            {
                "method": "SGD batch 1",
                "η": f"{lr:g}",
                "converged": f"{int(values.notna().sum())}/{len(values)}",
                "tr(H)": spread(traces[lr]),
                "tr(H)·η/2": spread(values),
            }
        )
    slots = seed_slots(traces)
    lrs = slots.columns.to_numpy(np.float64)
    trend = pd.Series(
        [rank_correlation(lrs, row) for row in slots.to_numpy()], index=slots.index
    ).rename_axis("seed")
    parts.append(
        part(
            "SGD batch 1: Spearman ρ(η, tr H) per seed slot (one run per η)",
            trend,
            at_most(tolerance.number("trend_spearman_at_most", low=-1.0, high=1.0)),
            "trend_spearman_at_most",
            paper="tr H shrinks as η grows",
        )
    )
    gd_sharpness = diagonal_final(table, "gd", "sharpness_times_lr_over_2")
    gd_trace = diagonal_final(table, "gd", "trace_times_lr_over_2")
    gd_lambda2 = diagonal_final(table, "gd", "lambda2")
    gd_lr = float(gd_trace.index.get_level_values("lr")[0])
    parts += [
        part(
            f"GD η = {gd_lr:g} (one deterministic run): λmax·η/2",
            gd_sharpness,
            within(
                tolerance.number("gd_sharpness_low", positive=True),
                tolerance.number("gd_sharpness_high", positive=True),
            ),
            "gd_sharpness_low",
            deterministic=True,
            paper="≈ 1 (GD bounds λmax ≤ 2/η)",
        ),
        part(
            f"GD η = {gd_lr:g}: tr(H)·η/2",
            gd_trace,
            at_least(tolerance.number("gd_trace_times_lr_over_2_at_least", positive=True)),
            "gd_trace_times_lr_over_2_at_least",
            deterministic=True,
        ),
    ]
    rows.append(
        {
            "method": "GD",
            "η": f"{gd_lr:g}",
            "converged": f"{int(gd_trace.notna().sum())}/{len(gd_trace)}",
            "tr(H)·η/2": spread(gd_trace),
            "λmax·η/2": spread(gd_sharpness),
            "λ2·η/2": spread(gd_lambda2 * gd_lr / 2),
        }
    )
    control = [
        part(
            f"GD η = {gd_lr:g} under SGD's bound: tr(H)·η/2",
            gd_trace,
            bound,
            "trace_times_lr_over_2_at_most",
            deterministic=True,
        )
    ]
    numbers = {
        **{
            f"sgd_lr{lr:g}_trace_times_lr_over_2_median": float(median_of(values))
            for lr, values in normalised.groupby(level="lr")
        },
        "trace_vs_lr_spearman_per_slot_median": float(median_of(trend)),
        "gd_sharpness_times_lr_over_2": float(gd_sharpness.iloc[0]),
        "gd_trace_times_lr_over_2": float(gd_trace.iloc[0]),
    }
    return Evidence(
        parts=parts,
        control=control,
        control_description=(
            "the trace bound applied to full-batch GD (Wu & Su: GD's stability bounds only λmax): "
            "GD at its edge sits at a minimum whose tr(H) exceeds 2/η, so it must fail"
        ),
        rows=rows,
        numbers=numbers,
    )


CHECKS = {
    "progressive_sharpening": progressive_sharpening,
    "edge_of_stability": edge_of_stability,
    "self_stabilization": self_stabilization,
    "sgd_trace_bound": sgd_trace_bound,
}
