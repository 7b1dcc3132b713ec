"""The checks of claims F1–F3 on the study's table: each returns Evidence (per-seed or per-run
values, the criterion with its claims.yaml key, and the control where the effect is absent); the one
decision rule (stages/common/decision.py) turns it into a verdict.

F1 accuracy_spread:   CNN copies trained in lockstep, per seed: (a) the unperturbed twin is bitwise
                      identical to its baseline (the precondition); (b) the perturbed copies end
                      apart, relative weight difference to the baseline (median over seeds × k); (c)
                      the test-accuracy spread across perturbations over the spread across seeds
                      (Sun et al. §3, Table 1). Control: the twin in place of the perturbed copies.
F2 regime_map:        per weight decay α, each learning rate of the grid is stable (trajectory
                      difference within rounding), restrained (difference of order one, finite),
                      diverged, or in between; the claim holds for α when all of stable, restrained
                      and diverged occur, in that order in η, and every restrained η lies below 2/α.
                      A fixed grid from one kernel: deterministic parts. Control: the unperturbed
                      twin (difference 0) in place of the perturbed copy.
F3 edge_of_stability: over the restrained runs (α, η), the median along the late trajectory of
                      S·η/2 (S = λmax of the Hessian) lies in a band around 1. Control: the same
                      band on the stable runs.
"""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pandas as pd

from ...common.decision import Evidence, Part, at_least, within
from ...common.params import Section
from .config import BASELINE, BOARD, CNN, PERTURBED, TWIN
from .summaries import late_differences

REGIME_ORDER = ("stable", "bounded", "restrained", "diverged")  # in increasing η, as the paper's §4


def spread_across(scores: np.ndarray, axis: int) -> float:
    """Population std (ddof = 0, as the paper's Table 1) of `scores` (a 2-D grid) along `axis`,
    averaged over the other axis: with a (seeds × perturbations) grid, axis=1 is the spread across
    perturbations at a fixed seed and axis=0 the spread across seeds at a fixed perturbation."""
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 2 or scores.shape[axis] < 2:
        raise ValueError(
            f"need a 2-D grid with at least 2 entries along axis {axis}, got shape {scores.shape}"
        )
    return float(np.std(scores, axis=axis, ddof=0).mean())


def spread_ratio(grids: np.ndarray) -> np.ndarray:
    """Per (seeds × copies) grid of a (resamples, seeds, copies) stack: the spread across copies
    over the spread across seeds (`spread_across` along each axis); NaN where neither spreads."""
    with np.errstate(divide="ignore", invalid="ignore"):  # a lost (infinite) entry gives NaN
        across_copies = np.std(grids, axis=2).mean(axis=1)
        across_seeds = np.std(grids, axis=1).mean(axis=1)
        return np.where(
            across_seeds > 0,
            across_copies / across_seeds,
            np.where(across_copies > 0, np.inf, np.nan),
        )


def median_of_entries(values: np.ndarray) -> np.ndarray:
    """The median over every seed × copy entry of each resample (shape (resamples, seeds, k))."""
    return np.median(values.reshape(len(values), -1), axis=1)


def mean_over_seeds(values: np.ndarray) -> np.ndarray:
    """The share of seeds (values 0/1) of each resample."""
    return np.mean(values, axis=1)


