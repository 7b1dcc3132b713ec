"""The compiled diagonal-net SGD kernel (diag_sgd_kernel) against hand-computed steps and the torch
reference (diag_net.train); the paper's l0 and effective non-zeros on hand-built vectors; diverged
runs through measure (data, never a crash); the first-seed parameter."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import yaml
from conftest import REPO

from stages.common import tables
from stages.common.params import ParamError, Section
from stages.studies.sparse_features import config as study_config
from stages.studies.sparse_features import data, diag_net, diag_sgd_kernel, measurement, training
from stages.studies.sparse_features import data as datasets
from stages.studies.sparse_features.batched_snapshots import evaluation_steps
from stages.studies.sparse_features.sparsity import effective_nonzeros, nonzeros_paper

STEPS = 150


def kernel(x, y, order, rates, eval_steps, threshold=1e6):
    """One run per data set, each with its own order column and rate column."""
    every = np.arange(x.shape[0])
    return diag_sgd_kernel.train(
        x, y, every, order, every, rates, every, 0.1, eval_steps, threshold
    )


@pytest.fixture(scope="module")
def table1_like():
    """Three data sets at Table 1's shape (n=80, d=200, r=20), their SGD orders (seed + 1)."""
    drawn = [datasets.sparse_regression("public_code", seed, 80, 10, 200, 20) for seed in range(3)]
    x = np.stack([d["x_train"] for d in drawn])
    y = np.stack([d["y_train"] for d in drawn])
    return x, y, training.sampling_indices("public_code", [1, 2, 3], 80, STEPS)


def test_two_steps_by_hand():
    """d = 1, one example x = 2, y = 3, u0 = 0.1, v0 = 0, step 0.5:
    step 1: r = 0·2 − 3 = −3, u1 = 0.1 − 0.5·(−3·2)·0 = 0.1, v1 = 0 − 0.5·(−3·2)·0.1 = 0.3;
    step 2: r = 0.1·0.3·2 − 3 = −2.94, u2 = 0.1 + 0.5·5.88·0.3 = 0.982, v2 = 0.3 + 0.5·5.88·0.1 = 0.594."""
    out = kernel(
        np.array([[[2.0]]]),
        np.array([[3.0]]),
        np.zeros((2, 1), dtype=np.int64),
        np.full((2, 1), 0.5),
        np.array([0, 1, 2]),
    )
    np.testing.assert_allclose(out["beta"][0, :, 0], [0.0, 0.1 * 0.3, 0.982 * 0.594], rtol=1e-15)
    assert not out["diverged"][0] and out["diverged_step"][0] == -1


def test_agrees_with_the_torch_reference_to_rounding(table1_like):
    x, y, order = table1_like
    rates = np.full((STEPS, 3), 0.1)
    eval_steps = evaluation_steps(STEPS, 8)
    compiled = kernel(x, y, order, rates, eval_steps)
    reference = diag_net.train(x, y, rates, "sgd", order, 0.1, eval_steps, 1e6)
    # only the dot product's summation order differs: rounding-level agreement
    np.testing.assert_allclose(compiled["beta"], reference["beta"], rtol=1e-9, atol=1e-13)
    assert np.abs(compiled["beta"][:, -1]).max() > 0.05, "training moved beta"
    np.testing.assert_array_equal(compiled["diverged_step"], reference["diverged_step"])


def test_reruns_are_bit_identical(table1_like):
    x, y, order = table1_like
    rates = np.full((STEPS, 3), 0.3)
    rates[:, 1] = 40.0  # one run diverges: NaN snapshots must repeat too
    first = kernel(x, y, order, rates, evaluation_steps(STEPS, 8))
    second = kernel(x, y, order, rates, evaluation_steps(STEPS, 8))
    for key in ("beta", "diverged", "diverged_step"):
        np.testing.assert_array_equal(first[key], second[key])
    assert first["beta"].tobytes() == second["beta"].tobytes()


