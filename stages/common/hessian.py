"""Second- and third-order information of a loss L(θ) given as a function of one flat parameter vector.

Everything here works on `loss_of_flat: θ -> scalar tensor` with θ a 1-D tensor of P parameters, so
any model can use it by flattening its parameters (see `torch.nn.utils.parameters_to_vector`).

- Hessian-vector products by double backward (Pearlmutter 1994):  H v = ∇_θ (∇_θ L(θ) · v).
- Top-k eigenpairs of H by Lanczos (scipy's ARPACK `eigsh`, which='LA': the largest *algebraic*
  eigenvalues, since H has negative eigenvalues away from a minimum), warm-started from the previous
  top eigenvector. λ1 is the sharpness S of Cohen et al. (2021); λ2 comes with it so that a small
  eigengap λ1 − λ2 (where Lanczos may lock onto the wrong vector) is visible.
- tr H exactly as Σ_i e_iᵀ H e_i (P products, for small models) or by Hutchinson's estimator
  tr H = E[zᵀ H z], z Rademacher, with the standard error of the sample mean.
- The gradient of the sharpness along the top eigenvector: for a simple top eigenvalue with unit
  eigenvector u, ∇_θ S(θ) = ∇_θ (uᵀ H(θ) u) = D³L(θ)[u, u] (Damian et al. 2023; u is held
  fixed because uᵀ H du = S uᵀ du = 0 for unit u).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from scipy.sparse.linalg import LinearOperator, eigsh

LossOfFlat = Callable[[torch.Tensor], torch.Tensor]


class HessianAt:
    """The Hessian of `loss_of_flat` at θ as an operator: the gradient graph is built once and every
    product reuses it (one extra backward per product).

    matvec(v) = H(θ) v = ∇_θ (∇_θ L(θ) · v)   (double backward)
    """

    def __init__(self, loss_of_flat: LossOfFlat, theta: torch.Tensor):
        self.theta = theta.detach().clone().requires_grad_(True)
        self.loss = loss_of_flat(self.theta)
        (self.gradient,) = torch.autograd.grad(self.loss, self.theta, create_graph=True)
        self.size = self.theta.numel()
        self.products = 0  # Hessian-vector products taken (the cost unit of every estimate)

    def matvec(self, vector: torch.Tensor) -> torch.Tensor:
        self.products += 1
        (product,) = torch.autograd.grad(
            self.gradient, self.theta, grad_outputs=vector, retain_graph=True
        )
        return product.detach()

    def as_linear_operator(self) -> LinearOperator:
        """The operator in float64 NumPy, for scipy's solvers."""
        dtype = self.theta.dtype

        def product(vector: np.ndarray) -> np.ndarray:
            as_tensor = torch.as_tensor(np.ascontiguousarray(vector).reshape(-1), dtype=dtype)
            return self.matvec(as_tensor).to(torch.float64).numpy()

        return LinearOperator((self.size, self.size), matvec=product, dtype=np.float64)


def hessian_vector_product(
    loss_of_flat: LossOfFlat, theta: torch.Tensor, vector: torch.Tensor
) -> torch.Tensor:
    """H(θ) v by double backward, for a single product (use `HessianAt` for many at one θ)."""
    return HessianAt(loss_of_flat, theta).matvec(vector)


@dataclass(frozen=True)
class TopEigen:
    """The k largest algebraic eigenvalues (descending) and unit eigenvectors (columns) of H."""

    values: np.ndarray  # (k,) float64, values[0] = λ1 = sharpness S
    vectors: np.ndarray  # (P, k) float64
    products: int  # Hessian-vector products the solver took

    @property
    def sharpness(self) -> float:
        return float(self.values[0])

    @property
    def second(self) -> float:
        return float(self.values[1]) if len(self.values) > 1 else float("nan")

    @property
    def top_vector(self) -> np.ndarray:
        return self.vectors[:, 0]