class CopyGrid:
    """One CNN variant's measurements as (seeds × copies) grids; a copy that diverged is NaN."""

    def __init__(self, table: pd.DataFrame, activation: str):
        self.rows = table[(table["experiment"] == CNN) & (table["activation"] == activation)]
        self.seeds = sorted(int(s) for s in self.rows["seed"].unique())
        self.lost = self.pivot("diverged").fillna(0.0) > 0

    def pivot(self, metric: str) -> pd.DataFrame:
        """(seeds × (copy, k)) values of `metric`, columns in order: baseline, twin, perturbations."""
        rows = self.rows[self.rows["metric"] == metric]
        grid = rows.pivot(index="seed", columns=["copy", "perturbation"], values="value")
        order = sorted(grid.columns, key=lambda c: ((BASELINE, TWIN, PERTURBED).index(c[0]), c[1]))
        return grid.reindex(index=self.seeds, columns=order)

    def values(self, metric: str, copies: tuple[str, ...]) -> np.ndarray:
        """(seeds × copies of the given kinds) values of `metric`; NaN where a compared copy (or
        the baseline it is compared with) diverged."""
        grid = self.pivot(metric)
        lost = self.lost.reindex(columns=grid.columns, fill_value=False)
        lost = lost | self.lost[[c for c in self.lost.columns if c[0] == BASELINE]].to_numpy()
        grid = grid.mask(lost)
        return grid[[c for c in grid.columns if c[0] in copies]].to_numpy()

    def accuracy(self, copies: tuple[str, ...]) -> np.ndarray:
        return self.values("test_accuracy_last_epochs_mean_percent", copies)

    def numbers(self) -> dict[str, float]:
        """The unresampled numbers the report shows beside the verdict."""
        accuracy = self.accuracy((BASELINE, PERTURBED))
        across_k, across_seeds = spread_across(accuracy, axis=1), spread_across(accuracy, axis=0)
        return {
            "accuracy_std_across_perturbations_percent": across_k,
            "accuracy_std_across_seeds_percent": across_seeds,
            "spread_ratio": float(spread_ratio(accuracy[None])[0]),
            "relative_weight_difference_median": float(
                np.nanmedian(self.values("relative_weight_difference", (PERTURBED,)))
            ),
            "prediction_disagreement_mean_percent": float(
                np.nanmean(self.values("prediction_disagreement_percent", (PERTURBED,)))
            ),
            "twins_identical_share": float(
                np.mean(self.values("unperturbed_twin_identical", (TWIN,)))
            ),
        }


def accuracy_spread(table: pd.DataFrame, tolerance: Section) -> Evidence:
    ratio_min = tolerance.number("spread_ratio_at_least", positive=True)
    difference_min = tolerance.number("relative_weight_difference_at_least", positive=True)
    identical_min = tolerance.number("twins_identical_share_at_least", low=0.0, high=1.0)
    relu = CopyGrid(table, "relu")
    seeds, group = relu.seeds, "cnn_relu seeds"
    parts = [
        Part(
            "ReLU CNN: unperturbed twin bitwise identical to its baseline (share of seeds)",
            seeds,
            relu.values("unperturbed_twin_identical", (TWIN,))[:, 0],
            at_least(identical_min),
            "twins_identical_share_at_least",
            statistic=mean_over_seeds,
            group=group,
        ),
        Part(
            "ReLU CNN: relative weight difference, perturbed copy vs baseline (median over seeds × k)",
            seeds,
            relu.values("relative_weight_difference", (PERTURBED,)),
            at_least(difference_min),
            "relative_weight_difference_at_least",
            statistic=median_of_entries,
            group=group,
        ),
        Part(
            "ReLU CNN: test-accuracy std across k (seed fixed) over std across seeds (k fixed)",
            seeds,
            relu.accuracy((BASELINE, PERTURBED)),
            at_least(ratio_min),
            "spread_ratio_at_least",
            statistic=spread_ratio,
            group=group,
            paper="“comparable” (abstract)",
        ),
    ]
    control = [
        Part(
            "twin in place of the perturbed copies: relative weight difference to the baseline",
            seeds,
            relu.values("relative_weight_difference", (TWIN,)),
            at_least(difference_min),
            "relative_weight_difference_at_least",
            statistic=median_of_entries,
            group=group,
        ),
        Part(
            "twin in place of the perturbed copies: accuracy std across copies over across seeds",
            seeds,
            relu.accuracy((BASELINE, TWIN)),
            at_least(ratio_min),
            "spread_ratio_at_least",
            statistic=spread_ratio,
            group=group,
        ),
    ]
    networks = {"relu": "ReLU + max-pool (judged)", "silu": "SiLU + avg-pool (shown, not judged)"}
    present = [a for a in networks if (table["activation"] == a).any()]
    grids = {activation: CopyGrid(table, activation) for activation in present}
    numbers = {
        f"{a}_{key}": value for a, grid in grids.items() for key, value in grid.numbers().items()
    }
    return Evidence(
        parts,
        control,
        "the unperturbed twin (k = 1 again: same seed, initialisation and batches) in place of "
        "each perturbed copy; without a one-bit error the copies cannot end apart or spread, so "
        "the check must fail on it",
        rows=[spread_row(networks[a], grid.numbers()) for a, grid in grids.items()],
        numbers=numbers,
    )


