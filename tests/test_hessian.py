"""Known answers for stages/common/hessian.py: a quadratic with a chosen spectrum, and a tiny
network checked against the full Hessian of torch.autograd.functional.hessian."""

import numpy as np
import pytest
import torch

from stages.common.hessian import (
    HessianAt,
    dense_hessian,
    exact_trace,
    hessian_vector_product,
    hutchinson_trace,
    sharpness_gradient,
    top_eigenpairs,
)

torch.set_num_threads(1)


def quadratic_with_spectrum(spectrum, seed=0):
    """L(θ) = ½ θᵀ Q diag(spectrum) Qᵀ θ with a random orthogonal Q: H = Q diag(spectrum) Qᵀ."""
    rng = np.random.default_rng(seed)
    basis, _ = np.linalg.qr(rng.standard_normal((len(spectrum), len(spectrum))))
    matrix = torch.as_tensor(basis @ np.diag(spectrum) @ basis.T)
    return (lambda theta: 0.5 * theta @ matrix @ theta), matrix, basis


def tiny_network_loss(seed=0):
    """A 3-4-2 tanh net on 5 examples, half square loss, float64: 26 parameters."""
    generator = torch.Generator().manual_seed(seed)
    inputs = torch.randn(5, 3, generator=generator, dtype=torch.float64)
    targets = torch.randn(5, 2, generator=generator, dtype=torch.float64)

    def loss(theta):
        w1, b1 = theta[:12].view(4, 3), theta[12:16]
        w2, b2 = theta[16:24].view(2, 4), theta[24:26]
        outputs = torch.tanh(inputs @ w1.T + b1) @ w2.T + b2
        return 0.5 * (outputs - targets).pow(2).sum(dim=1).mean()

    theta = torch.randn(26, generator=generator, dtype=torch.float64)
    return loss, theta


def test_quadratic_top_two_eigenvalues_and_vectors():
    spectrum = np.array(
        [7.0, 6.5, 3.0, 1.0, 0.0, -2.0, -9.0, 0.5]
    )  # |−9| > 7: 'LA' must not pick it
    loss, _, basis = quadratic_with_spectrum(spectrum)
    eigen = top_eigenpairs(
        HessianAt(loss, torch.zeros(8, dtype=torch.float64)), k=2, tolerance=1e-10
    )
    np.testing.assert_allclose(eigen.values, [7.0, 6.5], rtol=1e-8)
    assert abs(abs(eigen.top_vector @ basis[:, 0]) - 1) < 1e-8
    assert eigen.second == pytest.approx(6.5)


def test_warm_start_from_the_answer_takes_fewer_products():
    spectrum = np.linspace(0.0, 5.0, 60)
    loss, _, basis = quadratic_with_spectrum(spectrum, seed=1)
    theta = torch.zeros(60, dtype=torch.float64)
    cold = top_eigenpairs(HessianAt(loss, theta), k=2, tolerance=1e-8)
    warm = top_eigenpairs(
        HessianAt(loss, theta), k=2, warm_start=basis[:, -1] + 1e-3 * basis[:, 0], tolerance=1e-8
    )
    np.testing.assert_allclose(warm.values, cold.values, rtol=1e-8)
    assert warm.products < cold.products


def test_quadratic_trace_exact_and_hutchinson_error():
    spectrum = np.array([4.0, 3.0, 2.0, 1.0, -1.0, 0.5])
    loss, matrix, _ = quadratic_with_spectrum(spectrum)
    hessian = HessianAt(loss, torch.zeros(6, dtype=torch.float64))
    assert exact_trace(hessian) == pytest.approx(spectrum.sum(), abs=1e-10)
    estimate = hutchinson_trace(hessian, probes=400, seed=0)
    off_diagonal = float((matrix**2).sum() - (torch.diagonal(matrix) ** 2).sum())
    assert estimate.standard_error == pytest.approx(np.sqrt(2 * off_diagonal / 400), rel=0.25)
    assert abs(estimate.value - spectrum.sum()) < 4 * estimate.standard_error


def test_hutchinson_is_exact_for_a_diagonal_hessian():
    diagonal = torch.tensor([3.0, -1.0, 0.25], dtype=torch.float64)
    hessian = HessianAt(
        lambda theta: 0.5 * (diagonal * theta * theta).sum(), torch.ones(3, dtype=torch.float64)
    )
    estimate = hutchinson_trace(hessian, probes=5, seed=3)
    assert estimate.value == pytest.approx(2.25) and estimate.standard_error == pytest.approx(
        0.0, abs=1e-12
    )


def test_tiny_network_hvp_lanczos_and_trace_match_the_full_hessian():
    loss, theta = tiny_network_loss()
    full = dense_hessian(loss, theta)
    assert torch.allclose(full, full.T, atol=1e-12)
    vector = torch.randn(26, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    assert torch.allclose(hessian_vector_product(loss, theta, vector), full @ vector, atol=1e-12)
    expected = np.linalg.eigvalsh(full.numpy())[::-1]
    eigen = top_eigenpairs(HessianAt(loss, theta), k=2, tolerance=1e-12)
    np.testing.assert_allclose(eigen.values, expected[:2], rtol=1e-8)
    assert exact_trace(HessianAt(loss, theta)) == pytest.approx(float(torch.trace(full)), abs=1e-10)


def test_sharpness_gradient_matches_finite_differences():
    loss, theta = tiny_network_loss(seed=2)

    def sharpness(point):
        return float(np.linalg.eigvalsh(dense_hessian(loss, point).numpy())[-1])

    top = top_eigenpairs(HessianAt(loss, theta), k=2, tolerance=1e-12)
    gradient = sharpness_gradient(loss, theta, torch.as_tensor(top.top_vector))
    direction = torch.randn(26, generator=torch.Generator().manual_seed(7), dtype=torch.float64)
    direction /= direction.norm()
    h = 1e-5
    finite_difference = (sharpness(theta + h * direction) - sharpness(theta - h * direction)) / (
        2 * h
    )
    assert float(gradient @ direction) == pytest.approx(finite_difference, rel=1e-5, abs=1e-8)


def test_lanczos_rejects_k_as_large_as_the_problem():
    loss, _, _ = quadratic_with_spectrum(np.array([1.0, 2.0]))
    with pytest.raises(ValueError, match="k = 2"):
        top_eigenpairs(HessianAt(loss, torch.zeros(2, dtype=torch.float64)), k=2)
