"""Numerics of the sparse_features study: gradients against autograd, the sparsity measures on
hand-built matrices, the public-code data recipe, batched training and divergence handling."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from stages.studies.sparse_features import data as datasets
from stages.studies.sparse_features import diag_net, relu_net
from stages.studies.sparse_features.batched_snapshots import evaluation_steps
from stages.studies.sparse_features.public_code_draws import student_hidden_public_code
from stages.studies.sparse_features.sparsity import (
    effective_nonzeros,
    feature_sparsity_coefficient,
    nonzeros_paper,
    normalised_features,
)
from stages.studies.sparse_features.training import sampling_indices

torch.set_num_threads(1)

# ------------------------------------------------------------------------------------- gradients


@pytest.mark.parametrize("runs, batch", [(3, 7), (2, 1), (1, 20)])
def test_diag_net_gradients_match_autograd(runs, batch):
    generator = torch.Generator().manual_seed(runs * 100 + batch)
    dim = 11
    u = torch.randn(runs, dim, dtype=torch.float64, generator=generator).requires_grad_()
    v = torch.randn(runs, dim, dtype=torch.float64, generator=generator).requires_grad_()
    inputs = torch.randn(runs, batch, dim, dtype=torch.float64, generator=generator)
    targets = torch.randn(runs, batch, dtype=torch.float64, generator=generator)
    # L_r = mean_b ½(<u_r ⊙ v_r, x_rb> − y_rb)²; runs are independent, so grad of the sum is per run
    loss = (0.5 * ((inputs * (u * v)[:, None, :]).sum(-1) - targets) ** 2).mean(dim=1).sum()
    expected_u, expected_v = torch.autograd.grad(loss, (u, v))
    grad_u, grad_v = diag_net.diag_net_gradients(u.detach(), v.detach(), inputs, targets)
    assert grad_u.shape == (runs, dim) and grad_v.shape == (runs, dim)
    torch.testing.assert_close(grad_u, expected_u, rtol=1e-12, atol=1e-13)
    torch.testing.assert_close(grad_v, expected_v, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("runs, batch", [(3, 6), (2, 1)])
def test_relu_net_gradients_match_autograd(runs, batch):
    generator = torch.Generator().manual_seed(7 + runs * 10 + batch)
    width, dim = 9, 4
    hidden = torch.randn(
        runs, width, dim, dtype=torch.float64, generator=generator
    ).requires_grad_()
    output = torch.randn(runs, width, dtype=torch.float64, generator=generator).requires_grad_()
    inputs = torch.randn(runs, batch, dim, dtype=torch.float64, generator=generator)
    targets = torch.randn(runs, batch, dtype=torch.float64, generator=generator)
    # f(x) = Σ_j a_j ReLU(<w_j, x>), L_r = mean_b (f(x_rb) − y_rb)² (no ½)
    predictions = (
        torch.relu(torch.einsum("rmd,rbd->rbm", hidden, inputs)) * output[:, None, :]
    ).sum(-1)
    loss = ((predictions - targets) ** 2).mean(dim=1).sum()
    expected_hidden, expected_output = torch.autograd.grad(loss, (hidden, output))
    grad_hidden, grad_output = relu_net.gradients(hidden.detach(), output.detach(), inputs, targets)
    assert grad_hidden.shape == (runs, width, dim) and grad_output.shape == (runs, width)
    torch.testing.assert_close(grad_hidden, expected_hidden, rtol=1e-12, atol=1e-13)
    torch.testing.assert_close(grad_output, expected_output, rtol=1e-12, atol=1e-13)


def test_relu_net_gradient_of_dead_neurons_is_zero():
    hidden = torch.tensor(
        [[[1.0, 0.0], [-1.0, 0.0]]], dtype=torch.float64
    )  # neuron 1 dead on x = (1, 0)
    output = torch.tensor([[0.5, 2.0]], dtype=torch.float64)
    grad_hidden, grad_output = relu_net.gradients(
        hidden,
        output,
        torch.tensor([[[1.0, 0.0]]], dtype=torch.float64),
        torch.tensor([[0.0]], dtype=torch.float64),
    )
    # residual r = 0.5, grad_a = 2 r ReLU(Wx) = (1, 0), grad_W = 2 r (a ⊙ 1[Wx > 0]) xᵀ
    torch.testing.assert_close(grad_output, torch.tensor([[1.0, 0.0]], dtype=torch.float64))
    torch.testing.assert_close(
        grad_hidden, torch.tensor([[[0.5, 0.0], [0.0, 0.0]]], dtype=torch.float64)
    )


# -------------------------------------------------------------------------------------- sparsity


def test_identical_duplicate_columns_count_once():
    column = np.array([0.9, 0.0, 0.5, 0.2, 0.0, 0.7])
    other = np.array([0.0, 0.8, 0.1, 0.0, 0.6, 0.3])
    single = np.stack([column, other], axis=1)
    tripled = np.stack([column, other, column, column], axis=1)
    # kept: one copy of `column` (4 non-zeros) and `other` (4 non-zeros), over all n·m entries
    assert feature_sparsity_coefficient(single) == pytest.approx(8 / 12)
    assert feature_sparsity_coefficient(tripled) == pytest.approx(8 / 24)
    scaled = np.stack([column, other, 3.0 * column], axis=1)  # correlation 1, not equal
    assert feature_sparsity_coefficient(scaled) == pytest.approx(8 / 18)


def test_dead_neuron_is_dropped():
    column = np.array([0.9, 0.0, 0.5, 0.2])
    other = np.array([0.0, 0.8, 0.1, 0.0])
    alive = np.stack([column, other], axis=1)
    with_dead = np.stack([column, np.zeros(4), other], axis=1)
    assert feature_sparsity_coefficient(alive) == pytest.approx(5 / 8)
    assert feature_sparsity_coefficient(with_dead) == pytest.approx(5 / 12)


def test_dead_network_scores_zero():
    assert feature_sparsity_coefficient(np.zeros((15, 20))) == 0.0


def test_single_active_neuron():
    features = np.zeros((5, 3))
    features[[0, 3], 1] = [0.4, 1.0]
    assert feature_sparsity_coefficient(features) == pytest.approx(2 / 15)


def test_feature_sparsity_hand_computed_matrix():
    # columns: c0 and c1 = 2·c0 (duplicate: c0 is dropped, c1 kept), c2 independent, c3 dead
    features = np.array(
        [
            [1.0, 2.0, 0.0, 0.0],
            [0.0, 0.0, 1.0, 0.0],
            [1.0, 2.0, 1.0, 0.0],
            [0.0, 0.0, 1.0, 0.0],
        ]
    )
    # |corr(c0, c2)| = 1/sqrt(3) < 0.99; kept c1 (2 non-zeros) and c2 (3 non-zeros): 5 / 16
    assert feature_sparsity_coefficient(features) == pytest.approx(5 / 16)
    # a lower threshold merges c2 with c0/c1 as well, leaving one column
    assert feature_sparsity_coefficient(features, correlation_threshold=0.5) == pytest.approx(
        3 / 16
    )


def test_effective_nonzeros():
    for k in (1, 2, 3, 7):
        beta = np.zeros(30)
        beta[:k] = 0.37
        assert effective_nonzeros(beta) == pytest.approx(k, rel=1e-12)
    single = np.zeros(30)
    single[4] = -2.5
    assert effective_nonzeros(single) == pytest.approx(1.0)
    assert effective_nonzeros(np.array([1.0, -1.0, 1.0, -1.0])) == pytest.approx(4.0)
    assert np.isnan(effective_nonzeros(np.zeros(30)))
    assert np.isnan(effective_nonzeros(np.array([np.nan, 1.0])))
    batched = effective_nonzeros(
        np.array([[[1.0, 1.0, 0.0], [0.0, 0.0, 0.0]], [[2.0, 0.0, 0.0], [1.0, 1.0, 1.0]]])
    )
    np.testing.assert_allclose(batched, [[2.0, np.nan], [1.0, 3.0]])
    assert 1.0 < effective_nonzeros(np.array([1.0, 0.1, 0.0])) < 2.0


def test_nonzeros_paper_counts_above_1e_minus_50():
    beta = np.array([[1e-49, 1e-51, 0.0, -1.0], [np.nan, 1.0, 1.0, 1.0]])
    np.testing.assert_array_equal(nonzeros_paper(beta), [2.0, np.nan])


def test_normalised_features_have_unit_rows_and_zero_rows_stay_zero():
    rng = np.random.default_rng(0)
    hidden = rng.standard_normal((6, 2))
    inputs = rng.standard_normal((9, 2))
    inputs[4] = 0.0  # no neuron can be active on a zero input
    hidden_dead_row = np.array([[1.0, 0.0], [2.0, 0.0]])  # both neurons inactive when x_1 < 0
    features = normalised_features(hidden, inputs)
    assert features.shape == (9, 6) and (features >= 0).all()
    norms = np.linalg.norm(features, axis=1)
    np.testing.assert_allclose(np.delete(norms, 4), 1.0, rtol=1e-12)
    assert (features[4] == 0).all()
    dead = normalised_features(hidden_dead_row, np.array([[-1.0, 0.3], [1.0, 0.0]]))
    assert (dead[0] == 0).all() and not np.isnan(dead).any()
    np.testing.assert_allclose(dead[1], [1 / np.sqrt(5), 2 / np.sqrt(5)])


# ------------------------------------------------------------------------------------------- data


def test_public_code_recipe_reproduces_the_notebook_draw():
    n, n_test, d, r = 20, 1000, 30, 3
    np.random.seed(0)
    x = np.random.multivariate_normal(np.zeros(d), np.eye(d), n)
    x_test = np.random.multivariate_normal(np.zeros(d), np.eye(d), n_test)
    theta = np.random.randn(d)
    theta[r:] = 0
    theta = np.abs(theta) / np.linalg.norm(theta)
    drawn = datasets.sparse_regression("public_code", 0, n, n_test, d, r)
    np.testing.assert_array_equal(drawn["x_train"], x)
    np.testing.assert_array_equal(drawn["x_test"], x_test)
    np.testing.assert_array_equal(drawn["beta_star"], theta)
    np.testing.assert_array_equal(drawn["y_train"], x @ theta)
    np.testing.assert_array_equal(drawn["y_test"], x_test @ theta)
    assert np.count_nonzero(drawn["beta_star"]) == r and (drawn["beta_star"] >= 0).all()


def test_public_code_sgd_order_matches_per_step_randint():
    np.random.seed(2)
    notebook = [np.random.randint(20) for _ in range(500)]
    ours = sampling_indices("public_code", [2, 3], 20, 500)
    assert ours.shape == (500, 2)
    np.testing.assert_array_equal(ours[:, 0], notebook)


def test_generator_recipe_differs_by_seed_and_keeps_the_law():
    a = datasets.sparse_regression("generator", 0, 20, 50, 30, 3)
    b = datasets.sparse_regression("generator", 1, 20, 50, 30, 3)
    assert not np.array_equal(a["x_train"], b["x_train"])
    for drawn in (a, b):
        assert np.linalg.norm(drawn["beta_star"]) == pytest.approx(1.0)
        assert np.count_nonzero(drawn["beta_star"]) == 3


def test_teacher_student_shapes_and_norms():
    for recipe, rtol in (("public_code", 1e-6), ("generator", 1e-12)):  # float32 / float64 values
        drawn = datasets.teacher_student(recipe, 0, 15, 100, 2, 3)
        np.testing.assert_allclose(np.linalg.norm(drawn["x_train"], axis=1), 1.0, rtol=rtol)
        np.testing.assert_allclose(np.linalg.norm(drawn["teacher_hidden"], axis=1), 1.0, rtol=rtol)
        assert set(np.abs(drawn["teacher_output"])) == {1.0}
        hidden, output = drawn["teacher_hidden"], drawn["teacher_output"]
        expected = np.maximum(drawn["x_test"] @ hidden.T, 0) @ output
        np.testing.assert_allclose(drawn["y_test"], expected, rtol=rtol, atol=1e-7)
    # the public code's inputs: np.random.seed(seed + 1), multivariate_normal, cast to float32,
    # rows normalised in float32 (torch's rounding there; the labels test pins the exact values)
    np.random.seed(1)
    x = np.random.multivariate_normal(np.zeros(2), np.eye(2), 15).astype(np.float32)
    x = x / np.sqrt((x**2).sum(axis=1, keepdims=True))
    public = datasets.teacher_student("public_code", 0, 15, 100, 2, 3)
    np.testing.assert_allclose(public["x_train"], x, rtol=2e-7)
    assert np.array_equal(public["x_train"].astype(np.float32), public["x_train"])


def test_public_code_relu_data_is_the_notebooks():
    """fc_nets_two_layer.ipynb cell 1 prints the labels of its seed (utils.py prints y[:20, 0]):
    tensor([ 0.9664, -0.5862,  0.4440,  0.9520,  0.8456,  0.6576, -1.0138,  0.7839, -0.2553,
    -0.2928, -1.5520,  0.8203,  0.8531, -0.1936, -1.1354])."""
    printed = [0.9664, -0.5862, 0.4440, 0.9520, 0.8456, 0.6576, -1.0138, 0.7839]
    printed += [-0.2553, -0.2928, -1.5520, 0.8203, 0.8531, -0.1936, -1.1354]
    drawn = datasets.teacher_student("public_code", 0, 15, 1000, 2, 3)
    np.testing.assert_array_equal(np.round(drawn["y_train"], 4), printed)
    assert drawn["y_train"].dtype == np.float64
    assert np.array_equal(drawn["y_train"].astype(np.float32), drawn["y_train"])  # float32 values


def test_public_code_student_is_torchs_linear_initialisation_then_gaussian():
    """The notebook seeds torch, builds FCNet2Layers (two bias-free nn.Linear layers) and overwrites
    the first layer with 0.5 * randn_like: the same draws from a generator of our own."""
    torch.manual_seed(3)
    first = torch.nn.Linear(2, 20, bias=False)
    torch.nn.Linear(20, 1, bias=False)
    expected = (0.5 * torch.randn_like(first.weight)).detach().double().numpy()
    np.testing.assert_array_equal(student_hidden_public_code(3, 20, 2, 0.5), expected)


def test_public_code_relu_order_is_choice_without_replacement():
    np.random.seed(5)
    notebook = [np.random.choice(15, size=1, replace=False)[0] for _ in range(300)]
    ours = sampling_indices("public_code", [5, 6], 15, 300, "choice_without_replacement")
    assert ours.shape == (300, 2)
    np.testing.assert_array_equal(ours[:, 0], notebook)
    assert not np.array_equal(ours[:, 0], sampling_indices("public_code", [5], 15, 300)[:, 0])
    with pytest.raises(ValueError, match="draw"):
        sampling_indices("public_code", [5], 15, 10, "shuffle")


# --------------------------------------------------------------------------------------- training

STEPS = 200


@pytest.fixture(scope="module")
def three_data_sets():
    drawn = [datasets.sparse_regression("public_code", seed, 20, 10, 30, 3) for seed in range(3)]
    stacked = datasets.unstack(datasets.stack(drawn, "diag_net"), "diag_net")
    order = sampling_indices("public_code", [2, 3, 4], 20, STEPS)
    return stacked["x_train"], stacked["y_train"], order


def test_evaluation_steps():
    for total, points in ((300, 8), (10000, 60), (10001, 60), (1, 2), (5, 60), (14000, 3)):
        steps = evaluation_steps(total, points)
        assert steps.dtype == np.int64
        assert steps[0] == 0 and steps[-1] == total
        assert (np.diff(steps) > 0).all(), "sorted and unique"
        assert (steps >= 0).all() and (steps <= total).all()
    assert 1 in evaluation_steps(10000, 60), "the log-spaced part resolves the first steps"


@pytest.mark.parametrize("optimizer", ["sgd", "gd"])
def test_batched_training_equals_one_run_at_a_time(three_data_sets, optimizer):
    x, y, order = three_data_sets
    rates = np.full(STEPS, 0.1)
    eval_steps = evaluation_steps(STEPS, 8)
    indices = order if optimizer == "sgd" else None
    batched = diag_net.train(x, y, rates, optimizer, indices, 0.1, eval_steps, 1e6)
    assert batched["beta"].shape == (3, len(eval_steps), 30)
    assert not batched["diverged"].any() and (batched["diverged_step"] == -1).all()
    for run in range(3):
        alone = diag_net.train(
            x[run : run + 1],
            y[run : run + 1],
            rates,
            optimizer,
            None if indices is None else indices[:, run : run + 1],
            0.1,
            eval_steps,
            1e6,
        )
        np.testing.assert_allclose(batched["beta"][run], alone["beta"][0], rtol=1e-12, atol=1e-14)
    # the runs really differ (different data and orders), and training moved beta away from u0 ⊙ v0 = 0
    assert not np.allclose(batched["beta"][0, -1], batched["beta"][1, -1])
    assert (batched["beta"][:, 0] == 0).all() and np.abs(batched["beta"][:, -1]).max() > 0.1


def test_a_huge_step_diverges_alone(three_data_sets):
    x, y, order = three_data_sets
    rates = np.full((STEPS, 3), 0.1)
    rates[:, 1] = 50.0  # run 1 blows up; runs 0 and 2 are ordinary
    eval_steps = evaluation_steps(STEPS, 8)
    out = diag_net.train(x, y, rates, "sgd", order, 0.1, eval_steps, 1e6)
    np.testing.assert_array_equal(out["diverged"], [False, True, False])
    step = out["diverged_step"][1]
    assert step in eval_steps and step > 0
    assert out["diverged_step"][0] == out["diverged_step"][2] == -1
    after = eval_steps >= step
    assert np.isnan(out["beta"][1][after]).all(), "snapshots from the divergence on are NaN"
    assert np.isfinite(out["beta"][1][~after]).all(), "snapshots before it are kept"
    for run in (0, 2):
        alone = diag_net.train(
            x[run : run + 1],
            y[run : run + 1],
            rates[:, run],
            "sgd",
            order[:, run : run + 1],
            0.1,
            eval_steps,
            1e6,
        )
        np.testing.assert_allclose(out["beta"][run], alone["beta"][0], rtol=1e-12, atol=1e-14)
        assert np.isfinite(out["beta"][run]).all()


def test_relu_training_batched_equals_single_and_flags_divergence():
    drawn = [datasets.teacher_student("public_code", seed, 15, 10, 2, 3) for seed in range(2)]
    x = np.stack([d["x_train"] for d in drawn])
    y = np.stack([d["y_train"] for d in drawn])
    order = sampling_indices("public_code", [2, 3], 15, 150)
    initial = 0.5 * np.random.default_rng(0).standard_normal((2, 20, 2))
    eval_steps = evaluation_steps(150, 6)
    rates = np.full((150, 2), 0.1)
    rates[:, 1] = 1e3
    out = relu_net.train(x, y, rates, order, initial, eval_steps, 1e6)
    np.testing.assert_array_equal(out["diverged"], [False, True])
    assert np.isnan(out["hidden"][1, -1]).all() and np.isnan(out["output"][1, -1]).all()
    alone = relu_net.train(x[:1], y[:1], rates[:, 0], order[:, :1], initial[:1], eval_steps, 1e6)
    np.testing.assert_allclose(out["hidden"][0], alone["hidden"][0], rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(out["output"][0], alone["output"][0], rtol=1e-12, atol=1e-14)