def spread_row(label: str, numbers: dict[str, float]) -> dict:
    return {
        "network": label,
        "twins identical (share)": f"{numbers['twins_identical_share']:.2f}",
        "rel. weight diff (median)": f"{numbers['relative_weight_difference_median']:.3g}",
        "prediction disagreement (mean, %)": f"{numbers['prediction_disagreement_mean_percent']:.2f}",
        "acc std across k (%)": f"{numbers['accuracy_std_across_perturbations_percent']:.3f}",
        "acc std across seeds (%)": f"{numbers['accuracy_std_across_seeds_percent']:.3f}",
        "ratio": f"{numbers['spread_ratio']:.2f}",
    }


def regimes(found: pd.DataFrame, tolerance: Section) -> pd.DataFrame:
    """`late_differences` rows with each (α, η) sorted into a regime by the thresholds of claims.yaml."""
    rounding_max = tolerance.number("stable_difference_at_most", positive=True)
    order_one_min = tolerance.number("restrained_difference_at_least", positive=True)
    found = found.copy()
    found["regime"] = [
        "diverged"
        if diverged or not np.isfinite(late)
        else "stable"
        if late <= rounding_max
        else "restrained"
        if late >= order_one_min
        else "bounded"
        for late, diverged in zip(found["late_difference"], found["diverged"], strict=True)
    ]
    return found


def regime_map_holds(group: pd.DataFrame) -> tuple[bool, bool, bool]:
    """For one α's grid: all three regimes occur; they come in REGIME_ORDER as η grows; every
    restrained η lies below 2/α."""
    alpha = float(group["weight_decay"].iloc[0])
    ranks = [REGIME_ORDER.index(r) for r in group.sort_values("lr")["regime"]]
    all_three = {"stable", "restrained", "diverged"} <= set(group["regime"])
    ordered = all(a <= b for a, b in pairwise(ranks))
    below_bound = bool((group[group["regime"] == "restrained"]["lr"] < 2 / alpha).all())
    return all_three, ordered, below_bound


def regime_parts(found: pd.DataFrame, seed: int, tolerance: Section, label: str) -> list[Part]:
    holds_min = tolerance.number("regime_order_holds", low=0.0, high=1.0)
    parts = []
    for alpha, group in found.groupby("weight_decay"):
        parts.append(
            Part(
                f"{label}α = {alpha:g}: stable, restrained and diverged in that order in η, "
                "restrained only below 2/α (1 = yes)",
                [seed],
                [float(all(regime_map_holds(group)))],
                at_least(holds_min),
                "regime_order_holds",
                deterministic=True,
            )
        )
    return parts


def board_seed(table: pd.DataFrame) -> int:
    return int(table[table["experiment"] == BOARD]["seed"].iloc[0])


