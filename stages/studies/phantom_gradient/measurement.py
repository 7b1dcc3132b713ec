"""Measure one variant's runs into tidy rows (stages/common/tables.TidyRows; the setting columns are
config.SETTING_COLUMNS). No wall-clock time enters these rows.

Dense variants (experiment = dense; training_gradient, training_k, training_damping = the variant's
gradient; a row at `epoch` e sits at step e × steps per epoch, the parameters after e epochs):
- per epoch, estimator null: train_loss_cross_entropy (mean over the epoch's minibatches, nats),
  test_accuracy_percent (share of the test split classified correctly, in %; epoch 0 = at
  initialisation),
  spectral_norm_w (‖W‖₂), forward_evaluations_per_step, backward_passes_per_step (evaluations of f
  recorded for the backward pass + VJPs through f), backward_vjps_per_step, unconverged_solves
  (solves that stopped at their cap short of the tolerance) and max_relative_residual (over the
  epoch's training and test solves);
- diverged (1 if a loss went non-finite, else 0) at the last epoch;
- with measure_direction, at each checkpoint epoch (P1): cosine_with_exact per phantom gradient of
  the grid (estimator, estimator_k, estimator_damping), unrolled_neumann_relative_difference per
  (k, λ) (estimator null: both forms), cosine_with_exact of P1's control (estimator
  random_direction, estimator_k the grid's k it stands beside, damping null: a random direction drawn
  for that k), and with estimator null reference_unconverged_solves,
  reference_max_relative_residual, jacobian_spectral_radius_max.
The conv_timing variant (experiment = conv_timing, step 0, epoch and training columns null; one row
per seed): backward_graph_evaluations, backward_vjps and backward_passes for each estimator (exact,
unrolled, neumann), cosine_with_exact for both phantom forms; with estimator null
forward_evaluations, forward_relative_residual, forward_unconverged_solves (a seed with one is
lost), adjoint_solves_at_cap and adjoint_relative_residual (the exact backward's adjoint solve,
capped as MDEQ's), unrolled_neumann_relative_difference (at the variant's k, λ) and diverged.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ...common.tables import TidyRows
from .config import (
    EPOCH_METRICS,
    PHANTOM_FORMS,
    SETTING_COLUMNS,
    Config,
    ConvTimingVariant,
    DenseVariant,
    Gradient,
    PhantomGradient,
)
from .table_rows import RANDOM_DIRECTION

NO_ESTIMATOR = {"estimator": None, "estimator_k": None, "estimator_damping": None}


def training_columns(gradient: Gradient | None) -> dict:
    """The training_* settings of a row: the gradient its network was trained with (None: untrained)."""
    phantom = isinstance(gradient, PhantomGradient)
    return {
        "training_gradient": None if gradient is None else gradient.form,
        "training_k": gradient.k if phantom else None,
        "training_damping": gradient.damping if phantom else None,
    }


def estimator_columns(gradient: Gradient) -> dict:
    """The estimator* settings of a row: the gradient estimator it measures."""
    phantom = isinstance(gradient, PhantomGradient)
    return {
        "estimator": gradient.form,
        "estimator_k": gradient.k if phantom else None,
        "estimator_damping": gradient.damping if phantom else None,
    }


def phantom_pair_columns(k: int, damping: float) -> dict:
    """The settings of a row comparing the two phantom forms at one (k, λ)."""
    return {"estimator": None, "estimator_k": k, "estimator_damping": damping}


def measure_dense(config: Config, variant: DenseVariant, data, runs) -> pd.DataFrame:
    rows = TidyRows(
        SETTING_COLUMNS,
        experiment="dense",
        **training_columns(variant.gradient),
        **NO_ESTIMATOR,
    )
    steps_per_epoch = int(runs["steps_per_epoch"].item())  # saved as a one-element array
    last_epoch = runs[EPOCH_METRICS[0]].shape[1] - 1
    for index, seed in enumerate(runs["seeds"]):
        rows.add(
            seed,
            last_epoch * steps_per_epoch,
            "diverged",
            float(runs["diverged"][index]),
            epoch=last_epoch,
        )
        for metric in EPOCH_METRICS:
            for epoch, value in enumerate(runs[metric][index]):
                if np.isfinite(value):
                    rows.add(seed, epoch * steps_per_epoch, metric, value, epoch=epoch)
        if variant.measure_direction:
            measure_direction(
                config,
                int(seed),
                runs["checkpoint_epochs"],
                steps_per_epoch,
                runs["checkpoints"][index],
                data,
                rows,
            )
    return rows.frame()


def measure_direction(
    config: Config, seed: int, epochs, steps_per_epoch: int, checkpoints, data, rows
) -> None:
    """P1's rows at one seed's checkpoints (a diverged seed's missing checkpoints are skipped), on
    the first `direction.examples` training digits."""
    # torch costs ~3 s of CPU to import: only the measure stages that compute gradients pay it
    import torch

    from .direction import direction_at
    from .training import dense_model, tensors

    inputs, labels = tensors(data, "train")
    inputs, labels = inputs[: config.direction.examples], labels[: config.direction.examples]
    model = dense_model(config.dense, seed)
    for epoch, vector in zip(epochs, checkpoints, strict=True):
        if not np.all(np.isfinite(vector)):
            continue
        model.load_flat(torch.as_tensor(vector))
        measured = direction_at(model, inputs, labels, config.direction, (seed, int(epoch)))
        step, at = int(epoch) * steps_per_epoch, {"epoch": int(epoch)}
        for phantom, cosine in measured.cosines.items():
            rows.add(seed, step, "cosine_with_exact", cosine, **at, **estimator_columns(phantom))
        for k, cosine in measured.random_cosines.items():
            random = {"estimator": RANDOM_DIRECTION, "estimator_k": k, "estimator_damping": None}
            rows.add(seed, step, "cosine_with_exact", cosine, **at, **random)
        for (k, damping), difference in measured.relative_differences.items():
            rows.add(
                seed,
                step,
                "unrolled_neumann_relative_difference",
                difference,
                **at,
                **phantom_pair_columns(k, damping),
            )
        for metric, value in (
            ("reference_unconverged_solves", measured.reference_unconverged),
            ("reference_max_relative_residual", measured.reference_max_residual),
            ("jacobian_spectral_radius_max", measured.jacobian_spectral_radius_max),
        ):
            rows.add(seed, step, metric, value, **at)


def measure_timing(variant: ConvTimingVariant, runs) -> pd.DataFrame:
    rows = TidyRows(
        SETTING_COLUMNS,
        experiment="conv_timing",
        epoch=None,
        **training_columns(None),
        **NO_ESTIMATOR,
    )
    estimators = variant.estimators()
    for index, seed in enumerate(runs["seeds"]):
        for form, estimator in estimators.items():
            graph = runs[f"backward_graph_evaluations_{form}"][index]
            vjps = runs[f"backward_vjps_{form}"][index]
            for metric, value in (
                ("backward_graph_evaluations", graph),
                ("backward_vjps", vjps),
                ("backward_passes", graph + vjps),
            ):
                rows.add(seed, 0, metric, value, **estimator_columns(estimator))
        for form in PHANTOM_FORMS:
            rows.add(
                seed,
                0,
                "cosine_with_exact",
                runs[f"cosine_{form}"][index],
                **estimator_columns(estimators[form]),
            )
        rows.add(
            seed,
            0,
            "unrolled_neumann_relative_difference",
            runs["unrolled_neumann_relative_difference"][index],
            **phantom_pair_columns(variant.k, variant.damping),
        )
        cosines = [runs[f"cosine_{form}"][index] for form in PHANTOM_FORMS]
        for metric, value in (
            ("forward_evaluations", runs["forward_evaluations"][index]),
            ("forward_relative_residual", runs["forward_relative_residual"][index]),
            ("forward_unconverged_solves", runs["forward_unconverged_solves"][index]),
            ("adjoint_solves_at_cap", runs["adjoint_solves_at_cap"][index]),
            ("adjoint_relative_residual", runs["adjoint_relative_residual"][index]),
            ("diverged", float(not np.all(np.isfinite(cosines)))),
        ):
            rows.add(seed, 0, metric, value)
    return rows.frame()


def measure(
    config: Config,
    variant_name: str,
    data: dict[str, np.ndarray],
    runs: dict[str, np.ndarray],
    *,
    reads,
) -> pd.DataFrame:
    """The skeleton's measure, by the kind of variant."""
    variant = config.variants[variant_name]
    if isinstance(variant, DenseVariant):
        return measure_dense(config, variant, data, runs)
    return measure_timing(variant, runs)