def test_divergence_matches_the_reference_and_spares_the_other_runs(table1_like):
    x, y, order = table1_like
    rates = np.full((STEPS, 3), 0.1)
    rates[:, 1] = 40.0
    eval_steps = evaluation_steps(STEPS, 8)
    compiled = kernel(x, y, order, rates, eval_steps)
    reference = diag_net.train(x, y, rates, "sgd", order, 0.1, eval_steps, 1e6)
    np.testing.assert_array_equal(compiled["diverged"], [False, True, False])
    np.testing.assert_array_equal(compiled["diverged_step"], reference["diverged_step"])
    after = eval_steps >= compiled["diverged_step"][1]
    assert (
        np.isnan(compiled["beta"][1][after]).all()
        and np.isfinite(compiled["beta"][1][~after]).all()
    )
    np.testing.assert_allclose(
        compiled["beta"][[0, 2]], reference["beta"][[0, 2]], rtol=1e-9, atol=1e-13
    )


def test_a_run_plan_of_indices_equals_per_run_copies(table1_like):
    """Runs that share data sets, orders and rate columns by index give the very bytes of runs on copies."""
    x, y, order = table1_like
    rates = np.stack([np.full(STEPS, 0.05), np.full(STEPS, 0.2)], axis=1)
    data_of_run, order_of_run, rate_of_run = (
        np.array([2, 0, 2]),
        np.array([0, 1, 1]),
        np.array([1, 1, 0]),
    )
    eval_steps = evaluation_steps(STEPS, 8)
    shared = diag_sgd_kernel.train(
        x, y, data_of_run, order, order_of_run, rates, rate_of_run, 0.1, eval_steps, 1e6
    )
    copies = kernel(
        x[data_of_run], y[data_of_run], order[:, order_of_run], rates[:, rate_of_run], eval_steps
    )
    np.testing.assert_array_equal(shared["beta"], copies["beta"])


# ------------------------------------------------------------------------------ sparsity measures


def test_paper_l0_counts_strictly_above_1e_minus_50_in_float64():
    beta = np.array(
        [
            [1e-50, 1.0000001e-50, -2e-50, 5e-324, 0.0, -0.3],  # 5e-324: the smallest subnormal
            [1e-300, 1e-49, 0.0, 0.0, 0.0, 0.0],
            [np.inf, 1.0, 1.0, 1.0, 1.0, 1.0],
        ]
    )
    np.testing.assert_array_equal(nonzeros_paper(beta), [3.0, 1.0, np.nan])
    assert (
        nonzeros_paper(np.full(200, 1e-40)) == 200
    )  # the paper's constant-step count: every coordinate
    assert (
        nonzeros_paper(np.float32(1e-50) * np.ones(3, dtype=np.float32)) == 0
    )  # float32 underflows to 0


def test_effective_nonzeros_of_hand_built_vectors():
    beta = np.zeros(200)
    beta[:71] = 0.5
    assert effective_nonzeros(beta) == pytest.approx(71.0, rel=1e-12)
    beta[71:] = 1e-60  # 129 coordinates the paper's l0 drops and that weigh nothing
    assert effective_nonzeros(beta) == pytest.approx(71.0, rel=1e-12) and nonzeros_paper(beta) == 71
    # 3, 4: ||β||₁² / ||β||₂² = 49 / 25
    assert effective_nonzeros(np.array([3.0, -4.0, 0.0])) == pytest.approx(49 / 25)


# ------------------------------------------------------------------- diverged runs and first seed


def _params() -> dict:
    return yaml.safe_load((REPO / "params.yaml").read_text())["sparse_features"]


def _config(params: dict):
    return study_config.parse(Section(params, "sparse_features"))


