"""The checks of claims F1–F3 on the study's table; tolerances come from claims.yaml.

F1 accuracy_spread:   ReLU CNN copies: (a) every unperturbed twin bitwise identical to its baseline
                      (the precondition: without it, differences could come from anything else);
                      (b) the perturbed copies end apart: relative weight difference to the baseline,
                      over seeds × perturbations, at least a bound; (c) spread of the last-epochs test
                      accuracy across perturbations / across seeds at least a bound ("comparable").
F2 regime_map:        per weight decay α, each learning rate is stable (trajectory difference within
                      rounding), restrained (difference of order one, loss finite), diverged, or
                      in between; all of stable, restrained and diverged occur, in that order in η,
                      and every restrained η lies below 2/α.
F3 edge_of_stability: over the restrained learning rates, the median along the late trajectory of
                      S·η/2 (S = λmax of the Hessian) lies in a band around 1.
"""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pandas as pd

from ...common.params import Section
from ...common.verdicts import (
    INCONCLUSIVE,
    NOT_REPRODUCED,
    REPRODUCED,
    ClaimOutcome,
    Spread,
    band_verdict,
    combine,
    threshold_verdict,
)
from .config import BOARD, CNN
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


def cnn_rows(table: pd.DataFrame, activation: str, metric: str) -> pd.DataFrame:
    return table[
        (table["experiment"] == CNN)
        & (table["activation"] == activation)
        & (table["metric"] == metric)
    ]


def accuracy_grid(table: pd.DataFrame, activation: str) -> pd.DataFrame:
    """(seeds × perturbations k) mean test accuracy over the last epochs, the baseline as k = 1."""
    return cnn_rows(table, activation, "test_accuracy_last_epochs_mean").pivot(
        index="seed", columns="perturbation", values="value"
    )


def spread_numbers(table: pd.DataFrame, activation: str) -> dict[str, float]:
    grid = accuracy_grid(table, activation).to_numpy()
    across_k, across_seeds = spread_across(grid, axis=1), spread_across(grid, axis=0)
    differences = cnn_rows(table, activation, "relative_weight_difference")["value"]
    disagreement = cnn_rows(table, activation, "prediction_disagreement")["value"]
    return {
        "accuracy_std_across_perturbations": across_k,
        "accuracy_std_across_seeds": across_seeds,
        "spread_ratio": across_k / across_seeds if across_seeds > 0 else float("nan"),
        "relative_weight_difference_median": float(differences.median()),
        "prediction_disagreement_mean": float(disagreement.mean()),
        "twins_identical": float(
            cnn_rows(table, activation, "unperturbed_twin_identical")["value"].min()
        ),
    }


def accuracy_spread(table: pd.DataFrame, tolerance: Section) -> ClaimOutcome:
    ratio_min = tolerance.number("spread_ratio_at_least", positive=True)
    difference_min = tolerance.number("relative_weight_difference_at_least", positive=True)
    relu = spread_numbers(table, "relu")
    differences = Spread.of(cnn_rows(table, "relu", "relative_weight_difference")["value"])
    twins = REPRODUCED if relu["twins_identical"] == 1.0 else INCONCLUSIVE
    apart = threshold_verdict(differences, difference_min)
    comparable = REPRODUCED if relu["spread_ratio"] >= ratio_min else NOT_REPRODUCED
    rows = [spread_row("ReLU + max-pool (judged)", relu)]
    numbers = {f"relu_{key}": value for key, value in relu.items()}
    if len(cnn_rows(table, "silu", "test_accuracy_last_epochs_mean")):
        control = spread_numbers(table, "silu")
        rows.append(spread_row("SiLU + avg-pool (smooth control, not judged)", control))
        numbers.update({f"silu_{key}": value for key, value in control.items()})
    summary = (
        f"ReLU CNN: unperturbed twins bitwise identical: {'yes' if twins == REPRODUCED else 'NO'}; "
        f"relative weight difference to the baseline {differences.text()} (needs ≥ {difference_min:g}); "
        f"accuracy std across perturbations {relu['accuracy_std_across_perturbations']:.4f} vs across "
        f"seeds {relu['accuracy_std_across_seeds']:.4f}, ratio {relu['spread_ratio']:.2f} "
        f"(needs ≥ {ratio_min:g})."
    )
    return ClaimOutcome(
        combine([twins, apart, comparable]),
        ("relu_spread_ratio", relu["spread_ratio"]),
        numbers,
        summary,
        rows,
    )


