"""Claim checks G1–G3 on the study's tidy table; every threshold comes from claims.yaml.

Each check reduces every seed to one number per part, takes the median and quartiles over seeds
(`Spread`) and decides with the shared rules of stages/common/verdicts.py.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ...common.atomic import DataError
from ...common.params import Section
from ...common.verdicts import (
    REPRODUCED,
    ClaimOutcome,
    Spread,
    band_verdict,
    combine,
    threshold_verdict,
)
from .summaries import hidden_layers, log_log_slope, quantized_setting, quantized_variants, select

# the papers' printed numbers shown beside ours (Zhang, Zhou & Saab 2023, MNIST MLP ternary; ImageNet 4 bits)
PAPER_MNIST_TERNARY = "float 98.24, GPFQ 97.39, best MSQ 93.30"
PAPER_IMAGENET_4BIT = "VGG16 71.59 → 70.70, ResNet18 69.76 → 67.70, ResNet50 76.13 → 73.74"
PAPER_BIAS_MIXED = "ResNet18 3 bits: GPFQ 65.81 → 66.93 with bias correction and a float last layer"


def wide(table: pd.DataFrame, variant: str, metric: str, column: str, **settings) -> pd.DataFrame:
    """seed × `column` values of one metric of one variant at the given settings (None: null); two
    rows for one (seed, column) mean a setting was left out, and pivot refuses them."""
    rows = select(table, variant, metric, **settings)
    if rows.empty:
        raise DataError(
            f"the table has no rows for variant {variant!r}, metric {metric!r} at {settings}: run "
            "the variants this claim names"
        )
    return rows.pivot(index="seed", columns=column, values="value").sort_index()


def network_accuracy(
    table: pd.DataFrame, variant: str, method: str, bias: bool = False, float_last: bool = False
) -> pd.DataFrame:
    """seed × C test accuracies (%) of one network of config.NETWORKS."""
    return wide(
        table,
        variant,
        "test_accuracy_percent",
        "scale_c",
        method=method,
        bias_correction=int(bias),
        float_last_layer=int(float_last),
    )


def float_accuracy(table: pd.DataFrame, variant: str) -> pd.Series:
    """Per seed: the test accuracy (%) of the float network the variant quantizes."""
    return wide(table, variant, "test_accuracy_percent", "step", method="float").iloc[:, 0]


def layer_error(
    table: pd.DataFrame,
    variant: str,
    layer: int,
    method: str,
    bias: bool = False,
    metric: str = "calibration_relative_error",
) -> pd.DataFrame:
    """seed × C calibration errors of layer ℓ in one quantizing pass of config.QUANTIZED_PASSES."""
    return wide(
        table,
        variant,
        metric,
        "scale_c",
        method=method,
        bias_correction=int(bias),
        float_last_layer=0,
        layer=layer,
    )


def single_layer_variants(table: pd.DataFrame) -> list[str]:
    return sorted(table.loc[table["model"] == "single_layer", "variant"].unique())


# --- G1 ------------------------------------------------------------------------------------------


def error_decay(table: pd.DataFrame, tolerance: Section) -> ClaimOutcome:
    """G1 (Zhang, Zhou & Saab 2023, Theorem 3.1 and §5; Lybrand & Saab 2021): per seed, the log-log
    slope of GPFQ's relative square error against N0 lies in [gpfq_slope_low, gpfq_slope_high], MSQ's
    in [msq_slope_low, msq_slope_high], and MSQ's error over GPFQ's at the largest N0 is at least
    msq_over_gpfq_at_largest_n0_min; for every input distribution."""
    verdicts, rows, numbers, slopes = [], [], {}, []
    for variant in single_layer_variants(table):
        gpfq, msq = (
            wide(table, variant, "relative_square_error", "neurons_in", method=m)
            for m in ("gpfq", "msq")
        )
        inputs = table.loc[table["variant"] == variant, "inputs"].iloc[0]
        gpfq_slope = Spread.of([log_log_slope(gpfq.columns, row) for row in gpfq.to_numpy()])
        msq_slope = Spread.of([log_log_slope(msq.columns, row) for row in msq.to_numpy()])
        ratio = Spread.of(msq.iloc[:, -1] / gpfq.iloc[:, -1])
        parts = [
            band_verdict(
                gpfq_slope, tolerance.number("gpfq_slope_low"), tolerance.number("gpfq_slope_high")
            ),
            band_verdict(
                msq_slope, tolerance.number("msq_slope_low"), tolerance.number("msq_slope_high")
            ),
            threshold_verdict(
                ratio, tolerance.number("msq_over_gpfq_at_largest_n0_min", positive=True)
            ),
        ]
        verdict = combine(parts)
        verdicts.append(verdict)
        slopes.append(gpfq_slope.median)
        numbers.update(
            {
                **gpfq_slope.as_numbers(f"{inputs}_gpfq_slope"),
                **msq_slope.as_numbers(f"{inputs}_msq_slope"),
                **ratio.as_numbers(f"{inputs}_msq_over_gpfq_at_n0_{int(gpfq.columns[-1])}"),
            }
        )
        rows.append(
            {
                "inputs": inputs,
                "GPFQ slope": gpfq_slope.text(),
                "MSQ slope": msq_slope.text(),
                f"MSQ / GPFQ at N0 = {int(gpfq.columns[-1])}": ratio.text(),
                "paper": "GPFQ ≈ −1 (log N0 / N0), MSQ flat",
                "verdict": verdict,
            }
        )
    fitted = ", ".join(
        f"{row['inputs']} {slope:.3f}" for row, slope in zip(rows, slopes, strict=True)
    )
    flat = ", ".join(f"{numbers[row['inputs'] + '_msq_slope_median']:.3f}" for row in rows)
    summary = (
        f"median fitted slopes of GPFQ's relative square error against N0: {fitted} (the bound's −1 up to "
        f"a log factor); MSQ's: {flat}."
    )
    return ClaimOutcome(
        combine(verdicts),
        ("least_negative_gpfq_slope", float(np.max(slopes))),
        numbers,
        summary,
        rows,
    )


# --- G2 ------------------------------------------------------------------------------------------


def layer_error_ratios(table: pd.DataFrame, variant: str) -> dict[int, pd.DataFrame]:
    """Per hidden layer: seed × C table of GPFQ's calibration error over MSQ's."""
    return {
        l: layer_error(table, variant, l, "gpfq") / layer_error(table, variant, l, "msq")
        for l in hidden_layers(table, variant)
    }


def hidden_error_ratio(table: pd.DataFrame, variant: str) -> pd.Series:
    """Per seed: median over C and hidden layers of GPFQ's calibration error over MSQ's."""
    return pd.concat(layer_error_ratios(table, variant).values(), axis=1).median(axis=1)


def accuracy_vs_scale(table: pd.DataFrame, tolerance: Section) -> ClaimOutcome:
    """G2 (Zhang, Zhou & Saab 2023, §6 tables; Lybrand & Saab 2021, MNIST): per seed, for every
    quantized model and alphabet, (a) float accuracy minus GPFQ's best over C is at most
    accuracy_drop_at_most points; (b) GPFQ's hidden-layer errors over MSQ's (median over C and
    layers) are at most hidden_error_ratio_at_most; (c) for the alphabets listed in
    accuracy_gain_alphabets (where accuracy separates the methods), the median over C of GPFQ's
    accuracy minus MSQ's is at least accuracy_gain_min_points."""
    drop_limit = tolerance.number("accuracy_drop_at_most", positive=True)
    ratio_limit = tolerance.number("hidden_error_ratio_at_most", positive=True)
    gain_limit = tolerance.number("accuracy_gain_min_points")
    gain_alphabets = tolerance.raw("accuracy_gain_alphabets")
    verdicts, rows, numbers, drops, ratios = [], [], {}, [], []
    for variant in quantized_variants(table):
        model, alphabet = (quantized_setting(table, variant, c) for c in ("model", "alphabet"))
        float_network = float_accuracy(table, variant)
        gpfq, msq = (network_accuracy(table, variant, m) for m in ("gpfq", "msq"))
        drop = Spread.of(float_network - gpfq.max(axis=1))
        ratio = Spread.of(hidden_error_ratio(table, variant))
        per_layer = {
            l: Spread.of(r.median(axis=1)) for l, r in layer_error_ratios(table, variant).items()
        }
        gain = Spread.of((gpfq - msq).median(axis=1))
        parts = [
            threshold_verdict(drop, drop_limit, at_most=True),
            threshold_verdict(ratio, ratio_limit, at_most=True),
        ]
        if alphabet in gain_alphabets:
            parts.append(threshold_verdict(gain, gain_limit))
        verdict = combine(parts)
        verdicts.append(verdict)
        drops.append(drop.median)
        ratios.append(ratio.median)
        numbers.update(
            {
                **drop.as_numbers(f"{variant}_float_minus_best_gpfq_points"),
                **ratio.as_numbers(f"{variant}_hidden_error_gpfq_over_msq"),
                **gain.as_numbers(f"{variant}_median_over_c_gpfq_minus_msq_points"),
                **Spread.of(float_network).as_numbers(f"{variant}_float_accuracy"),
                **Spread.of(gpfq.max(axis=1)).as_numbers(f"{variant}_best_gpfq_accuracy"),
                **Spread.of(msq.max(axis=1)).as_numbers(f"{variant}_best_msq_accuracy"),
            }
        )
        for layer, spread in per_layer.items():
            numbers.update(spread.as_numbers(f"{variant}_layer{layer}_error_gpfq_over_msq"))
        paper = {
            ("mlp", "ternary"): f"MNIST MLP: {PAPER_MNIST_TERNARY}",
            ("cnn", "4bit"): f"ImageNet: {PAPER_IMAGENET_4BIT}",
        }
        rows.append(
            {
                "variant": variant,
                "float": Spread.of(float_network).text(3),
                "best GPFQ": Spread.of(gpfq.max(axis=1)).text(3),
                "best MSQ": Spread.of(msq.max(axis=1)).text(3),
                "float − best GPFQ": drop.text(2),
                "hidden error GPFQ / MSQ": ratio.text(2),
                "by layer (median over C)": ", ".join(
                    f"{l}: {s.median:.2f}" for l, s in per_layer.items()
                ),
                "median over C: GPFQ − MSQ": gain.text(2)
                + ("" if alphabet in gain_alphabets else " (shown)"),
                "paper": paper.get((model, alphabet), ""),
                "verdict": verdict,
            }
        )
    names = ", ".join(r["variant"] for r in rows)
    summary = (
        f"GPFQ's best accuracy over C is {', '.join(f'{d:.2f}' for d in drops)} points below float "
        f"({names}; needs ≤ {drop_limit:g}; the paper's MNIST MLP ternary: 98.24 → 97.39, 0.85 points, best "
        f"MSQ 93.30); GPFQ's hidden-layer errors over MSQ's: {', '.join(f'{r:.2f}' for r in ratios)} (needs ≤ "
        f"{ratio_limit:g}); failed: {', '.join(r['variant'] for r in rows if r['verdict'] != REPRODUCED) or 'none'}."
    )
    return ClaimOutcome(
        combine(verdicts),
        ("largest_median_accuracy_drop_points", float(np.max(drops))),
        numbers,
        summary,
        rows,
    )


