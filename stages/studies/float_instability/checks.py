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
F3 edge_of_stability: below the bound and where the linear PDE's condition on α fails, per model
                      size: over its restrained runs (α, η) the median of each run's late median
                      S·η/2 (S = λmax of the Hessian, every step of the late half) is at least 1
                      (the classical bound 2/η is exceeded), and over its stable runs at most 1.
                      The premise: restrained runs exist (F3 speaks about them; without any it was
                      not tested here); a size without restrained runs has no restrained part.
                      Control: the stable runs in place of the restrained ones.
F1's premise is the twin: an unperturbed copy that is not bitwise identical means the setting (a
deterministic lockstep) was not reached, so the claim was not tested, rather than refuted.
"""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pandas as pd

from ...common.decision import Evidence, Part, at_least, at_most
from ...common.params import Section
from .config import BASELINE, CNN, PERTURBED, TWIN
from .summaries import NETWORKS, late_differences

REGIME_ORDER = ("stable", "bounded", "restrained", "diverged")  # in increasing η, as the paper's §4
AT_BOUND = 1e-9  # |η·α/2 − 1| below this: η is the bound 2/α itself (the public code's threshold)


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
            "disagreement_ratio_median": float(np.nanmedian(self.disagreement_ratios(PERTURBED))),
            "prediction_disagreement_across_seeds_mean_percent": float(
                np.nanmean(self.values("prediction_disagreement_across_seeds_percent", (BASELINE,)))
            ),
        }

    def disagreement_ratios(self, copy: str) -> np.ndarray:
        """Per seed: the mean over its copies of the given kind of their disagreement with the
        baseline, over the baseline's mean disagreement with the other seeds' baselines."""
        copies = self.values("prediction_disagreement_percent", (copy,))
        seeds = self.values("prediction_disagreement_across_seeds_percent", (BASELINE,))[:, 0]
        with np.errstate(divide="ignore", invalid="ignore"):
            return copies.mean(axis=1) / seeds


def network_parts(grid: CopyGrid, label: str, tolerance: Section) -> tuple[list[Part], list[Part]]:
    """One network's parts and its control's (the twin in place of the perturbed copies)."""
    ratio_min = tolerance.number("spread_ratio_at_least", positive=True)
    difference_min = tolerance.number("relative_weight_difference_at_least", positive=True)
    identical_min = tolerance.number("twins_identical_share_at_least", low=0.0, high=1.0)
    disagreement_min = tolerance.number("disagreement_ratio_at_least", positive=True)
    seeds, group = grid.seeds, f"{label} seeds"

    def comparisons(copy: str, name: str) -> list[Part]:
        accuracy_copies = (BASELINE, copy)
        return [
            Part(
                f"{label}: {name} relative weight difference to the baseline (median over seeds × k)",
                seeds,
                grid.values("relative_weight_difference", (copy,)),
                at_least(difference_min),
                "relative_weight_difference_at_least",
                statistic=median_of_entries,
                group=group,
            ),
            Part(
                f"{label}: {name} test-accuracy std across copies (seed fixed) over across seeds",
                seeds,
                grid.accuracy(accuracy_copies),
                at_least(ratio_min),
                "spread_ratio_at_least",
                statistic=spread_ratio,
                group=group,
                paper="“comparable” (abstract)" if copy == PERTURBED else "",
            ),
            Part(
                f"{label}: {name} prediction disagreement with the baseline over the baseline's "
                "with other seeds (median over seeds)",
                seeds,
                grid.disagreement_ratios(copy),
                at_least(disagreement_min),
                "disagreement_ratio_at_least",
                group=group,
            ),
        ]

    twins = Part(
        f"{label}: unperturbed twin bitwise identical to its baseline (share of seeds)",
        seeds,
        grid.values("unperturbed_twin_identical", (TWIN,))[:, 0],
        at_least(identical_min),
        "twins_identical_share_at_least",
        statistic=mean_over_seeds,
        group=group,
        premise=True,
    )
    return [twins, *comparisons(PERTURBED, "perturbed copy:")], comparisons(TWIN, "twin in place:")


def accuracy_spread(table: pd.DataFrame, tolerance: Section) -> Evidence:
    present = [
        a for a in NETWORKS if ((table["experiment"] == CNN) & (table["activation"] == a)).any()
    ]
    grids = {activation: CopyGrid(table, activation) for activation in present}
    parts, control = [], []
    for activation, grid in grids.items():
        judged, twin = network_parts(grid, NETWORKS[activation], tolerance)
        parts += judged
        control += twin
    numbers = {
        f"{a}_{key}": value for a, grid in grids.items() for key, value in grid.numbers().items()
    }
    return Evidence(
        parts,
        control,
        "the unperturbed twin (k = 1 again: same seed, initialisation and batches) in place of "
        "each perturbed copy, in every network; without a one-bit error the copies cannot end "
        "apart, spread or disagree, so the check must fail on it",
        rows=[spread_row(NETWORKS[a], grid.numbers()) for a, grid in grids.items()],
        numbers=numbers,
    )


def spread_row(label: str, numbers: dict[str, float]) -> dict:
    return {
        "network": label,
        "twins identical (share)": f"{numbers['twins_identical_share']:.2f}",
        "rel. weight diff (median)": f"{numbers['relative_weight_difference_median']:.3g}",
        "acc std across k (%)": f"{numbers['accuracy_std_across_perturbations_percent']:.3f}",
        "acc std across seeds (%)": f"{numbers['accuracy_std_across_seeds_percent']:.3f}",
        "acc spread ratio": f"{numbers['spread_ratio']:.2f}",
        "disagreement copy vs baseline (mean, %)": f"{numbers['prediction_disagreement_mean_percent']:.2f}",
        "disagreement seed vs seed (mean, %)": f"{numbers['prediction_disagreement_across_seeds_mean_percent']:.2f}",
        "disagreement ratio (median)": f"{numbers['disagreement_ratio_median']:.2f}",
    }


def regimes(found: pd.DataFrame, tolerance: Section) -> pd.DataFrame:
    """`late_differences` rows with each board run sorted into a regime by the thresholds of
    claims.yaml, and its place against the bound 2/α (below, at, beyond)."""
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
    fraction = found["fraction_of_bound"]
    found["side"] = np.where(
        (fraction - 1).abs() < AT_BOUND, "at", np.where(fraction < 1, "below", "beyond")
    )
    found["conditions"] = np.where(found["weight_decay"] < found["alpha_min"], "violated", "hold")
    return found


def regime_map_holds(group: pd.DataFrame) -> tuple[bool, bool, bool]:
    """For one variant's grid, leaving out η = 2/α itself (neither below nor beyond the bound):
    stable, restrained and diverged all occur; they come in REGIME_ORDER as η grows; every
    restrained η lies below 2/α."""
    judged = group[group["side"] != "at"].sort_values("lr")
    ranks = [REGIME_ORDER.index(r) for r in judged["regime"]]
    all_three = {"stable", "restrained", "diverged"} <= set(judged["regime"])
    ordered = all(a <= b for a, b in pairwise(ranks))
    below_bound = bool((judged[judged["regime"] == "restrained"]["side"] == "below").all())
    return all_three, ordered, below_bound


def size_label(run) -> str:
    return f"{run['image_side']:.0f}×{run['image_side']:.0f}, {run['kernel_side']:.0f}×{run['kernel_side']:.0f} kernel"


def map_part(group: pd.DataFrame, seed: int, tolerance: Section, label: str) -> Part:
    first = group.iloc[0]
    return Part(
        f"{label}{size_label(first)}, α = {first['weight_decay']:g}: stable, restrained, diverged in "
        "that order in η, restrained only below 2/α (1 = yes)",
        [seed],
        [float(all(regime_map_holds(group)))],
        at_least(tolerance.number("regime_order_holds", low=0.0, high=1.0)),
        "regime_order_holds",
        deterministic=True,
    )


def board_seed(table: pd.DataFrame) -> int:
    return int(table[table["experiment"] == "board"]["seed"].iloc[0])


def regime_map(table: pd.DataFrame, tolerance: Section) -> Evidence:
    found = regimes(late_differences(table), tolerance)
    seed = board_seed(table)
    violated = found[found["conditions"] == "violated"]
    holding = found[found["conditions"] == "hold"]
    parts = [
        map_part(g, seed, tolerance, "")
        for _, g in violated.groupby(["variant", "weight_decay"], sort=False)
    ]
    if len(holding):
        control = [
            map_part(g, seed, tolerance, "linear PDE condition α > α_min holds: ")
            for _, g in holding.groupby(["variant", "weight_decay"], sort=False)
        ]
        description = (
            "the same map where the linear PDE's conditions hold (α > α_min: w = 0 is a stable "
            "minimum and η < 2/α keeps its discretisation stable): the paper's theory predicts "
            "stable training below 2/α and divergence beyond, no restrained band, so the map must fail"
        )
    else:
        twin = violated.assign(
            late_difference=violated["late_difference"].where(violated["diverged"], 0.0)
        )
        control = [
            map_part(g, seed, tolerance, "twin in place of the copy: ")
            for _, g in regimes(twin, tolerance).groupby(["variant", "weight_decay"], sort=False)
        ]
        description = (
            "the unperturbed twin in place of the perturbed copy (difference 0 at every η that did "
            "not diverge): without a perturbation nothing is amplified, so the map must fail"
        )
    if not parts:
        parts = [
            Part(
                "no variant violates the linear PDE's condition",
                [seed],
                [np.nan],
                at_least(1.0),
                "regime_order_holds",
                deterministic=True,
            )
        ]
    rows = []
    for _, group in found.groupby(["variant", "weight_decay"], sort=False):
        first = group.iloc[0]
        restrained = group[group["regime"] == "restrained"]["lr"]
        rows.append(
            {
                "size": size_label(first),
                "α": f"{first['weight_decay']:g}",
                "linear PDE α_min": f"{first['alpha_min']:.4g}",
                "2/α": f"{2 / first['weight_decay']:g}",
                "regime per η (at 2/α: the threshold, not judged)": ", ".join(
                    f"{lr:g}: {r}{' (at 2/α)' if side == 'at' else ''}"
                    for lr, r, side in zip(group["lr"], group["regime"], group["side"], strict=True)
                ),
                "restrained η": f"{restrained.min():g}–{restrained.max():g}"
                if len(restrained)
                else "none",
                "all three, ordered, below 2/α": ", ".join(map(str, regime_map_holds(group))),
            }
        )
    return Evidence(
        parts,
        control,
        description,
        rows=rows,
        numbers={
            f"{variant}_alpha{alpha:g}_restrained_lrs": float((g["regime"] == "restrained").sum())
            for (variant, alpha), g in found.groupby(["variant", "weight_decay"])
        },
    )


def edge_part(runs: pd.DataFrame, name: str, criterion, key: str) -> Part:
    """The median over runs of each run's late-half median S·η/2 (every step), resampled over the
    runs (a unit is one (α, η) run, labelled by its row in the table). No run: one lost unit."""
    if runs.empty:
        return Part(f"{name} (no such run)", [0], [np.nan], criterion, key)
    return Part(
        name,
        list(runs.index),
        runs["sharpness_median"].to_numpy(),
        criterion,
        key,
        group="board runs",
    )


def edge_of_stability(table: pd.DataFrame, tolerance: Section) -> Evidence:
    exceeds = at_least(
        tolerance.number("restrained_sharpness_times_lr_over_2_at_least", positive=True)
    )
    within = at_most(tolerance.number("stable_sharpness_times_lr_over_2_at_most", positive=True))
    found = regimes(late_differences(table), tolerance)
    # the edge is tested where training is restrained: below the bound (at or beyond it S·η/2 >=
    # αη/2 >= 1 by construction) and where the linear PDE's condition on α fails (above α_min
    # the model rests at w = 0, where S = α)
    judged = found[(found["side"] == "below") & (found["conditions"] == "violated")]
    parts = [
        Part(
            "premise: restrained runs below 2/α where α < α_min (count over the grids)",
            [board_seed(table)],
            [float((judged["regime"] == "restrained").sum())],
            at_least(tolerance.number("restrained_runs_at_least", positive=True)),
            "restrained_runs_at_least",
            deterministic=True,
            premise=True,
        )
    ]
    control = []
    for _, size in judged.groupby(["image_side", "kernel_side"], sort=False):
        label = size_label(size.iloc[0])
        restrained = size[size["regime"] == "restrained"]
        stable = size[size["regime"] == "stable"]
        if len(restrained):
            parts.append(
                edge_part(
                    restrained,
                    f"{label}: restrained runs, median over runs of the late median λmax·η/2",
                    exceeds,
                    "restrained_sharpness_times_lr_over_2_at_least",
                )
            )
        parts.append(
            edge_part(
                stable,
                f"{label}: stable runs, median over runs of the late median λmax·η/2",
                within,
                "stable_sharpness_times_lr_over_2_at_most",
            )
        )
        control.append(
            edge_part(
                stable,
                f"{label}: stable runs in place of the restrained: the same median",
                exceeds,
                "restrained_sharpness_times_lr_over_2_at_least",
            )
        )
    if not control:
        control = [
            edge_part(
                judged,
                "no run below the bound where α < α_min",
                exceeds,
                "restrained_sharpness_times_lr_over_2_at_least",
            )
        ]
    beyond = beyond_bound_shares(table, judged)
    rows = [
        {
            "size": size_label(r),
            "α": f"{r['weight_decay']:g}",
            "η": f"{r['lr']:g}",
            "regime": r["regime"],
            "late median λmax·η/2": f"{r['sharpness_median']:.3f}",
            "late median λmin·η/2": f"{r['lowest_curvature_median']:.3f}",
            "late steps with λmax·η/2 > 1 or λmin < 0 (share)": f"{beyond.get(index, float('nan')):.2f}",
        }
        for index, r in judged.iterrows()
    ]
    return Evidence(
        parts,
        control,
        "the stable runs (trajectories within rounding) in place of the restrained ones: the "
        "revised paper ties exceeding the classical bound to restrained training, so stable runs "
        "must not exceed it",
        rows=rows,
        numbers={
            "restrained_runs": float((judged["regime"] == "restrained").sum()),
            "stable_runs": float((judged["regime"] == "stable").sum()),
        },
    )


def beyond_bound_shares(table: pd.DataFrame, runs: pd.DataFrame) -> dict:
    """Per run (by its index in `runs`): the share of late steps at which GD is locally unstable
    in the classical sense, λmax·η/2 > 1 or λmin < 0 (shown, not judged)."""
    shares = {}
    for index, run in runs.iterrows():
        rows = table[
            (table["variant"] == run["variant"])
            & (table["weight_decay"] == run["weight_decay"])
            & (table["lr"] == run["lr"])
        ]
        high = rows[rows["metric"] == "sharpness_times_lr_over_2"].set_index("step")["value"]
        low = rows[rows["metric"] == "lowest_curvature_times_lr_over_2"].set_index("step")["value"]
        if len(high):
            shares[index] = float(((high > 1) | (low.reindex(high.index) < 0)).mean())
    return shares


CHECKS = {
    "accuracy_spread": accuracy_spread,
    "regime_map": regime_map,
    "edge_of_stability": edge_of_stability,
}
