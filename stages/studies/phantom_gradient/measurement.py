"""Measure one variant's runs into tidy rows (seed, step, metric, value, experiment, backward, k, damping).

Dense variants (`experiment` = dense, step = epoch, the variant's own backward choice):
train_loss (mean cross-entropy of the epoch), test_accuracy (share of the test split, epoch 0 =
at initialisation), spectral_norm_w (‖W‖₂), forward_evaluations_per_step, backward_passes_per_step
(evaluations of f recorded for the backward pass + VJPs through f), backward_vjps_per_step,
unconverged_solves, max_relative_residual, diverged (step 0).
Their direction rows (`experiment` = direction, step = checkpoint epoch, backward/k/damping = the
phantom measured): cosine_<form>_k<k>_damping<λ>, unrolled_neumann_relative_difference_k<k>_damping<λ>,
reference_unconverged_solves, reference_max_relative_residual, jacobian_spectral_radius_max.
The conv_timing variant (step 0, one row per seed): backward_graph_evaluations_<form>,
backward_vjps_<form>, backward_passes_<form> for exact, unrolled and neumann; forward_evaluations,
forward_relative_residual, unconverged_solves, cosine_<form>_vs_exact,
unrolled_neumann_relative_difference, diverged. No wall-clock time enters these rows.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from .config import SETTING_COLUMNS, Config, Variant
from .direction import direction_at
from .settings import Backward
from .timing import FORM_ORDER, backwards
from .training import EPOCH_METRICS, dense_model, tensors


def direction_metric(form: str, k: int, damping: float) -> str:
    return f"cosine_{form}_k{k}_damping{damping:g}"


def difference_metric(k: int, damping: float) -> str:
    return f"unrolled_neumann_relative_difference_k{k}_damping{damping:g}"


class Rows:
    """Long-format rows; every row names the gradient estimator it describes."""

    def __init__(self):
        self.rows = []

    def add(
        self, seed: int, step: int, metric: str, value: float, experiment: str, backward: Backward
    ) -> None:
        self.rows.append(
            {
                "seed": int(seed),
                "step": int(step),
                "metric": metric,
                "value": float(value),
                "experiment": experiment,
                "backward": backward.form,
                "k": int(backward.k),
                "damping": float(backward.damping if backward.form != "exact" else 0.0),
            }
        )

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(
            self.rows, columns=["seed", "step", "metric", "value", *SETTING_COLUMNS]
        )


def measure_dense(config: Config, variant: Variant, data, runs, rows: Rows) -> None:
    backward = variant.backward
    inputs, labels = tensors(data, "train")
    examples = config.direction.examples
    inputs, labels = inputs[:examples], labels[:examples]
    for index, seed in enumerate(runs["seeds"]):
        rows.add(seed, 0, "diverged", float(runs["diverged"][index]), "dense", backward)
        for metric in EPOCH_METRICS:
            for epoch, value in enumerate(runs[metric][index]):
                if np.isfinite(value):
                    rows.add(seed, epoch, metric, value, "dense", backward)
        if variant.measure_direction:
            measure_direction(
                config,
                int(seed),
                runs["checkpoint_epochs"],
                runs["checkpoints"][index],
                inputs,
                labels,
                rows,
            )


def measure_direction(
    config: Config, seed: int, epochs, checkpoints, inputs, labels, rows: Rows
) -> None:
    """P1's rows at one seed's checkpoints (a diverged seed's missing checkpoints are skipped)."""
    model = dense_model(config.dense, seed)
    for epoch, vector in zip(epochs, checkpoints, strict=True):
        if not np.all(np.isfinite(vector)):
            continue
        model.load_flat(torch.as_tensor(vector))
        measured = direction_at(model, inputs, labels, config.direction)
        for (form, k, damping), cosine in measured.cosines.items():
            rows.add(
                seed,
                epoch,
                direction_metric(form, k, damping),
                cosine,
                "direction",
                Backward(form, k, damping),
            )
        for (k, damping), difference in measured.relative_differences.items():
            rows.add(
                seed,
                epoch,
                difference_metric(k, damping),
                difference,
                "direction",
                Backward("neumann", k, damping),
            )
        for metric, value in (
            ("reference_unconverged_solves", measured.reference_unconverged),
            ("reference_max_relative_residual", measured.reference_max_residual),
            ("jacobian_spectral_radius_max", measured.jacobian_spectral_radius_max),
        ):
            rows.add(seed, epoch, metric, value, "direction", Backward("exact"))


def measure_timing(backward: Backward, runs, rows: Rows) -> None:
    choices = backwards(backward)
    for index, seed in enumerate(runs["seeds"]):
        for form in FORM_ORDER:
            graph, vjps = (
                runs[f"backward_graph_evaluations_{form}"][index],
                runs[f"backward_vjps_{form}"][index],
            )
            for metric, value in (
                ("backward_graph_evaluations", graph),
                ("backward_vjps", vjps),
                ("backward_passes", graph + vjps),
            ):
                rows.add(seed, 0, f"{metric}_{form}", value, "conv_timing", choices[form])
        for form in ("unrolled", "neumann"):
            rows.add(
                seed,
                0,
                f"cosine_{form}_vs_exact",
                runs[f"cosine_{form}"][index],
                "conv_timing",
                choices[form],
            )
        cosines = [runs[f"cosine_{form}"][index] for form in ("unrolled", "neumann")]
        for metric, value in (
            ("forward_evaluations", runs["forward_evaluations"][index]),
            ("forward_relative_residual", runs["forward_relative_residual"][index]),
            ("unconverged_solves", runs["unconverged_solves"][index]),
            (
                "unrolled_neumann_relative_difference",
                runs["unrolled_neumann_relative_difference"][index],
            ),
            ("diverged", float(not np.all(np.isfinite(cosines)))),
        ):
            rows.add(seed, 0, metric, value, "conv_timing", backward)


def measure(
    config: Config,
    variant_name: str,
    data: dict[str, np.ndarray],
    runs: dict[str, np.ndarray],
    *,
    reads,
) -> pd.DataFrame:
    variant = config.variants[variant_name]
    rows = Rows()
    if variant.experiment == "dense":
        measure_dense(config, variant, data, runs, rows)
    else:
        measure_timing(variant.backward, runs, rows)
    return rows.frame()
