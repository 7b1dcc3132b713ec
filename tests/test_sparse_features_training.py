"""Training of the sparse_features study beyond the SGD kernel: the compiled GD kernel against a
hand-computed step and the torch reference, the probe's record of every step that passed, reruns of
diverged probed runs at the next lower passing step, the ReLU net in float32, and the notebook's
printed small-step ReLU run (fc_nets_two_layer.ipynb, seed 0) reproduced to 3 digits."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import yaml
from conftest import REPO

from stages.common.params import Section
from stages.common.study import Execution
from stages.studies.sparse_features import config as study_config
from stages.studies.sparse_features import data as datasets
from stages.studies.sparse_features import diag_gd_kernel, diag_net, measurement, relu_net, training
from stages.studies.sparse_features.batched_snapshots import evaluation_steps

torch.set_num_threads(1)


def _params() -> dict:
    return yaml.safe_load((REPO / "params.yaml").read_text())["sparse_features"]


# ------------------------------------------------------------------------------------- GD kernel


def test_gd_kernel_one_step_by_hand():
    """d = 2, n = 2 examples x1 = (1, 0), x2 = (0, 2), y = (1, 2), u0 = 0.1·1, v0 = 0, step 0.5:
    r = (−1, −2), Xerr = Xᵀr = (−1, −4); u1 = u0 − 0.5·(Xerr ⊙ v0)/2 = 0.1,
    v1 = 0 − 0.5·(Xerr ⊙ u0)/2 = (0.025, 0.1); beta1 = u1 ⊙ v1 = (0.0025, 0.01)."""
    out = diag_gd_kernel.train(
        np.array([[[1.0, 0.0], [0.0, 2.0]]]),
        np.array([[1.0, 2.0]]),
        np.array([0]),
        np.full((1, 1), 0.5),
        np.array([0]),
        0.1,
        np.array([0, 1]),
        1e6,
    )
    np.testing.assert_allclose(out["beta"][0, 1], [0.0025, 0.01], rtol=1e-15)
    assert not out["diverged"][0]


def test_gd_kernel_agrees_with_the_torch_reference_and_flags_divergence():
    drawn = [datasets.sparse_regression("public_code", s, 20, 10, 30, 3) for s in range(3)]
    x, y = (np.stack([d[k] for d in drawn]) for k in ("x_train", "y_train"))
    steps = 400
    rates = np.full((steps, 3), 1.0)
    rates[:, 1] = 200.0  # run 1 blows up
    eval_steps = evaluation_steps(steps, 8)
    compiled = diag_gd_kernel.train(x, y, np.arange(3), rates, np.arange(3), 0.1, eval_steps, 1e6)
    reference = diag_net.train(x, y, rates, "gd", None, 0.1, eval_steps, 1e6)
    np.testing.assert_array_equal(compiled["diverged"], [False, True, False])
    np.testing.assert_array_equal(compiled["diverged_step"], reference["diverged_step"])
    alive = [0, 2]
    np.testing.assert_allclose(
        compiled["beta"][alive], reference["beta"][alive], rtol=1e-9, atol=1e-13
    )
    assert np.abs(compiled["beta"][alive, -1]).max() > 0.05, "training moved beta"
    again = diag_gd_kernel.train(x, y, np.arange(3), rates, np.arange(3), 0.1, eval_steps, 1e6)
    assert again["beta"].tobytes() == compiled["beta"].tobytes()


# ------------------------------------------------------------------- probe and reruns of diverged runs


@pytest.fixture(scope="module")
def small_table1():
    """diag_table1 at 3 data sets, 300 steps, a grid where the largest step diverges on some."""
    params = _params()
    params["setup"]["diag_table1"].update(seeds=3, n_test=5, steps=300, eval_points=6)
    params["setup"]["diag_table1"]["probe"].update(
        sgd_grid=[0.05, 0.2, 0.5], refine_rounds=2, sampling_seeds=2
    )
    config = study_config.parse(Section(params, "sparse_features"))
    setup = config.experiments["diag_table1"]
    data = datasets.unstack(
        datasets.stack([datasets.draw(setup, s) for s in setup.data_seeds], "diag_table1"),
        "diag_table1",
    )
    return config, setup, data


def test_the_probe_records_every_step_that_passed(small_table1):
    _, setup, data = small_table1
    chosen = training._probe_grid(setup, data, "sgd", setup.probe.grids["sgd"], 150)
    for s, passed in enumerate(chosen["passed_lr_per_seed"]):
        assert passed == sorted(passed, reverse=True)
        assert passed[0] == chosen["lr_per_seed"][s]  # the choice is the largest that passed
        grid_passed = [
            g
            for g, share in zip(
                setup.probe.grids["sgd"], np.asarray(chosen["diverged_share"])[:, s], strict=True
            )
            if share <= setup.probe.max_diverged_share
        ]
        assert set(grid_passed) <= set(passed)


def test_a_diverged_probed_run_is_rerun_at_the_next_lower_passed_step(small_table1):
    """Data set 1's probe chose 9.0 (far past its edge: it diverges) and passed 0.2 and 0.1 below
    it: the run is rerun at 0.2. Data set 2 diverges with nothing lower: it stays diverged."""
    config, setup, data = small_table1
    probe = {
        "diag_table1": {
            "sgd": {
                "lr_per_seed": [0.1, 9.0, 9.0],
                "passed_lr_per_seed": [[0.1], [9.0, 0.2, 0.1], [9.0]],
            }
        }
    }
    arrays = datasets.stack([datasets.draw(setup, s) for s in setup.data_seeds], "diag_table1")
    result = training.train(
        config, "t1_sgd_decay50", arrays, probe=probe, execution=Execution(), reads={}
    )
    out = result.arrays
    np.testing.assert_array_equal(out["large_step_reruns"], [0, 1, 0])
    np.testing.assert_array_equal(out["diverged"], [False, False, True])
    np.testing.assert_allclose(out["lr_large"], [0.1, 0.2, 9.0])
    assert result.runs == 3 + 1 and result.run_steps == 4 * setup.steps
    # the rerun is the run at 0.2 on the same data and order, bit for bit
    direct = training.train(
        config,
        "t1_sgd_decay50",
        arrays,
        probe={
            "diag_table1": {
                "sgd": {"lr_per_seed": [0.1, 0.2, 0.1], "passed_lr_per_seed": [[0.1]] * 3}
            }
        },
        execution=Execution(),
        reads={},
    ).arrays
    assert out["beta"][1].tobytes() == direct["beta"][1].tobytes()
    assert out["beta"][0].tobytes() == direct["beta"][0].tobytes()
    frame = measurement.measure(config, "t1_sgd_decay50", arrays, out, reads={})
    reruns = frame[frame.metric == "large_step_reruns"].set_index("seed")["value"]
    assert reruns.tolist() == [0.0, 1.0, 0.0]


# ------------------------------------------------------------------------------------ ReLU net


def test_relu_training_in_float32_stays_close_to_float64():
    drawn = [datasets.teacher_student("public_code", s, 15, 10, 2, 3) for s in range(2)]
    x, y = (np.stack([d[k] for d in drawn]) for k in ("x_train", "y_train"))
    order = training.sampling_indices("public_code", [0, 1], 15, 200, "choice_without_replacement")
    initial = 0.5 * np.random.default_rng(0).standard_normal((2, 20, 2))
    eval_steps = evaluation_steps(200, 6)
    rates = np.full(200, 0.1)
    single = relu_net.train(x, y, rates, order, initial, eval_steps, 1e6, dtype=torch.float32)
    double = relu_net.train(x, y, rates, order, initial, eval_steps, 1e6, dtype=torch.float64)
    assert np.array_equal(single["hidden"].astype(np.float32), single["hidden"])  # float32 values
    assert not np.array_equal(single["hidden"], double["hidden"])
    np.testing.assert_allclose(single["hidden"], double["hidden"], rtol=1e-4, atol=1e-5)


def test_the_notebooks_small_step_relu_run_to_three_digits():
    """fc_nets_two_layer.ipynb cell 1, seed 0, SGD 0.13 constant, batch 1, float32, losses after
    14032 steps: "train loss 1.353839979856275e-05, test loss 0.000609822163823992"."""
    params = _params()
    params["setup"]["relu_net"].update(seeds=1)
    params["variants"]["relu_net"] = {
        "notebook_small": {"optimizer": "sgd", "schedule": {"kind": "constant", "lr": 0.13}}
    }
    config = study_config.parse(Section(params, "sparse_features"))
    setup = config.experiments["relu_net"]
    arrays = datasets.stack([datasets.draw(setup, 0)], "relu_net")
    run = training.train(
        config, "notebook_small", arrays, probe=None, execution=Execution(), reads={}
    ).arrays
    assert setup.steps == 14032 and setup.precision == "float32"
    frame = measurement.measure(config, "notebook_small", arrays, run, reads={})
    last = frame[(frame.step == 14032) & (frame.seed == 0)].set_index("metric")["value"]
    assert f"{last['train_loss_mse']:.3g}" == "1.35e-05"
    assert f"{last['test_loss_mse']:.3g}" == "0.00061"