def spread_row(label: str, numbers: dict[str, float]) -> dict:
    return {
        "network": label,
        "twins identical": "yes" if numbers["twins_identical"] == 1.0 else "no",
        "rel. weight diff (median)": f"{numbers['relative_weight_difference_median']:.3g}",
        "prediction disagreement (mean)": f"{numbers['prediction_disagreement_mean']:.4f}",
        "acc std across k": f"{numbers['accuracy_std_across_perturbations']:.4f}",
        "acc std across seeds": f"{numbers['accuracy_std_across_seeds']:.4f}",
        "ratio": f"{numbers['spread_ratio']:.2f}",
    }


def regimes(table: pd.DataFrame, tolerance: Section) -> pd.DataFrame:
    """`late_differences` with each (α, η) sorted into a regime by the thresholds of claims.yaml."""
    rounding_max = tolerance.number("stable_difference_at_most", positive=True)
    order_one_min = tolerance.number("restrained_difference_at_least", positive=True)
    found = late_differences(table)
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


def regime_map(table: pd.DataFrame, tolerance: Section) -> ClaimOutcome:
    found = regimes(table, tolerance)
    verdicts, rows, numbers = [], [], {}
    for alpha, group in found.groupby("weight_decay"):
        bound = 2 / alpha
        ranks = [REGIME_ORDER.index(r) for r in group.sort_values("lr")["regime"]]
        all_three = {"stable", "restrained", "diverged"} <= set(group["regime"])
        ordered = all(a <= b for a, b in pairwise(ranks))
        restrained = group[group["regime"] == "restrained"]["lr"]
        below_bound = bool((restrained < bound).all())
        verdict = REPRODUCED if all_three and ordered and below_bound else NOT_REPRODUCED
        verdicts.append(verdict)
        band = f"{restrained.min():g}–{restrained.max():g}" if len(restrained) else "none"
        rows.append(
            {
                "α": f"{alpha:g}",
                "2/α": f"{bound:g}",
                "regime per η": ", ".join(
                    f"{lr:g}: {r}" for lr, r in zip(group["lr"], group["regime"], strict=True)
                ),
                "restrained η": band,
                "all three, ordered, below 2/α": f"{all_three}, {ordered}, {below_bound}",
                "verdict": verdict,
            }
        )
        numbers[f"alpha{alpha:g}_restrained_lrs"] = float(len(restrained))
    summary = (
        "; ".join(
            f"α = {row['α']}: restrained for η in {row['restrained η']} (2/α = {row['2/α']})"
            for row in rows
        )
        + "."
    )
    return ClaimOutcome(
        combine(verdicts),
        ("restrained_lr_count", float((found["regime"] == "restrained").sum())),
        numbers,
        summary,
        rows,
    )


def edge_of_stability(table: pd.DataFrame, tolerance: Section) -> ClaimOutcome:
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
    restrained = merged[merged["regime"] == "restrained"]
    spread = Spread.of(restrained["median"])
    low, high = tolerance.number("low", positive=True), tolerance.number("high", positive=True)
    verdict = band_verdict(spread, low, high) if len(restrained) else INCONCLUSIVE
    rows = [
        {
            "α": f"{r.weight_decay:g}",
            "η": f"{r.lr:g}",
            "regime": r.regime,
            "median S·η/2 (late half)": f"{r.median:.3f}" if np.isfinite(r.median) else "—",
        }
        for r in merged.itertuples()
    ]
    summary = (
        f"S·η/2 (median over the late half of each restrained trajectory), over {spread.kept} restrained "
        f"η: {spread.text()} (band [{low:g}, {high:g}])."
    )
    return ClaimOutcome(
        verdict,
        ("restrained_sharpness_times_lr_over_2_median", spread.median),
        spread.as_numbers("restrained_sharpness_times_lr_over_2"),
        summary,
        rows,
    )


CHECKS = {
    "accuracy_spread": accuracy_spread,
    "regime_map": regime_map,
    "edge_of_stability": edge_of_stability,
}