def test_a_diverged_run_is_data_in_the_measured_table():
    params = _params()
    params["setup"]["diag_table1"].update(seeds=2, n_test=5, steps=20, eval_points=3)
    config = _config(params)
    arrays = data.generate(config)
    table1 = datasets.unstack(arrays, "diag_table1")
    eval_steps = evaluation_steps(20, 3)
    beta = np.ones((2, len(eval_steps), 200))
    beta[1, 2:] = np.nan  # seed 1 diverged at the third evaluation step
    run = {
        "beta": beta,
        "eval_steps": eval_steps,
        "diverged": np.array([False, True]),
        "diverged_step": np.array([-1, eval_steps[2]]),
        "lr_large": np.array([0.2, 0.25]),
        "large_step_reruns": np.array([0, 1]),
        "seeds": np.array([0, 1]),
    }
    frame = measurement.measure(config, "t1_sgd_decay50", arrays, run, reads={})
    final = frame[frame.step == eval_steps[-1]].set_index(["seed", "metric"])["value"]
    assert final[(1, "diverged")] == 1.0 and final[(0, "diverged")] == 0.0
    assert final[(1, "diverged_step")] == eval_steps[2]
    assert np.isnan(final[(1, "nonzeros_paper")]) and np.isnan(final[(1, "test_loss_half_mse")])
    assert final[(0, "nonzeros_paper")] == 200 and final[
        (0, "effective_nonzeros")
    ] == pytest.approx(200)
    expected = 0.5 * np.mean((table1["x_test"][0].sum(axis=1) - table1["y_test"][0]) ** 2)
    assert final[(0, "test_loss_half_mse")] == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(
    "variant, decay_at, large_step",
    [("t1_sgd_small", None, "probe"), ("t1_sgd_paper_decay50", 0.5, "fixed")],
)
def test_measured_rows_carry_the_variant_settings(variant, decay_at, large_step):
    """Every row names its settings in columns of their own (null where a setting does not apply),
    per-seed results sit at the last optimisation step, and the frame passes the table schema."""
    params = _params()
    params["setup"]["diag_table1"].update(seeds=2, n_test=5, steps=20, eval_points=3)
    config = _config(params)
    arrays = data.generate(config)
    eval_steps = evaluation_steps(20, 3)
    run = {
        "beta": np.full((2, len(eval_steps), 200), 0.01),
        "eval_steps": eval_steps,
        "diverged": np.array([False, False]),
        "diverged_step": np.array([-1, -1]),
        "lr_large": np.array([0.2, 0.25]),
        "large_step_reruns": np.array([0, 1]),
        "seeds": np.array([0, 1]),
    }
    frame = measurement.measure(config, variant, arrays, run, reads={})
    assert (frame.experiment == "diag_table1").all() and (frame.optimizer == "sgd").all()
    assert (frame.large_step == large_step).all()
    if decay_at is None:
        assert frame.decay_at.isna().all()
    else:
        assert (frame.decay_at == decay_at).all()
    per_seed = frame[
        frame.metric.isin(["diverged", "diverged_step", "lr_large", "large_step_reruns"])
    ]
    assert len(per_seed) == 8 and (per_seed.step == 20).all()
    assert sorted(frame[frame.metric == "train_loss_half_mse"].step.unique()) == list(eval_steps)
    tables.validate(
        frame.assign(study="sparse_features", variant=variant), study_config.SETTING_COLUMNS, "m"
    )


def test_first_seed_shifts_data_orders_and_probe_orders():
    params = _params()
    shifted = copy.deepcopy(params)
    shifted["setup"]["first_seed"] = 100
    for name in study_config.EXPERIMENTS:
        for p in (params, shifted):
            p["setup"][name].update(seeds=2, n_test=5)
    base, moved = _config(params), _config(shifted)
    assert moved.experiments["diag_table1"].data_seeds == [100, 101]
    assert base.experiments["diag_table1"].data_seeds == [0, 1]
    a, b = data.generate(base), data.generate(moved)
    fresh = datasets.sparse_regression("public_code", 101, 80, 5, 200, 20)
    np.testing.assert_array_equal(b["diag_table1/x_train"][1], fresh["x_train"])
    assert not np.array_equal(a["diag_table1/x_train"], b["diag_table1/x_train"])
    shifted["setup"]["first_seed"] = -1
    with pytest.raises(ParamError, match="first_seed"):
        _config(shifted)
