"""The perturbation mechanism and the divergence measures of float_instability (perturbed_sgd.py,
copy_divergence.py, and the spread of checks.py): known answers, the k = 1 identity and the one-ulp
size of the k-scaled step."""

import numpy as np
import pytest
import torch

from stages.studies.float_instability.checks import spread_across, spread_ratio
from stages.studies.float_instability.copy_divergence import (
    bitwise_identical,
    prediction_disagreement,
    relative_weight_difference,
)
from stages.studies.float_instability.measurement import disagreement_across_seeds
from stages.studies.float_instability.perturbed_sgd import (
    PerturbedNesterovSGD,
    check_perturbation,
    scaled_update_,
    scaled_update_per_copy_,
)

torch.set_num_threads(1)


def vectors(dtype=torch.float32):
    generator = torch.Generator().manual_seed(0)
    return torch.randn(5000, generator=generator, dtype=dtype), torch.randn(
        5000, generator=generator, dtype=dtype
    )


def test_k1_is_bitwise_the_plain_step():
    param, direction = vectors()
    scaled = param.clone()
    scaled_update_(scaled, direction, 0.1, 1)
    assert bitwise_identical(scaled.numpy(), (param - direction * 0.1).numpy())


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("k", [3, 5, 11])
def test_odd_k_moves_some_entries_by_about_one_ulp(k, dtype):
    param, direction = vectors(dtype)
    plain, scaled = param.clone(), param.clone()
    scaled_update_(plain, direction, 0.1, 1)
    scaled_update_(scaled, direction, 0.1, k)
    changed = plain != scaled
    assert 0 < changed.sum() < len(param)  # a fraction of the entries, not none and not all
    rounding = torch.finfo(dtype).eps * (
        plain.abs() + 0.1 * direction.abs()
    )  # an ulp of either term
    assert ((plain - scaled).abs() <= 2 * rounding).all()


@pytest.mark.parametrize("k", [0, 2, 4, -3, 1.0, True])
def test_even_or_non_integer_k_is_refused(k):
    with pytest.raises(ValueError):
        check_perturbation(k)


def test_nesterov_steps_known_answers():
    """L = 2θ (gradient 2), μ = 0.5, lr = 0.1 from θ = 1: b = 2, d = 3 → θ = 0.7; b = 3, d = 3.5 → θ = 0.35.
    With weight decay 0.5 and no loss from θ = 1: g = 0.5, b = 0.5, d = 0.75 → θ = 0.925."""
    theta = torch.tensor([1.0], dtype=torch.float64, requires_grad=True)
    optimizer = PerturbedNesterovSGD([theta], momentum=0.5, weight_decay=0.0, ks=[1])
    for expected in (0.7, 0.35):
        optimizer.zero_grad()
        (2 * theta).sum().backward()
        optimizer.step(0.1)
        assert float(theta.detach()) == pytest.approx(expected, abs=1e-15)
    decayed = torch.tensor([1.0], dtype=torch.float64, requires_grad=True)
    optimizer = PerturbedNesterovSGD([decayed], momentum=0.5, weight_decay=0.5, ks=[3])
    (0 * decayed).sum().backward()
    optimizer.step(0.1)
    assert float(decayed.detach()) == pytest.approx(0.925, abs=1e-15)


@pytest.mark.parametrize("channels_last", [False, True])
def test_the_per_copy_step_is_each_copys_own_scaled_step_bit_for_bit(channels_last):
    """Copies side by side along the leading axis, each with its k: the same bits as
    `scaled_update_` on each copy alone, in any memory layout."""
    ks, lr = [1, 1, 3, 5, 11], 0.07
    generator = torch.Generator().manual_seed(0)
    param = torch.randn(len(ks) * 4, 3, 3, 3, generator=generator)
    direction = torch.randn(param.shape, generator=generator)
    if channels_last:
        param = param.contiguous(memory_format=torch.channels_last)
        direction = direction.contiguous(memory_format=torch.channels_last)
    expected = [param[4 * c : 4 * (c + 1)].clone() for c in range(len(ks))]
    for c, k in enumerate(ks):
        scaled_update_(expected[c], direction[4 * c : 4 * (c + 1)], lr, k)
    scaled_update_per_copy_(param, direction, lr, ks)
    for c in range(len(ks)):
        assert bitwise_identical(param[4 * c : 4 * (c + 1)].numpy(), expected[c].numpy())
    with pytest.raises(ValueError):
        PerturbedNesterovSGD([torch.zeros(7)], momentum=0.9, weight_decay=0.0, ks=[1, 3])


def test_relative_weight_difference_known_answers():
    w = np.array([1.0, -2.0, 0.0])
    assert relative_weight_difference(w, w) == 0.0
    assert relative_weight_difference(w[:2], -w[:2]) == 2.0
    assert relative_weight_difference([1.0, 0.0], [3.0, 0.0]) == pytest.approx(
        0.5
    )  # (2·2/4 + 0) / 2
    with pytest.raises(ValueError):
        relative_weight_difference([1.0], [1.0, 2.0])


def test_disagreement_across_seeds_is_the_mean_over_the_other_seeds():
    predictions = np.array([[0, 0, 0, 0], [0, 0, 1, 1], [1, 1, 1, 1]])  # pairwise: 0.5, 1, 0.5
    assert disagreement_across_seeds(predictions).tolist() == [0.75, 0.5, 0.75]
    assert np.isnan(disagreement_across_seeds(predictions[:1])).all()


def test_prediction_disagreement_and_spreads():
    assert prediction_disagreement([1, 2, 3, 4], [1, 2, 0, 0]) == 0.5
    grid = np.array([[0.0, 1.0], [0.0, 1.0]])  # seeds × perturbations
    assert spread_across(grid, axis=1) == 0.5  # population std of (0, 1)
    assert spread_across(grid, axis=0) == 0.0
    with pytest.raises(ValueError):
        spread_across(np.ones((1, 3)), axis=0)


def test_spread_ratio_is_the_ratio_of_the_two_spreads_per_resample():
    grid = np.array(
        [[0.0, 1.0], [2.0, 2.0]]
    )  # across copies: (0.5 + 0) / 2; across seeds: (1 + 0.5) / 2
    stack = np.stack([grid, grid[[0, 0]], np.full((2, 2), 3.0)])
    ratio = spread_ratio(stack)
    assert ratio[0] == pytest.approx(spread_across(grid, axis=1) / spread_across(grid, axis=0))
    assert ratio[0] == pytest.approx(0.25 / 0.75)
    assert ratio[1] == np.inf  # one seed drawn twice: no spread across seeds, some across copies
    assert np.isnan(ratio[2])  # no spread at all
    assert np.isnan(spread_ratio(np.array([[[1.0, -np.inf], [2.0, 3.0]]]))[0])  # a lost entry


def test_bitwise_identity_sees_signed_zero_and_dtype():
    assert bitwise_identical(np.array([0.0, 1.0]), np.array([0.0, 1.0]))
    assert not bitwise_identical(np.array([0.0]), np.array([-0.0]))
    assert not bitwise_identical(np.array([1.0]), np.array([1.0], dtype=np.float32))