def top_eigenpairs(
    hessian: HessianAt,
    k: int = 2,
    warm_start: np.ndarray | None = None,
    tolerance: float = 1e-6,
    seed: int = 0,
) -> TopEigen:
    """λ1 ≥ … ≥ λk of H and their eigenvectors by Lanczos (ARPACK implicitly restarted, which='LA').

    `warm_start` (e.g. the previous checkpoint's top eigenvector) is the Lanczos start vector v0;
    without it v0 is drawn from `seed`, so the result never depends on ARPACK's own random start.
    `tolerance` is ARPACK's relative accuracy of the Ritz values.
    """
    if not 1 <= k < hessian.size:
        raise ValueError(f"k = {k}: allowed: 1 <= k < number of parameters ({hessian.size})")
    if warm_start is None:
        warm_start = np.random.default_rng(seed).standard_normal(hessian.size)
    before = hessian.products
    values, vectors = eigsh(
        hessian.as_linear_operator(),
        k=k,
        which="LA",
        v0=np.asarray(warm_start, np.float64),
        tol=tolerance,
    )
    order = np.argsort(values)[::-1]
    vectors = vectors[:, order]
    # Fix each vector's sign (largest-magnitude entry positive) so results do not flip between calls.
    signs = np.sign(vectors[np.abs(vectors).argmax(axis=0), np.arange(k)])
    return TopEigen(
        values[order], vectors * np.where(signs == 0, 1.0, signs), hessian.products - before
    )


def dense_hessian(loss_of_flat: LossOfFlat, theta: torch.Tensor) -> torch.Tensor:
    """The full P×P Hessian (reference answers and the benchmark; O(P²) memory)."""
    return torch.autograd.functional.hessian(loss_of_flat, theta.detach())


def exact_trace(hessian: HessianAt) -> float:
    """tr H = Σ_i e_iᵀ H e_i over the P basis vectors (P products: small models only)."""
    basis = torch.zeros(hessian.size, dtype=hessian.theta.dtype)
    total = 0.0
    for index in range(hessian.size):
        basis[index] = 1.0
        total += float(hessian.matvec(basis)[index])
        basis[index] = 0.0
    return total


@dataclass(frozen=True)
class TraceEstimate:
    """Hutchinson's tr H ≈ mean_j z_jᵀ H z_j with its standard error std_j/√m over m probes."""

    value: float
    standard_error: float
    probes: int


def hutchinson_trace(hessian: HessianAt, probes: int, seed: int) -> TraceEstimate:
    """tr H = E[zᵀ H z] for z with independent ±1 entries (Hutchinson 1989). The variance of one
    probe is 2 Σ_{i≠j} H_ij², so the estimate is exact for a diagonal H."""
    if probes < 2:
        raise ValueError(f"probes = {probes}: allowed: >= 2 (the standard error needs two)")
    generator = torch.Generator().manual_seed(seed)
    samples = []
    for _ in range(probes):
        z = (
            torch.randint(0, 2, (hessian.size,), generator=generator).to(hessian.theta.dtype) * 2
            - 1
        )
        samples.append(float(z @ hessian.matvec(z)))
    values = np.asarray(samples)
    return TraceEstimate(float(values.mean()), float(values.std(ddof=1) / np.sqrt(probes)), probes)


def sharpness_gradient(
    loss_of_flat: LossOfFlat, theta: torch.Tensor, top_vector: torch.Tensor
) -> torch.Tensor:
    """∇_θ S = D³L(θ)[u, u] = ∇_θ (uᵀ H(θ) u) with u the unit top eigenvector held fixed
    (Damian et al. 2023, the ∇S of self-stabilization; needs a loss three times differentiable)."""
    theta = theta.detach().clone().requires_grad_(True)
    (gradient,) = torch.autograd.grad(loss_of_flat(theta), theta, create_graph=True)
    (hessian_u,) = torch.autograd.grad(gradient, theta, grad_outputs=top_vector, create_graph=True)
    (third,) = torch.autograd.grad(hessian_u @ top_vector, theta)
    return third.detach()
