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
from .summaries import hidden_layers, log_log_slope, quantized_setting, quantized_variants, select

QUANTIZED = ("msq", "gpfq")


def error_vs_n0(table: pd.DataFrame):
    layer_variants = sorted(
        table.loc[table["model"] == "single_layer", "variant"].unique(),
        key=lambda name: (name != "layer_gaussian", name),
    )  # Gaussian first, as the papers
    figure, axes = new_figure(columns=len(layer_variants), width=4.6)
    for ax, variant in zip(axes, layer_variants, strict=True):
        rows = select(table, variant, "relative_square_error").copy()
        labels = {}
        for method, group in rows.groupby("method"):
            medians = group.groupby("neurons_in")["value"].median()
            labels[method] = (
                f"{method.upper()} (slope {log_log_slope(medians.index, medians.values):.2f})"
            )
        rows["quantizer"] = rows["method"].map(labels)
        seed_band_lines(
            ax,
            rows,
            "neurons_in",
            "value",
            "quantizer",
            log_y=True,
            hue_order=[labels[m] for m in QUANTIZED],
        )
        n0 = np.array(sorted(rows["neurons_in"].unique()), dtype=float)
        anchor = rows[(rows["method"] == "gpfq") & (rows["neurons_in"] == n0[0])]["value"].median()
        ax.plot(
            n0,
            anchor * n0[0] / n0,
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


def panel_title(table: pd.DataFrame, variant: str) -> str:
    model, alphabet = (quantized_setting(table, variant, c) for c in ("model", "alphabet"))
    return f"{model.upper()}, {alphabet}"


def network_rows(table: pd.DataFrame, variant: str, metric: str, **settings) -> pd.DataFrame:
    """Rows of a metric of the networks that quantize every layer (no float last layer)."""
    return select(table, variant, metric, float_last_layer=0, **settings)


def accuracy_vs_scale(table: pd.DataFrame):
    variants = quantized_variants(table)
    figure, axes = new_figure(columns=len(variants), width=3.6)
    for ax, variant in zip(axes, variants, strict=True):
        rows = network_rows(table, variant, "test_accuracy_percent", bias_correction=0)
        rows = rows.assign(quantizer=rows["method"].str.upper())
        seed_band_lines(
            ax, rows, "scale_c", "value", "quantizer", log_y=False, hue_order=["MSQ", "GPFQ"]
        )
        float_accuracy = select(table, variant, "test_accuracy_percent", method="float")
        ax.axhline(
            float_accuracy["value"].median(),
            color="black",
            linestyle="--",
            linewidth=0.9,
            label="float",
        )
        ax.set(
            xlabel="scale C",
            ylabel="test accuracy (%)",
            title=panel_title(table, variant),
            ylim=(0, 100),
        )
        ax.legend(fontsize=7, loc="lower left")
    return figure


def hidden_layer_errors(table: pd.DataFrame):
    variants = quantized_variants(table)
    figure, axes = new_figure(columns=len(variants), width=3.6)
    for ax, variant in zip(axes, variants, strict=True):
        rows = network_rows(table, variant, "calibration_relative_error", bias_correction=0)
        rows = rows[rows["layer"].isin(hidden_layers(table, variant))]
        # the hue: one curve per method and layer
        rows = rows.assign(
            layer=rows["method"].str.upper() + ", layer " + rows["layer"].astype(int).astype(str)
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
        ax.set(
            xlabel="scale C",
            ylabel="calibration error ‖Y − Ỹ‖/‖Y‖",
            title=panel_title(table, variant),
        )
        ax.legend(fontsize=6)
    return figure


def bias_and_mixed_precision(table: pd.DataFrame):
    variants = quantized_variants(table)
    figure, axes = new_figure(columns=len(variants), width=3.6)
    changes = {  # (bias correction, float last layer) of a GPFQ network -> its label
        (1, 0): "+ bias correction",
        (0, 1): "+ float last layer",
        (1, 1): "+ both",
    }

    def gpfq_accuracy(variant: str, bias: int, float_last: int) -> pd.Series:
        rows = select(
            table,
            variant,
            "test_accuracy_percent",
            method="gpfq",
            bias_correction=bias,
            float_last_layer=float_last,
        )
        return rows.set_index(["seed", "scale_c"])["value"]

    for ax, variant in zip(axes, variants, strict=True):
        plain = gpfq_accuracy(variant, 0, 0)
        frames = [
            (gpfq_accuracy(variant, *network) - plain).reset_index().assign(change=label)
            for network, label in changes.items()
        ]
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
        ax.set(
            xlabel="scale C",
            ylabel="accuracy − plain GPFQ (points)",
            title=panel_title(table, variant),
        )
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