# --- G3 ------------------------------------------------------------------------------------------


def bias_and_mixed_precision(table: pd.DataFrame, tolerance: Section) -> ClaimOutcome:
    """G3 (Zhang, Zhou & Saab 2023, §6, bias correction and mixed precision): (a) bias correction
    never increases a layer's calibration error: the largest corrected/uncorrected ratio over seeds, C
    and layers is at most corrected_error_ratio_at_most; per seed, the median over C of the accuracy
    change (b) from bias correction (GPFQ+bias − GPFQ) and (c) from a float last layer on top
    (GPFQ+bias+float last − GPFQ+bias) is at least −accuracy_loss_at_most points."""
    ratio_limit = tolerance.number("corrected_error_ratio_at_most", positive=True)
    loss_limit = -tolerance.number("accuracy_loss_at_most", low=0.0)
    verdicts, rows, numbers, worst_ratio = [], [], {}, []
    for variant in quantized_variants(table):
        layers = hidden_layers(table, variant) + [len(hidden_layers(table, variant))]
        corrected = np.stack(
            [layer_error(table, variant, l, "gpfq", bias=True).to_numpy() for l in layers]
        )
        uncorrected = np.stack(
            [
                layer_error(
                    table,
                    variant,
                    l,
                    "gpfq",
                    bias=True,
                    metric="calibration_relative_error_before_bias_shift",
                ).to_numpy()
                for l in layers
            ]
        )
        largest = float(np.max(corrected / uncorrected))
        worst_ratio.append(largest)
        accuracy = {
            "gpfq": network_accuracy(table, variant, "gpfq"),
            "gpfq_bias": network_accuracy(table, variant, "gpfq", bias=True),
            "gpfq_bias_float_last": network_accuracy(
                table, variant, "gpfq", bias=True, float_last=True
            ),
        }
        bias_change = Spread.of((accuracy["gpfq_bias"] - accuracy["gpfq"]).median(axis=1))
        mixed_change = Spread.of(
            (accuracy["gpfq_bias_float_last"] - accuracy["gpfq_bias"]).median(axis=1)
        )
        both_change = Spread.of(
            (accuracy["gpfq_bias_float_last"] - accuracy["gpfq"]).median(axis=1)
        )
        parts = [
            threshold_verdict(Spread.of([largest]), ratio_limit, at_most=True),
            threshold_verdict(bias_change, loss_limit),
            threshold_verdict(mixed_change, loss_limit),
        ]
        verdict = combine(parts)
        verdicts.append(verdict)
        numbers.update(
            {
                f"{variant}_largest_corrected_over_uncorrected_error": largest,
                **bias_change.as_numbers(f"{variant}_bias_correction_accuracy_change_points"),
                **mixed_change.as_numbers(f"{variant}_float_last_accuracy_change_points"),
                **both_change.as_numbers(f"{variant}_bias_and_float_last_vs_gpfq_points"),
            }
        )
        rows.append(
            {
                "variant": variant,
                "largest corrected / uncorrected layer error": f"{largest:.6f}",
                "bias correction: Δ accuracy": bias_change.text(2),
                "float last layer: Δ accuracy": mixed_change.text(2),
                "both vs plain GPFQ: Δ accuracy": both_change.text(2),
                "verdict": verdict,
            }
        )
    summary = (
        f"bias correction never raised a calibration layer error (largest ratio {max(worst_ratio):.6f}); "
        f"accuracy changes are medians over C of per-seed paired differences, in points; the paper: "
        f"{PAPER_BIAS_MIXED}."
    )
    return ClaimOutcome(
        combine(verdicts),
        ("largest_corrected_over_uncorrected_error", float(max(worst_ratio))),
        numbers,
        summary,
        rows,
    )


CHECKS = {
    "error_decay": error_decay,
    "accuracy_vs_scale": accuracy_vs_scale,
    "bias_and_mixed_precision": bias_and_mixed_precision,
}