def regime_map(table: pd.DataFrame, tolerance: Section) -> Evidence:
    found = regimes(late_differences(table), tolerance)
    seed = board_seed(table)
    twin = found.assign(late_difference=found["late_difference"].where(found["diverged"], 0.0))
    rows, numbers = [], {}
    for alpha, group in found.groupby("weight_decay"):
        all_three, ordered, below_bound = regime_map_holds(group)
        restrained = group[group["regime"] == "restrained"]["lr"]
        rows.append(
            {
                "α": f"{alpha:g}",
                "2/α": f"{2 / alpha:g}",
                "regime per η": ", ".join(
                    f"{lr:g}: {r}" for lr, r in zip(group["lr"], group["regime"], strict=True)
                ),
                "restrained η": f"{restrained.min():g}–{restrained.max():g}"
                if len(restrained)
                else "none",
                "all three, ordered, below 2/α": f"{all_three}, {ordered}, {below_bound}",
            }
        )
        numbers[f"alpha{alpha:g}_restrained_lrs"] = float(len(restrained))
    return Evidence(
        regime_parts(found, seed, tolerance, ""),
        regime_parts(regimes(twin, tolerance), seed, tolerance, "twin in place of the copy: "),
        "the unperturbed twin in place of the perturbed copy (trajectory difference 0 at every η "
        "that did not diverge: under one thread a k = 1 copy repeats its baseline bit for bit, as "
        "F1's twins show); without a perturbation nothing is amplified, so no η is restrained and "
        "the map must fail",
        rows=rows,
        numbers=numbers,
    )


def late_sharpness(table: pd.DataFrame, tolerance: Section) -> pd.DataFrame:
    """Per board run (α, η): its regime (restrained as in F2, stable, diverged) and the median of
    S·η/2 over its late-half measurements."""
    order_one_min = tolerance.number("restrained_difference_at_least", positive=True)
    found = late_differences(table)
    found["regime"] = np.where(
        found["diverged"],
        "diverged",
        np.where(found["late_difference"] >= order_one_min, "restrained", "not restrained"),
    )
    sharp = table[(table["experiment"] == BOARD) & (table["metric"] == "sharpness_times_lr_over_2")]
    medians = sharp.groupby(["weight_decay", "lr"])["value"].median().rename("median").reset_index()
    merged = found.merge(medians, on=["weight_decay", "lr"], how="left")
    return merged.reset_index(drop=True)


def band_part(runs: pd.DataFrame, name: str, low: float, high: float) -> Part:
    """The median over runs of each run's late median S·η/2, resampled over the runs (a unit is
    one (α, η) run, labelled by its place in the grid). No such run: one lost unit, which fails."""
    if runs.empty:
        return Part(f"{name} (no such run)", [0], [np.nan], within(low, high), "low")
    return Part(
        name,
        list(runs.index),
        runs["median"].to_numpy(),
        within(low, high),
        "low",
        group="board runs",
    )


def edge_of_stability(table: pd.DataFrame, tolerance: Section) -> Evidence:
    low, high = tolerance.number("low", positive=True), tolerance.number("high", positive=True)
    merged = late_sharpness(table, tolerance)
    restrained = merged[merged["regime"] == "restrained"]
    stable = merged[merged["regime"] == "not restrained"]
    rows = [
        {
            "α": f"{r.weight_decay:g}",
            "η": f"{r.lr:g}",
            "regime": r.regime,
            "median S·η/2 (late half)": f"{r.median:.3f}" if np.isfinite(r.median) else "—",
        }
        for r in merged.itertuples()
    ]
    return Evidence(
        [
            band_part(
                restrained, "restrained runs: median over runs of the late median S·η/2", low, high
            )
        ],
        [band_part(stable, "stable runs in place of the restrained: the same median", low, high)],
        "the runs that are not restrained (finite, trajectories within order one) in place of the "
        "restrained runs: the claim ties the edge to restrained training, so the band must not hold "
        "where training is not restrained",
        rows=rows,
        numbers={"restrained_runs": float(len(restrained)), "stable_runs": float(len(stable))},
    )


CHECKS = {
    "accuracy_spread": accuracy_spread,
    "regime_map": regime_map,
    "edge_of_stability": edge_of_stability,
}
