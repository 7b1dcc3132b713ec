"""The study's figures (medians over seeds with interquartile bands, as the other studies):

- error_vs_n0 (G1, like the papers' single-layer plots): relative square error against N0 on log-log
  axes, GPFQ and MSQ, one panel per input distribution, fitted median slopes in the legend;
- accuracy_vs_scale (G2, like the papers' accuracy-against-C tables): test accuracy against C for
  GPFQ and MSQ, the float network dashed, one panel per quantized model and alphabet;
- hidden_layer_errors (G2 where accuracy does not separate): calibration errors of the hidden
  layers against C;
- bias_and_mixed_precision (G3): accuracy change against C from bias correction, a float last
  layer, and both, relative to plain GPFQ.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ...common.figures import new_figure, seed_band_lines
from .summaries import hidden_layers, log_log_slope

QUANTIZED = ("msq", "gpfq")


def error_vs_n0(table: pd.DataFrame):
    layer_variants = sorted(
        table.loc[table["model"] == "single_layer", "variant"].unique(),
        key=lambda name: (name != "layer_gaussian", name),
    )  # Gaussian first, as the papers
    figure, axes = new_figure(columns=len(layer_variants), width=4.6)
    for ax, variant in zip(axes, layer_variants, strict=True):
        rows = table[
            (table["variant"] == variant) & table["metric"].str.endswith("relative_square_error")
        ].copy()
        labels = {}
        for method, group in rows.groupby("method"):
            medians = group.groupby("step")["value"].median()
            labels[method] = (
                f"{method.upper()} (slope {log_log_slope(medians.index, medians.values):.2f})"
            )
        rows["quantizer"] = rows["method"].map(labels)
        seed_band_lines(
            ax,
            rows,
            "step",
            "value",
            "quantizer",
            log_y=True,
            hue_order=[labels[m] for m in QUANTIZED],
        )
        steps = np.array(sorted(rows["step"].unique()), dtype=float)
        anchor = rows[(rows["method"] == "gpfq") & (rows["step"] == steps[0])]["value"].median()
        ax.plot(
            steps,
            anchor * steps[0] / steps,
            color="black",
            linestyle="--",
            linewidth=0.8,
            label="∝ 1/N0",
        )
        ax.set(
            xscale="log",
            xlabel="N0 (weights per neuron)",
            ylabel="‖XW − XQ‖² / ‖XW‖²",
            title=f"one layer, {rows['inputs'].iloc[0]} inputs, {rows['alphabet'].iloc[0]}",
        )
        ax.legend(fontsize=7)
    return figure


def quantized_variants(table: pd.DataFrame) -> list[str]:
    return sorted(table.loc[table["metric"] == "gpfq_test_accuracy_percent", "variant"].unique())


def panel_title(rows: pd.DataFrame) -> str:
    return f"{rows['model'].iloc[0].upper()}, {rows['alphabet'].iloc[0]}"


def accuracy_vs_scale(table: pd.DataFrame):
    variants = quantized_variants(table)
    figure, axes = new_figure(columns=len(variants), width=3.6)
    for ax, variant in zip(axes, variants, strict=True):
        rows = table[
            (table["variant"] == variant)
            & table["metric"].isin([f"{m}_test_accuracy_percent" for m in QUANTIZED])
        ]
        rows = rows.assign(quantizer=rows["method"].str.upper())
        seed_band_lines(
            ax, rows, "scale_c", "value", "quantizer", log_y=False, hue_order=["MSQ", "GPFQ"]
        )
        float_accuracy = table[
            (table["variant"] == variant) & (table["metric"] == "float_test_accuracy_percent")
        ]
        ax.axhline(
            float_accuracy["value"].median(),
            color="black",
            linestyle="--",
            linewidth=0.9,
            label="float",
        )
        ax.set(xlabel="scale C", ylabel="test accuracy (%)", title=panel_title(rows), ylim=(0, 100))
        ax.legend(fontsize=7, loc="lower left")
    return figure


def hidden_layer_errors(table: pd.DataFrame):
    variants = quantized_variants(table)
    figure, axes = new_figure(columns=len(variants), width=3.6)
    for ax, variant in zip(axes, variants, strict=True):
        metrics = [
            f"{m}_layer{l}_relative_error" for m in QUANTIZED for l in hidden_layers(table, variant)
        ]
        rows = table[(table["variant"] == variant) & table["metric"].isin(metrics)].copy()
        rows["layer"] = (
            rows["method"].str.upper() + ", layer " + rows["metric"].str.extract(r"layer(\d+)")[0]
        )
        seed_band_lines(
            ax,
            rows,
            "scale_c",
            "value",
            "layer",
            log_y=True,
            hue_order=sorted(rows["layer"].unique()),
        )
        ax.set(xlabel="scale C", ylabel="calibration error ‖Y − Ỹ‖/‖Y‖", title=panel_title(rows))
        ax.legend(fontsize=6)
    return figure


def bias_and_mixed_precision(table: pd.DataFrame):
    variants = quantized_variants(table)
    figure, axes = new_figure(columns=len(variants), width=3.6)
    changes = {
        "gpfq_bias": "+ bias correction",
        "gpfq_float_last": "+ float last layer",
        "gpfq_bias_float_last": "+ both",
    }
    for ax, variant in zip(axes, variants, strict=True):
        rows = table[table["variant"] == variant]
        plain = rows[rows["metric"] == "gpfq_test_accuracy_percent"].set_index(["seed", "step"])[
            "value"
        ]
        frames = []
        for method, label in changes.items():
            other = rows[rows["metric"] == f"{method}_test_accuracy_percent"].set_index(
                ["seed", "step"]
            )
            frames.append(
                pd.DataFrame(
                    {"scale_c": other["scale_c"], "value": other["value"] - plain, "change": label}
                ).reset_index()
            )
        seed_band_lines(
            ax,
            pd.concat(frames),
            "scale_c",
            "value",
            "change",
            log_y=False,
            hue_order=list(changes.values()),
        )
        ax.axhline(0.0, color="black", linewidth=0.8)
        ax.set(xlabel="scale C", ylabel="accuracy − plain GPFQ (points)", title=panel_title(rows))
        ax.legend(fontsize=6)
    return figure


FIGURES = {
    "error_vs_n0": error_vs_n0,
    "accuracy_vs_scale": accuracy_vs_scale,
    "hidden_layer_errors": hidden_layer_errors,
    "bias_and_mixed_precision": bias_and_mixed_precision,
}


def figures(config, table: pd.DataFrame) -> dict:
    """Every figure whose variants are in the table (a partial rerun draws what it can)."""
    drawn = {}
    if (table["model"] == "single_layer").any():
        drawn["error_vs_n0"] = error_vs_n0(table)
    if quantized_variants(table):
        for name in ("accuracy_vs_scale", "hidden_layer_errors", "bias_and_mixed_precision"):
            drawn[name] = FIGURES[name](table)
    return drawn
