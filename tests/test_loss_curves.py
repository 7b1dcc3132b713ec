"""The committed loss curves (stages/aggregate.py -> reports/curves/<study>.csv, `dvc plots`): long
form, the median over each variant's runs, no cell drawn as 0, no single point posing as a curve."""

import numpy as np
import pandas as pd

from stages.aggregate import loss_curves


def _rows(variant: str, step: int, values: list[float], metric: str = "train_loss") -> list[dict]:
    return [
        {"variant": variant, "step": step, "seed": seed, "metric": metric, "value": value}
        for seed, value in enumerate(values)
    ]


def test_the_median_per_variant_and_step_in_long_form():
    table = pd.DataFrame(
        _rows("b", 0, [4.0, 2.0, 3.0])
        + _rows("b", 10, [1.0, 0.5, 0.25])
        + _rows("a", 0, [9.0, 7.0])
        + _rows("a", 5, [1.0, 3.0])
        + _rows("a", 5, [100.0], metric="test_loss")
    )
    curves = loss_curves(table, "train_loss")
    assert list(curves.columns) == ["step", "variant", "train_loss_median"]
    assert curves.to_dict("records") == [
        {"step": 0, "variant": "a", "train_loss_median": 8.0},
        {"step": 5, "variant": "a", "train_loss_median": 2.0},
        {"step": 0, "variant": "b", "train_loss_median": 3.0},
        {"step": 10, "variant": "b", "train_loss_median": 0.5},
    ]


def test_steps_without_a_finite_median_and_single_points_are_left_out():
    """A variant's steps never show up under another variant; a step where every run is NaN or
    infinite leaves a gap, not a 0; a variant measured at one step only is a final value."""
    table = pd.DataFrame(
        _rows("long", 0, [1.0, 1.0])
        + _rows("long", 1, [np.nan, np.nan])
        + _rows("long", 2, [np.inf, np.inf])
        + _rows("long", 3, [0.1, 0.3])
        + _rows("final_only", 5000, [1e-7, 2e-7])
    )
    curves = loss_curves(table, "train_loss")
    assert curves["variant"].tolist() == ["long", "long"]
    assert curves["step"].tolist() == [0, 3]
    assert np.isfinite(curves["train_loss_median"]).all()
