"""Claim checks E1–E4 on the study's tidy table; every threshold comes from claims.yaml.

A check does not decide. It returns `Evidence` (stages/common/decision.py): per part of the claim,
one value per seed (a run, or a seed slot for E4's trend), the criterion and the claims.yaml key it
comes from, and the same parts computed where the claimed effect is absent (the control). The one
decision rule resamples the seeds and gives the verdict. A diverged or lost run enters as NaN, which
fails its criterion. E4 is the one place where a run that did not converge is not a failure: the
trace bound is about minima, so each seed is judged over the step sizes at which it converged (a
seed that converged nowhere fails), and the converged share per η is shown.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from ...common.atomic import DataError
from ...common.decision import Evidence, Part, at_least, at_most, within
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


def rank_correlation(x, y) -> float:
    """Spearman's ρ of two equal-length sequences; NaN if any value is missing or fewer than 3."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if len(x) < 3 or np.isnan(x).any() or np.isnan(y).any():
        return float("nan")
    return float(spearmanr(x, y).statistic)


def rise_in_second_half(rows: pd.DataFrame, last_step: int, reach: float) -> float:
    """Spearman's ρ of (step, S·η/2) over one run's checkpoints in the second half of its steps
    that are still below the edge (S·η/2 < reach): Cohen et al.'s 'so long as the sharpness is less
    than 2/η, it tends to continually rise'. A diverged run (NaN) has none."""
    later = rows[rows["step"] >= last_step / 2]
    if later["value"].isna().any():
        return float("nan")
    below = later[later["value"] < reach]
    return rank_correlation(below["step"], below["value"])


