"""The study's figures (medians over seeds with interquartile bands, as the other studies):

- error_vs_n0 (G1, like the papers' single-layer plots): relative square error against N0 on log-log
  axes, GPFQ and MSQ, one panel per input distribution, fitted median slopes in the legend;
- accuracy_vs_scale (G2a, G2b, like the papers' accuracy-against-C tables): validation accuracy
  against C for GPFQ and MSQ (where each method's C is chosen), the float network's test accuracy
  dashed, one panel per quantized network and alphabet;
- hidden_layer_errors (shown, not judged): calibration errors of the hidden layers against C. The
  theory's advantage of GPFQ needs N0 ≫ m (error ∝ m log N0 / N0); with m = 2048 calibration images
  every layer here has N0 < m;
- last_layer_recipe (G3): per alphabet and seed, the test-accuracy change from a float last layer
  and from the code's recipe (float last layer with its bias corrected) against plain GPFQ.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import seaborn as sns

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


def panels(table: pd.DataFrame) -> list[tuple[str, str]]:
    """(variant, alphabet) of every quantized network and alphabet with a grid of several C (a
    single C, the 8-bit control, draws no curve), fewest levels first."""
    rows = select(table, None, "validation_accuracy_percent")
    grids = rows.groupby(["variant", "alphabet"])["scale_c"].nunique()
    shown = [key for key, size in grids.items() if size > 1]
    return sorted(shown, key=lambda k: (k[0], k[1] != "ternary", k[1]))


def panel_title(table: pd.DataFrame, variant: str, alphabet: str) -> str:
    return f"{quantized_setting(table, variant, 'model').upper()}, {alphabet}"


def accuracy_vs_scale(table: pd.DataFrame):
    shown = panels(table)
    figure, axes = new_figure(columns=len(shown), width=3.2)
    for ax, (variant, alphabet) in zip(axes, shown, strict=True):
        rows = select(table, variant, "validation_accuracy_percent", alphabet=alphabet)
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
            label="float (test)",
        )
        ax.set(
            xlabel="scale C",
            ylabel="validation accuracy (%)",
            title=panel_title(table, variant, alphabet),
            ylim=(0, 100),
        )
        ax.legend(fontsize=7, loc="lower left")
    return figure


def hidden_layer_errors(table: pd.DataFrame):
    shown = panels(table)
    figure, axes = new_figure(columns=len(shown), width=3.2)
    for ax, (variant, alphabet) in zip(axes, shown, strict=True):
        rows = select(table, variant, "calibration_relative_error", alphabet=alphabet)
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
            title=panel_title(table, variant, alphabet),
        )
        ax.legend(fontsize=6)
    return figure


def last_layer_recipe(table: pd.DataFrame):
    variants = quantized_variants(table)
    figure, axes = new_figure(columns=len(variants), width=4.2)
    changes = {(True, False): "float last layer", (True, True): "+ its bias corrected"}
    for ax, variant in zip(axes, variants, strict=True):

        def accuracy(float_last: bool, bias: bool, variant=variant) -> pd.Series:
            rows = select(
                table,
                variant,
                "test_accuracy_percent",
                method="gpfq",
                scale_c_choice="validation",
                float_last_layer=float_last,
                bias_correction=bias,
            )
            return rows.set_index(["seed", "alphabet"])["value"]

        plain = accuracy(False, False)
        frames = [
            (accuracy(*network) - plain).reset_index().assign(change=label)
            for network, label in changes.items()
        ]
        sns.stripplot(
            data=pd.concat(frames),
            x="alphabet",
            y="value",
            hue="change",
            hue_order=list(changes.values()),
            dodge=True,
            ax=ax,
            size=4,
        )
        ax.axhline(0.0, color="black", linewidth=0.8)
        ax.set(
            xlabel="alphabet (GPFQ at its validation C)",
            ylabel="test accuracy − plain GPFQ (points)",
            title=quantized_setting(table, variant, "model").upper(),
        )
        ax.legend(fontsize=6)
    return figure


FIGURES = {
    "error_vs_n0": error_vs_n0,
    "accuracy_vs_scale": accuracy_vs_scale,
    "hidden_layer_errors": hidden_layer_errors,
    "last_layer_recipe": last_layer_recipe,
}


def figures(config, table: pd.DataFrame) -> dict:
    """Every figure whose variants are in the table (a partial rerun draws what it can)."""
    drawn = {}
    if (table["model"] == "single_layer").any():
        drawn["error_vs_n0"] = error_vs_n0(table)
    if quantized_variants(table):
        for name in ("accuracy_vs_scale", "hidden_layer_errors", "last_layer_recipe"):
            drawn[name] = FIGURES[name](table)
    return drawn
