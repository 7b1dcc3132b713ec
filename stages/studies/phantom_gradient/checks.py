"""Claim checks P1–P3 on the study's tidy table: each returns the decision rule's Evidence
(stages/common/decision.py), per-seed values with their criteria and their control; every threshold
comes from claims.yaml. The tidy table holds machine-independent numbers only (cosines, counts of
passes through f, accuracies); P2 also judges backward times, which the train stage measures
(TrainResult.wall_clock) and the check receives as its `wall_clock` argument, never via the table.

Every seed a compared variant ran enters its parts: a seed whose value is missing (a diverged run,
a checkpoint it never reached, a reference solve that missed its tolerance) is NaN, which the rule
counts as a seed where the criterion fails.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ...common.atomic import DataError
from ...common.decision import Evidence, Part, at_least, at_most
from ...common.params import Section
from ...common.statistics import paired_ratio, spearman
from .table_rows import (
    RANDOM_DIRECTION,
    direction_cosines,
    direction_rows,
    experiment_rows,
    training_backward_passes,
)

DENSE_SEEDS = "dense seeds"  # the group of parts that pair dense runs on the same seeds
CONV_SEEDS = "conv cell seeds"


def required(rows: pd.DataFrame, what: str) -> pd.DataFrame:
    if rows.empty:
        raise DataError(f"the table has no {what} rows: run the variants this claim names")
    return rows


def seeds_of(table: pd.DataFrame, variant: str) -> list[int]:
    """Every seed the variant ran: each run has exactly one `diverged` row."""
    rows = table[(table["variant"] == variant) & (table["metric"] == "diverged")]
    if rows.empty:
        raise DataError(f"the table has no runs of variant {variant!r}")
    return sorted(int(s) for s in rows["seed"])


def per_seed(rows: pd.DataFrame, variant: str, metric: str, seeds: list[int]) -> pd.Series:
    """One value per seed at the last step recorded (a trained network's final value), NaN for a
    seed without one."""
    picked = rows[(rows["variant"] == variant) & (rows["metric"] == metric)]
    if picked.empty:
        raise DataError(f"the table has no {metric!r} rows for variant {variant!r}")
    picked = picked.loc[picked.groupby("seed")["step"].idxmax()]
    return picked.set_index("seed")["value"].reindex(seeds)


def lowest_median(values: np.ndarray) -> np.ndarray:
    """Per group (last axis) the median over seeds, then the lowest group: a (resamples, seeds,
    groups) array gives one number per resample. It meets `≥ x` exactly when every group does."""
    return np.median(values, axis=-2).min(axis=-1)


def median_text(values) -> str:
    values = np.asarray(values, dtype=np.float64)
    finite = values[np.isfinite(values)]
    if not len(finite):
        return "—"
    q25, median, q75 = np.quantile(finite, [0.25, 0.5, 0.75])
    lost = len(values) - len(finite)
    return f"{median:.4g} [{q25:.4g}, {q75:.4g}]" + (f" ({lost} lost)" if lost else "")


# --- P1 direction ---------------------------------------------------------------------------------


def checkpoint_matrix(rows: pd.DataFrame, seeds: list[int], groups: list[str]) -> np.ndarray:
    """(seeds, groups) of the rows' values indexed by seed and group; NaN where a seed lacks one."""
    pivot = rows.pivot_table(index="seed", columns="group", values="value", aggfunc="first")
    return pivot.reindex(index=seeds, columns=groups).to_numpy(dtype=np.float64)


def rise_per_seed(rows: pd.DataFrame) -> pd.DataFrame:
    """Spearman(k, cosine) per (seed, group) over the grid's k; NaN where a cosine is missing."""
    return (
        rows.groupby(["seed", "group"])[["estimator_k", "value"]]
        .apply(lambda r: spearman(r["estimator_k"], r["value"]))
        .rename("value")
        .reset_index()
    )


def direction_parts(
    label: str,
    cosines: pd.DataFrame,
    seeds: list[int],
    judged_k: int,
    floor: float,
    rise_floor: float,
) -> list[Part]:
    """The cosine at k = judged_k and its rise with k, on every checkpoint group of one trajectory:
    per seed, one value per group; the statistic is the lowest group's median over seeds."""
    groups = sorted(set(cosines["group"]))
    at_k = checkpoint_matrix(cosines[cosines["estimator_k"] == judged_k], seeds, groups)
    rise = checkpoint_matrix(rise_per_seed(cosines), seeds, groups)
    return [
        Part(
            f"{label}: cosine with exact at k = {judged_k}, lowest median over checkpoints and λ",
            seeds,
            at_k,
            at_least(floor),
            "cosine_at_least",
            statistic=lowest_median,
            group=DENSE_SEEDS,
        ),
        Part(
            f"{label}: Spearman(k, cosine) per seed, lowest median over checkpoints and λ",
            seeds,
            rise,
            at_least(rise_floor),
            "rise_spearman_at_least",
            statistic=lowest_median,
            group=DENSE_SEEDS,
        ),
    ]


def largest_per_seed(rows: pd.DataFrame) -> pd.Series:
    """Each seed's largest value over its rows; NaN (a lost seed) if any row is NaN, e.g. a
    checkpoint whose reference solve missed its tolerance: a void comparison is not dropped."""
    return rows.groupby("seed")["value"].agg(lambda values: values.max(skipna=False))


def with_groups(cosines: pd.DataFrame) -> pd.DataFrame:
    """A `group` column naming each checkpoint and λ ("epoch 5, λ=0.5"; λ absent for the control)."""
    damping = cosines["estimator_damping"].map(lambda d: "" if pd.isna(d) else f", λ={d:g}")
    return cosines.assign(group="epoch " + cosines["epoch"].astype(str) + damping)


def phantom_direction(table: pd.DataFrame, tolerance: Section) -> Evidence:
    """P1 (Geng et al. 2021, §3 and its figure of cosine similarity against k): on every trajectory,
    at every checkpoint and every λ, the unrolled phantom gradient at k = judged_k has cosine ≥
    cosine_at_least with the exact gradient (median over seeds), the cosine rises with k (per seed
    Spearman(k, cosine) ≥ rise_spearman_at_least, median over seeds), and the unrolled and Neumann
    forms give the same estimate (per seed, the largest relative difference over the grid and the
    checkpoints ≤ forms_relative_difference_at_most, median over seeds). Control: a random direction
    in place of the phantom gradient, judged by the same two direction criteria."""
    judged_k = tolerance.integer("judged_k", minimum=1)
    floor = tolerance.number("cosine_at_least", low=-1.0, high=1.0)
    rise_floor = tolerance.number("rise_spearman_at_least", low=-1.0, high=1.0)
    agreement = tolerance.number("forms_relative_difference_at_most", positive=True)
    direction = required(direction_rows(table), "direction (dense checkpoint)")
    unrolled = with_groups(required(direction_cosines(table, "unrolled"), "unrolled cosine"))
    random = with_groups(required(direction_cosines(table, RANDOM_DIRECTION), "control cosine"))
    if judged_k not in set(unrolled["estimator_k"]):
        raise DataError(
            f"judged_k = {judged_k} is not on the direction grid "
            f"{sorted(set(unrolled['estimator_k']))}"
        )
    differences = direction[direction["metric"] == "unrolled_neumann_relative_difference"]
    parts, control, rows = [], [], []
    for variant in sorted(set(unrolled["variant"])):
        seeds = seeds_of(table, variant)
        own = unrolled[unrolled["variant"] == variant]
        parts += direction_parts(variant, own, seeds, judged_k, floor, rise_floor)
        largest = largest_per_seed(differences[differences["variant"] == variant])
        parts.append(
            Part(
                f"{variant}: largest ‖unrolled − Neumann‖ / ‖Neumann‖ per seed",
                seeds,
                largest.reindex(seeds).to_numpy(),
                at_most(agreement),
                "forms_relative_difference_at_most",
                group=DENSE_SEEDS,
            )
        )
        own_random = random[random["variant"] == variant]
        control += direction_parts(
            f"{variant}, random direction in place of the phantom gradient",
            own_random,
            seeds,
            judged_k,
            floor,
            rise_floor,
        )
        rows += direction_table_rows(variant, own, direction, own_random, judged_k)
    radius = required(direction[direction["metric"] == "jacobian_spectral_radius_max"], "ρ(J)")
    unconverged = direction[direction["metric"] == "reference_unconverged_solves"]["value"].sum()
    where = where_the_cosine_drops(unrolled, radius, judged_k, floor)
    trained = trained_cosines(unrolled, judged_k)
    converged = differences["value"].dropna()
    forms = (
        f"On the checkpoints whose reference converged the two forms differ by at most "
        f"{converged.max():.2g} (relative); elsewhere the comparison is void (a lost seed)."
        if len(converged)
        else "No checkpoint's reference converged: the two forms were never compared."
    )
    return Evidence(
        parts,
        control,
        "a random direction (standard normal over the same parameters, one per seed, checkpoint "
        "and k) in place of the phantom gradient: it carries no information about the exact "
        "gradient, so its cosine is near 0 and does not rise with k",
        summary=(
            f"{where} {trained} {forms} Largest ρ(J) seen at any checkpoint: "
            f"{radius['value'].max():.3f}; reference solves that missed their tolerance: "
            f"{unconverged:.0f}. The paper shows the cosine rising towards 1 with k in a figure, "
            "without printed values."
        ),
        rows=rows,
        numbers={
            "jacobian_spectral_radius_max": float(radius["value"].max()),
            "reference_unconverged_solves": float(unconverged),
        },
    )


def where_the_cosine_drops(
    cosines: pd.DataFrame, radius: pd.DataFrame, judged_k: int, floor: float
) -> str:
    """Where, in ρ(J), the median cosine at judged_k falls below the floor: each (trajectory,
    checkpoint, λ) group's median cosine against its checkpoint's median ρ(J) over seeds."""
    radius_at = radius.groupby(["variant", "epoch"])["value"].median()
    at_k = cosines[cosines["estimator_k"] == judged_k]
    groups = at_k.groupby(["variant", "epoch", "estimator_damping"])["value"].median().reset_index()
    groups["radius"] = [
        radius_at.get((v, e), np.nan)
        for v, e in zip(groups["variant"], groups["epoch"], strict=True)
    ]
    below, above = groups[groups["value"] < floor], groups[groups["value"] >= floor]
    if below.empty:
        return (
            f"The median cosine at k = {judged_k} stays ≥ {floor:g} on every checkpoint and λ, up "
            f"to a median ρ(J) of {groups['radius'].max():.3f}."
        )
    first = below.loc[below["radius"].idxmin()]
    text = (
        f"The median cosine at k = {judged_k} falls below {floor:g} on {len(below)} of "
        f"{len(groups)} checkpoint and λ groups, the first at a median ρ(J) of {first['radius']:.3f} "
        f"({first['variant']}, epoch {int(first['epoch'])}, λ = {first['estimator_damping']:g}: "
        f"{first['value']:.4f})"
    )
    if above.empty:
        return text + "; no group stays above it."
    return text + f"; groups up to a median ρ(J) of {above['radius'].max():.3f} stay above it."


def trained_cosines(cosines: pd.DataFrame, judged_k: int) -> str:
    """The measured cosines at judged_k after initialisation, per λ: what survives the lost seeds."""
    later = cosines[(cosines["estimator_k"] == judged_k) & (cosines["epoch"] > 0)]
    later = later[np.isfinite(later["value"])]
    if later.empty:
        return f"No checkpoint after initialisation has a measured cosine at k = {judged_k}."
    parts = [
        f"λ = {damping:g}: {group['value'].median():.3f} [{group['value'].min():.3f}, "
        f"{group['value'].max():.3f}]"
        for damping, group in later.groupby("estimator_damping")
    ]
    return (
        f"Measured cosines at k = {judged_k} after initialisation ({len(later) // len(parts)} seed "
        f"checkpoints whose reference converged), median [range]: {'; '.join(parts)}."
    )


def direction_table_rows(
    variant: str,
    cosines: pd.DataFrame,
    direction: pd.DataFrame,
    random: pd.DataFrame,
    judged_k: int,
) -> list[dict]:
    """Per checkpoint and λ: the median cosine per k, ρ(J), and the control's cosine at judged_k."""
    radius = direction[
        (direction["variant"] == variant) & (direction["metric"] == "jacobian_spectral_radius_max")
    ]
    rows = []
    for (epoch, damping), group in cosines.groupby(["epoch", "estimator_damping"]):
        by_k = group.groupby("estimator_k")["value"].median()
        control = random[(random["epoch"] == epoch) & (random["estimator_k"] == judged_k)]
        rows.append(
            {
                "trajectory": variant,
                "epoch": int(epoch),
                "λ": f"{damping:g}",
                "median cosine per k": ", ".join(f"k={k}: {v:.4f}" for k, v in by_k.items()),
                "ρ(J), largest per seed": median_text(radius[radius["epoch"] == epoch]["value"]),
                f"random direction's cosine (k={judged_k} slot)": median_text(control["value"]),
            }
        )
    return rows


# --- P2 backward cost -----------------------------------------------------------------------------


def round_times(wall_clock: dict, form: str, seeds: list[int]) -> np.ndarray:
    """Every timed round's backward time of one form, shape (seeds, rounds): the training wrote them
    in (seed, round) order (backward_timing.py)."""
    key = f"backward_{form}_seconds"
    if key not in wall_clock:
        raise DataError(f"the conv_timing run has no {key!r} timings: rerun its train stage")
    seconds = np.asarray(wall_clock[key], dtype=np.float64)
    if len(seconds) % len(seeds):
        raise DataError(f"{len(seconds)} timed rounds of {form!r} do not split over seeds {seeds}")
    return seconds.reshape(len(seeds), -1)


def backward_cost(table: pd.DataFrame, tolerance: Section, wall_clock: dict) -> Evidence:
    """P2 (Geng et al. 2021, abstract: the phantom gradient makes the backward pass roughly 1.7×
    faster): on the convolutional cell, the exact backward's time over the unrolled phantom
    gradient's, paired per timed round (the two timed in the same round, from the same fixed point),
    median over rounds ≥ time_ratio_at_least; beside it the machine-independent count, per seed, of
    passes through f (evaluations recorded for the backward pass + VJPs), exact / unrolled ≥
    passes_ratio_at_least. A seed whose forward solve missed its tolerance is lost with its rounds.
    Control: the exact backward against itself (its time in the next round of the same seed; its
    pass count). The Neumann form and the dense model's passes per training step are shown."""
    time_floor = tolerance.number("time_ratio_at_least", positive=True)
    passes_floor = tolerance.number("passes_ratio_at_least", positive=True)
    timing = required(experiment_rows(table, "conv_timing"), "conv_timing")
    variant = timing["variant"].iloc[0]
    seeds = seeds_of(timing, variant)
    converged = per_seed(timing, variant, "forward_unconverged_solves", seeds).to_numpy() == 0
    forms = ("exact", "unrolled", "neumann")
    rows_of = {form: timing[timing["estimator"] == form] for form in forms}
    passes = {
        form: per_seed(rows_of[form], variant, "backward_passes", seeds).where(converged)
        for form in forms
    }
    vjps = {form: per_seed(rows_of[form], variant, "backward_vjps", seeds) for form in forms}
    seconds = {
        form: np.where(converged[:, None], round_times(wall_clock[variant], form, seeds), np.nan)
        for form in forms
    }
    rounds = list(range(seconds["exact"].size))  # units: every timed round, seed by seed
    time_ratio = (seconds["exact"] / seconds["unrolled"]).ravel()
    # the control's rounds: each exact time over the next round's of the same seed
    next_round = (seconds["exact"][:, :-1] / seconds["exact"][:, 1:]).ravel()
    time_paper = "≈1.7× faster backward (abstract); about 2× faster training (public code's README)"
    parts = [
        Part(
            "conv cell: backward time, exact / unrolled phantom gradient, per timed round",
            rounds,
            time_ratio,
            at_least(time_floor),
            "time_ratio_at_least",
            group="timed rounds",
            timed=True,
            paper=time_paper,
        ),
        Part(
            "conv cell: passes through f, exact / unrolled phantom gradient, per seed",
            seeds,
            paired_ratio(passes["exact"], passes["unrolled"]),
            at_least(passes_floor),
            "passes_ratio_at_least",
            group=CONV_SEEDS,
        ),
    ]
    control = [
        Part(
            "conv cell: backward time, exact / exact in the next round of the same seed",
            list(range(next_round.size)),
            next_round,
            at_least(time_floor),
            "time_ratio_at_least",
            group="consecutive rounds",
            timed=True,
        ),
        Part(
            "conv cell: passes through f, exact / exact (the exact backward against itself)",
            seeds,
            paired_ratio(passes["exact"], passes["exact"]),
            at_least(passes_floor),
            "passes_ratio_at_least",
            group=CONV_SEEDS,
        ),
    ]
    rows = [
        {
            "model": "conv cell",
            "backward": form,
            "time per backward, ms (median over rounds)": median_text(1e3 * seconds[form].ravel()),
            "exact / this, time (per round)": median_text(
                (seconds["exact"] / seconds[form]).ravel()
            ),
            "passes through f per backward": median_text(passes[form]),
            "VJPs": median_text(vjps[form]),
            "exact / this, passes": median_text(paired_ratio(passes["exact"], passes[form])),
        }
        for form in forms
    ]
    at_cap = per_seed(timing, variant, "adjoint_solves_at_cap", seeds)
    residual = per_seed(timing, variant, "adjoint_relative_residual", seeds)
    numbers = {
        f"conv_backward_passes_{form}_median": float(np.nanmedian(passes[form])) for form in forms
    }
    numbers["conv_adjoint_solves_at_cap"] = float(at_cap.sum())
    dense = training_backward_passes(table)
    for name, group in dense.groupby("variant"):
        per_step = group.groupby("seed")["value"].mean()
        numbers[f"dense_{name}_backward_passes_per_step_median"] = float(per_step.median())
        rows.append(
            {
                "model": "dense (training, mean per step)",
                "backward": name,
                "passes through f per backward": median_text(per_step),
            }
        )
    return Evidence(
        parts,
        control,
        "the exact backward against itself: its time in the next round of the same seed (timing "
        "noise alone, a ratio near 1) and its own pass count (a ratio of 1)",
        summary=(
            f"The exact backward's adjoint solve stops at its cap (as MDEQ's B_THRES) on "
            f"{at_cap.sum():.0f} of {len(seeds)} seeds (relative residual there: "
            f"{median_text(residual)}). Times are this machine's, one thread, measured in the "
            "train stage and kept out of the tables; the verdict on them can move between machines, "
            "the pass count cannot."
        ),
        rows=rows,
        numbers=numbers,
    )


# --- P3 accuracy ----------------------------------------------------------------------------------


def phantom_accuracy(table: pd.DataFrame, tolerance: Section) -> Evidence:
    """P3 (Geng et al. 2021, experiments on CIFAR-10 and ImageNet): per seed (same initialisation,
    batch order and split), the final test accuracy of each phantom-trained variant minus that of
    exact-gradient training ≥ −accuracy_below_exact_at_most_points (median over seeds; a seed lost
    on either side is a lost pair). Jacobian-free backprop (k = 1, λ = 1) is shown beside them and
    not judged. Control: the deliberately poor estimator (gradient `none`: A = 0, the implicit
    layer never trains) in place of the phantom gradient, by the same criterion."""
    margin = tolerance.number("accuracy_below_exact_at_most_points", low=0.0, high=100.0)
    dense = required(experiment_rows(table, "dense", "test_accuracy_percent"), "test accuracy")
    trained_with = dense.groupby("variant")["training_gradient"].first()
    exact_name = only_variant(trained_with, "exact")
    control_name = only_variant(trained_with, "none")
    seeds = seeds_of(table, exact_name)
    final = {name: final_accuracy(table, dense, name, seeds) for name in trained_with.index}
    parts, rows = [], []
    for name, accuracy in final.items():
        first = dense[dense["variant"] == name].iloc[0]
        label, jacobian_free = training_label(first)
        gap = accuracy - final[exact_name]
        judged = name not in (exact_name, control_name) and not jacobian_free
        if judged:
            parts.append(
                Part(
                    f"{name} ({label}): test accuracy minus exact's, same seed (points)",
                    seeds,
                    gap.to_numpy(),
                    at_least(-margin),
                    "accuracy_below_exact_at_most_points",
                    group=DENSE_SEEDS,
                    paper="MDEQ-Large on CIFAR-10 with the unrolled phantom gradient: 94.89, 95.09, "
                    "95.21% over 3 runs (the public code's log)",
                )
            )
        role = {exact_name: "reference", control_name: "control"}.get(name)
        rows.append(
            {
                "variant": name,
                "trained with": label,
                "final test accuracy (%)": median_text(accuracy),
                "minus exact, same seed (points)": "" if name == exact_name else median_text(gap),
                "judged": role or ("yes" if judged else "shown"),
                "last epoch: solves at their cap": median_text(
                    per_seed(table, name, "unconverged_solves", seeds)
                ),
                "last epoch: largest relative residual": median_text(
                    per_seed(table, name, "max_relative_residual", seeds)
                ),
            }
        )
    if not parts:
        raise DataError(
            "P3 needs at least one phantom-gradient variant besides Jacobian-free backprop"
        )
    control = Part(
        f"{control_name} (no gradient reaches the layer): test accuracy minus exact's, same seed "
        "(points)",
        seeds,
        (final[control_name] - final[exact_name]).to_numpy(),
        at_least(-margin),
        "accuracy_below_exact_at_most_points",
        group=DENSE_SEEDS,
    )
    return Evidence(
        parts,
        [control],
        "the deliberately poor estimator A = 0 (k = 0) in place of the phantom gradient: the "
        "implicit layer keeps its random initialisation and only the linear head trains, so it "
        "must fall more than the margin below exact-gradient training",
        summary=(
            f"Exact-gradient training here: final test accuracy {median_text(final[exact_name])} % "
            "(median [quartiles] over seeds). The paper's own table of the exact gradient's accuracy "
            "could not be read from the stored material; for MDEQ on CIFAR-10 trained with the exact "
            "(implicit) gradient, Bai et al. 2021 (Jacobian regularisation, Table 2) print "
            "93.6 ± 0.2%, against the phantom gradient's 94.89–95.21% in the public code's log."
        ),
        rows=rows,
        numbers={
            f"{name}_final_test_accuracy_percent_median": float(np.nanmedian(accuracy))
            for name, accuracy in final.items()
        },
    )


def only_variant(trained_with: pd.Series, form: str) -> str:
    """The one variant trained with `form` (exact, or none: P3's control)."""
    names = sorted(trained_with.index[trained_with == form])
    if len(names) != 1:
        raise DataError(f"P3 needs exactly one variant trained with {form!r}, found {names}")
    return names[0]


def final_accuracy(
    table: pd.DataFrame, dense: pd.DataFrame, variant: str, seeds: list[int]
) -> pd.Series:
    """Each seed's test accuracy after the last epoch, NaN for a seed that diverged."""
    diverged = per_seed(table, variant, "diverged", seeds)
    return per_seed(dense, variant, "test_accuracy_percent", seeds).where(diverged == 0)


def training_label(row: pd.Series) -> tuple[str, bool]:
    """How a dense variant was trained ("unrolled k=5 λ=0.5"), and whether that is Jacobian-free."""
    if row["training_gradient"] in ("exact", "none"):
        return str(row["training_gradient"]), False
    jacobian_free = row["training_k"] == 1 and row["training_damping"] == 1.0
    label = f"{row['training_gradient']} k={int(row['training_k'])} λ={row['training_damping']:g}"
    return label + (" (Jacobian-free)" if jacobian_free else ""), jacobian_free


CHECKS = {
    "phantom_direction": phantom_direction,
    "backward_cost": backward_cost,
    "phantom_accuracy": phantom_accuracy,
}