def sharpening_parts(
    normalised: pd.DataFrame,
    runs: pd.MultiIndex,
    last_steps: dict[float, int],
    tolerance: Section,
    label: str = "",
) -> list[Part]:
    """E1's parts on S·η/2 per run: at every η but the small step, it starts below reach_fraction
    and its peak reaches it; at the small step (run to the same flow time as the edge runs), S
    rises (final/initial ≥ small_rise_at_least) and is still rising over the second half of the run
    while below the edge (ρ ≥ small_rise_rank_at_least). A diverged run has no peak (NaN): fails."""
    reach = tolerance.number("reach_fraction", positive=True)
    small_lr = tolerance.number("small_lr", positive=True)
    initial = per_run(normalised, lambda rows: rows["value"].iloc[0], runs)
    peak = per_run(normalised, lambda rows: rows["value"].max(skipna=False), runs)
    rise = per_run(normalised, lambda rows: rows["value"].iloc[-1] / rows["value"].iloc[0], runs)
    lrs = sorted(runs.get_level_values("lr").unique())
    if small_lr not in lrs:
        raise ValueError(f"small_lr = {small_lr:g} is not among the GD step sizes {lrs}")
    parts = []
    for lr in lrs:
        where = f"η = {lr:g}{label}"
        if lr == small_lr:
            still_rising = per_run(
                normalised,
                lambda rows, lr=lr: rise_in_second_half(rows, last_steps[lr], reach),
                runs,
            )
            parts += [
                part(
                    f"{where}: final / initial S (sharpens)",
                    rise[lr],
                    at_least(tolerance.number("small_rise_at_least", positive=True)),
                    "small_rise_at_least",
                    group=INIT_SEEDS,
                ),
                part(
                    f"{where}: ρ(step, S) over the second half below the edge (still rising)",
                    still_rising[lr],
                    at_least(tolerance.number("small_rise_rank_at_least", low=-1.0, high=1.0)),
                    "small_rise_rank_at_least",
                    group=INIT_SEEDS,
                    paper="S continually rises while below 2/η (§3)",
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
    S·η/2 ≥ reach_fraction, for every η but the small step; the small step, run to the same flow
    time η·steps as the edge runs, keeps sharpening (sharpening_parts). Control: the same parts
    on each run's S reversed in time."""
    reach = tolerance.number("reach_fraction", positive=True)
    normalised = require(
        series(table, "cohen_gd", "gd", "sharpness_times_lr_over_2"), "gd sharpness"
    )
    runs = runs_of(table, "cohen_gd", "gd")
    losses = series(table, "cohen_gd", "gd", "loss_half_mse")
    last_steps = {lr: int(group["step"].max()) for lr, group in losses.groupby("lr")}
    rows, numbers = [], {}
    initial = per_run(normalised, lambda r: r["value"].iloc[0], runs)
    peak = per_run(normalised, lambda r: r["value"].max(skipna=False), runs)
    rise = per_run(normalised, lambda r: r["value"].iloc[-1] / r["value"].iloc[0], runs)
    crossing = per_run(normalised, lambda r: first_step_at_or_above(r, reach), runs)
    for lr in sorted(runs.get_level_values("lr").unique()):
        steps = last_steps[lr]
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
        parts=sharpening_parts(normalised, runs, last_steps, tolerance),
        control=sharpening_parts(
            reversed_in_time(normalised), runs, last_steps, tolerance, ", reversed"
        ),
        control_description=(
            "every run's S·η/2 reversed in time, so that S falls from its last value to its first: "
            "the sharpening is removed and the same numbers remain; it must fail, since an edge run "
            "then starts at the edge and the small step's S shrinks"
        ),
        summary=(
            "Per η: S·η/2 at the first checkpoint and its peak over the run; the small step's final "
            "over initial S and its rank correlation with the step over the run's second half."
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


def gd_edge_summaries(table: pd.DataFrame, reach: float, band: float, small_lr: float):
    """Per GD run at every η but the small step (it never reaches its edge), from its first checkpoint with S·η/2 ≥ reach. A run
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
        if lr == small_lr:
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
    low = tolerance.number("median_low", positive=True)
    high = 1 + tolerance.number("median_excess_at_most", positive=True)
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
    above 2/η (median S·η/2 in [median_low, 1 + median_excess_at_most]: by the project-wide rule
    on the 1.03–1.05 read off Cohen et al.'s README figure), a share ≥ within_band_share_at_least of
    measurements within ±band of 2/η) while the loss rises on a share ≥ loss_rise_share_at_least of
    steps yet ends lower than at the crossing (final/crossing ≤ final_over_crossing_loss_at_most).
    Control: the same parts on gradient flow from the edge."""
    reach, band = (
        tolerance.number("reach_fraction", positive=True),
        tolerance.number("band", positive=True),
    )
    small_lr = tolerance.number("small_lr", positive=True)
    gd = gd_edge_summaries(table, reach, band, small_lr)
    if gd.empty:
        raise ValueError("no GD step size besides the small step: E2 needs the edge runs")
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


def distances_since_edge(table: pd.DataFrame, methods, seeds) -> dict[int, pd.DataFrame]:
    """Per seed, ‖θ_GD − θ‖ of each method as columns, one row per step since the edge (the edge
    itself, the common start, left out)."""
    rows = pd.concat(
        [
            require(
                series(table, "self_stabilization", m, "distance_to_gd"), f"{m} distances"
            ).assign(method=m)
            for m in methods
        ]
    )
    rows = rows[rows["steps_since_edge"] > 0]
    return {
        seed: rows[rows["seed"] == seed].pivot(
            index="steps_since_edge", columns="method", values="value"
        )
        for seed in seeds
    }


def median_ratio(distances: dict[int, pd.DataFrame], numerator: str, denominator: str) -> pd.Series:
    """Per seed, the median over steps of ‖GD − numerator‖ over the median of ‖GD − denominator‖,
    both over the steps where both are tracked (NaN where there are none: a lost seed)."""
    ratios = {}
    for seed, frame in distances.items():
        both = frame[[numerator, denominator]].dropna() if len(frame) else frame
        ratios[seed] = (
            float(both[numerator].median() / both[denominator].median()) if len(both) else np.nan
        )
    return pd.Series(ratios).rename_axis("seed")


def tracked_series(table: pd.DataFrame, method: str, metric: str, seeds, summary) -> pd.Series:
    rows = series(table, "self_stabilization", method, metric)
    return rows.groupby("seed")["value"].agg(summary).reindex(seeds)


def self_stabilization(table: pd.DataFrame, tolerance: Section) -> Evidence:
    """E3 (Damian et al. 2023, §4–5) on the network, from the step GD first meets 2/η, per seed:
    GD follows θ† + v, the predicted dynamics (median ‖GD − (θ† + v)‖ over median ‖GD − θ†‖ ≤
    prediction_error_ratio_at_most), and θ† much more closely than gradient flow (median
    ‖GD − θ†‖ over median ‖GD − flow‖ ≤ distance_ratio_at_most), while θ† is tracked (λ2 stop).
    Control: the same parts with the second-order prediction θ† + w in place of θ† + v (without
    the cubic term that self-stabilizes). The toy's mean x² / δ² and mean S·η/2 are shown,
    not judged: both hold for any bounded oscillation at the edge."""
    prediction_at_most = at_most(tolerance.number("prediction_error_ratio_at_most", positive=True))
    ratio_at_most = at_most(tolerance.number("distance_ratio_at_most", positive=True))
    seeds = runs_of(table, "self_stabilization", "gd").get_level_values("seed")
    distances = distances_since_edge(
        table, ("constrained", "predicted", "quadratic", "flow"), seeds
    )
    parts = [
        part(
            "median ‖GD − (θ† + v)‖ / median ‖GD − θ†‖ since the edge (the predicted dynamics)",
            median_ratio(distances, "predicted", "constrained"),
            prediction_at_most,
            "prediction_error_ratio_at_most",
            group=INIT_SEEDS,
            paper="≪ 1 (GD ≈ θ† + v, eq. 5)",
        ),
        part(
            "median ‖GD − θ†‖ / median ‖GD − flow‖ since the edge",
            median_ratio(distances, "constrained", "flow"),
            ratio_at_most,
            "distance_ratio_at_most",
            group=INIT_SEEDS,
            paper="≪ 1",
        ),
    ]
    control = [  # the same check with the cubic (self-stabilizing) term taken out of the prediction
        part(
            "second-order θ† + w in place of θ† + v: median ‖GD − (θ† + w)‖ / median ‖GD − θ†‖",
            median_ratio(distances, "quadratic", "constrained"),
            prediction_at_most,
            "prediction_error_ratio_at_most",
            group=INIT_SEEDS,
        ),
        parts[1],
    ]
    toy_seeds = runs_of(table, "toy_cubic", "gd").get_level_values("seed")
    x_squared = final_values(table, "toy_cubic", "gd", "x_squared_mean_after_edge")
    predicted = final_values(table, "toy_cubic", "gd", "predicted_x_squared")
    toy_sharpness = final_values(
        table, "toy_cubic", "gd", "sharpness_times_lr_over_2_mean_after_edge"
    )
    eigen_ratio = final_values(table, "self_stabilization", "gd", "lambda2_over_lambda1_at_edge")
    tracked = final_values(table, "self_stabilization", "constrained", "tracked_steps")
    dagger_peak = tracked_series(table, "constrained", "sharpness_times_lr_over_2", seeds, "max")
    flow_peak = tracked_series(table, "flow", "sharpness_times_lr_over_2", seeds, "max")
    gd_mean = tracked_series(table, "gd", "sharpness_times_lr_over_2", seeds, "mean")

    def median_of_method(method):
        return [median_of(frame[method]) if len(frame) else np.nan for frame in distances.values()]

    rows = [
        {"quantity": "last step θ† was tracked (λ2 stop; of the horizon)", "ours": spread(tracked)},
        {"quantity": "λ2/λ1 where GD meets 2/η", "ours": spread(eigen_ratio)},
        *(
            {
                "quantity": f"median ‖GD − {name}‖ since the edge",
                "ours": spread(median_of_method(m)),
            }
            for m, name in (
                ("constrained", "θ†"),
                ("predicted", "(θ† + v)"),
                ("quadratic", "(θ† + w)"),
                ("flow", "flow"),
            )
        ),
        {
            "quantity": "flow in θ†'s place: median ‖GD − flow‖ / median ‖GD − θ†‖",
            "ours": spread(median_ratio(distances, "flow", "constrained")),
        },
        {"quantity": "max S(θ†)·η/2 (θ† keeps S ≤ 2/η)", "ours": spread(dagger_peak)},
        {"quantity": "mean S·η/2 of GD since the edge", "ours": spread(gd_mean)},
        {"quantity": "max S·η/2 of the flow", "ours": spread(flow_peak)},
        {
            "quantity": "toy: mean x² after the edge / δ² = 2α/b (1 for any bounded stationary run)",
            "ours": spread((x_squared / predicted).reindex(toy_seeds)),
        },
        {"quantity": "toy: mean S·η/2 after the edge", "ours": spread(toy_sharpness)},
    ]
    numbers = {
        "prediction_error_ratio_median": median_of(
            median_ratio(distances, "predicted", "constrained")
        ),
        "quadratic_error_ratio_median": median_of(
            median_ratio(distances, "quadratic", "constrained")
        ),
        "distance_ratio_constrained_over_flow_median": median_of(
            median_ratio(distances, "constrained", "flow")
        ),
        "constrained_tracked_steps_median": median_of(tracked),
        "constrained_max_sharpness_times_lr_over_2_median": median_of(dagger_peak),
        "lambda2_over_lambda1_at_edge_median": median_of(eigen_ratio),
        "toy_x_squared_over_predicted_median": median_of(x_squared / predicted),
        "toy_sharpness_times_lr_over_2_mean_median": median_of(toy_sharpness),
    }
    return Evidence(
        parts=parts,
        control=control,
        control_description=(
            "the same check with the second-order prediction θ† + w (the recursion without the "
            "cubic term, the deviation a quadratic model of the loss predicts) in place of Damian "
            "et al.'s θ† + v: without self-stabilization the prediction does not track GD, so it "
            "must fail"
        ),
        summary=(
            "Medians over the steps θ† was tracked, per seed (tracking ends at the horizon or where "
            "λ2(θ†)·η/2 first exceeds the stop). The toy is shown in its figure and below."
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


def largest_converged(values: pd.Series) -> pd.Series:
    """Per seed, the largest value over the η at which that seed's run converged (NaN: none did)."""
    return values.groupby(level="seed").max()


def trend_per_seed(traces: pd.Series) -> pd.Series:
    """Per seed, Spearman's ρ of (η, tr H) over the η at which that seed's run converged (NaN with
    fewer than three)."""
    return (
        traces.dropna()
        .groupby(level="seed")
        .apply(lambda runs: rank_correlation(runs.index.get_level_values("lr"), runs.to_numpy()))
        .reindex(traces.index.get_level_values("seed").unique())
    )


def sgd_trace_bound(table: pd.DataFrame, tolerance: Section) -> Evidence:
    """E4 (Wu & Su 2023): a minimum linearly stable for batch-1 SGD has tr(H) ≤ 2/η. Per seed (one
    batch order run at every η of a grid up to SGD's divergence), the largest tr(H)·η/2 over the
    η at which it converged is ≤ trace_times_lr_over_2_at_most (a run that did not converge is no
    minimum; a seed that converged nowhere fails), and tr(H) falls as η grows (ρ(η, tr H) per seed
    ≤ trend_spearman_at_most). GD near its own edge (its largest η, outside SGD's grid) has λmax·η/2
    in [gd_sharpness_low, gd_sharpness_high] but tr(H)·η/2 ≥ gd_trace_times_lr_over_2_at_least.
    Control: SGD's bound on GD at SGD's own step sizes (Wu & Su: GD's stability bounds only λmax)."""
    bound = at_most(tolerance.number("trace_times_lr_over_2_at_most", positive=True))
    normalised = diagonal_final(table, "sgd", "trace_times_lr_over_2", batch_size=1)
    traces = diagonal_final(table, "sgd", "trace_hessian", batch_size=1)
    sgd_lrs = sorted(normalised.index.get_level_values("lr").unique())
    gd_normalised = diagonal_final(table, "gd", "trace_times_lr_over_2")
    gd_sharpness = diagonal_final(table, "gd", "sharpness_times_lr_over_2")
    gd_lambda2 = diagonal_final(table, "gd", "lambda2")
    gd_lrs = sorted(gd_normalised.index.get_level_values("lr").unique())
    edge_lr = gd_lrs[-1]
    if edge_lr in sgd_lrs or not set(gd_lrs[:-1]) <= set(sgd_lrs):
        raise ValueError(
            f"GD's step sizes {gd_lrs}: allowed: some of SGD's {sgd_lrs}, then one larger (its edge)"
        )
    same_lr = gd_normalised.drop(edge_lr, level="lr")
    parts = [
        part(
            "SGD batch 1: per seed, the largest tr(H)·η/2 over its converged runs",
            largest_converged(normalised),
            bound,
            "trace_times_lr_over_2_at_most",
            group="batch order",
            paper="≤ 1 (tr H ≤ 2/η)",
        ),
        part(
            "SGD batch 1: per seed, ρ(η, tr H) over its converged runs",
            trend_per_seed(traces),
            at_most(tolerance.number("trend_spearman_at_most", low=-1.0, high=1.0)),
            "trend_spearman_at_most",
            group="batch order",
            paper="tr H shrinks as η grows",
        ),
        part(
            f"GD η = {edge_lr:g} (its edge; one deterministic run): λmax·η/2",
            gd_sharpness.xs(edge_lr, level="lr"),
            within(
                tolerance.number("gd_sharpness_low", positive=True),
                tolerance.number("gd_sharpness_high", positive=True),
            ),
            "gd_sharpness_low",
            deterministic=True,
            paper="≈ 1 (GD bounds λmax ≤ 2/η)",
        ),
        part(
            f"GD η = {edge_lr:g}: tr(H)·η/2",
            gd_normalised.xs(edge_lr, level="lr"),
            at_least(tolerance.number("gd_trace_times_lr_over_2_at_least", positive=True)),
            "gd_trace_times_lr_over_2_at_least",
            deterministic=True,
        ),
    ]
    control = [
        part(
            f"GD at SGD's η ({', '.join(f'{lr:g}' for lr in gd_lrs[:-1])}) under SGD's bound: the "
            "largest tr(H)·η/2 over its converged runs",
            largest_converged(same_lr),
            bound,
            "trace_times_lr_over_2_at_most",
            deterministic=True,
        )
    ]
    rows = []
    for lr in sgd_lrs:
        sgd = normalised.xs(lr, level="lr")
        row = {
            "η": f"{lr:g}",
            "SGD converged": f"{int(sgd.notna().sum())}/{len(sgd)}",
            "SGD tr(H)": spread(traces.xs(lr, level="lr")),
            "SGD tr(H)·η/2": spread(sgd),
        }
        if lr in gd_lrs:
            row |= {
                "GD tr(H)·η/2": spread(gd_normalised.xs(lr, level="lr")),
                "GD λmax·η/2": spread(gd_sharpness.xs(lr, level="lr")),
            }
        rows.append(row)
    rows.append(
        {
            "η": f"{edge_lr:g} (GD's edge)",
            "GD tr(H)·η/2": spread(gd_normalised.xs(edge_lr, level="lr")),
            "GD λmax·η/2": spread(gd_sharpness.xs(edge_lr, level="lr")),
            "GD λ2·η/2": spread(gd_lambda2.xs(edge_lr, level="lr") * edge_lr / 2),
        }
    )
    converged_lrs = normalised.dropna().index.to_frame(index=False).groupby("seed")["lr"].max()
    numbers = {
        **{
            f"sgd_lr{lr:g}_trace_times_lr_over_2_median": median_of(normalised.xs(lr, level="lr"))
            for lr in sgd_lrs
        },
        "sgd_largest_converged_trace_times_lr_over_2_median": median_of(
            largest_converged(normalised)
        ),
        "sgd_largest_converged_lr_median": median_of(converged_lrs),
        "trace_vs_lr_spearman_per_seed_median": median_of(trend_per_seed(traces)),
        "gd_same_lr_largest_trace_times_lr_over_2": median_of(largest_converged(same_lr)),
        "gd_edge_sharpness_times_lr_over_2": median_of(gd_sharpness.xs(edge_lr, level="lr")),
        "gd_edge_trace_times_lr_over_2": median_of(gd_normalised.xs(edge_lr, level="lr")),
    }
    return Evidence(
        parts=parts,
        control=control,
        control_description=(
            "the trace bound applied to full-batch GD at SGD's own step sizes (Wu & Su: GD's "
            "stability bounds only λmax): GD converges there to minima whose tr(H) exceeds 2/η, "
            "so it must fail; it also shows the bound binds on this grid"
        ),
        summary=(
            "Per seed, one batch order run at every η of the grid; the largest tr(H)·η/2 is where "
            "the bound binds (the largest η at which the seed converged)."
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
