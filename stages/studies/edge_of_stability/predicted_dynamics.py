"""Damian, Nichani & Lee (2023), the predicted dynamics of GD around the constrained trajectory θ†
(§4, eq. 5; `predicted_step` in their public code, adamian98/EOS, taylor.py).

GD's deviation from θ† is predicted by v_t, with v_0 = θ_0 − θ†_0 and, at the Taylor centre θ†_t
(u its top eigenvector, ∇S⊥ = ∇S − u(u·∇S), α = −∇L·∇S⊥, β = ‖∇S⊥‖², δ² = 2α/β),

    x = u·v,   y = ∇S⊥·v,
    v ← v − η [ ½ (x² − δ²) ∇S⊥  +  ∇²L v  +  u x y ]

so that θ_t ≈ θ†_t + v_t. The first term is the cubic one that self-stabilizes: it pulls S back
down once the oscillation along u grows past δ. Their code takes δ = √(2α/β) and squares it; δ²
is used directly here (the same where α ≥ 0; where α < 0 theirs is NaN).

The control drops what the cubic term of the Taylor expansion brings: w ← w − η ∇²L w, the
deviation a quadratic model of the loss around θ† predicts.
"""

from __future__ import annotations

import torch

from .constrained_trajectory import TaylorCenter


def predicted_step(v: torch.Tensor, center: TaylorCenter, lr: float) -> torch.Tensor:
    """v_{t+1} from v_t at the centre θ†_t (module docstring)."""
    u, grad_s_perp = center.top_vector, center.sharpness_gradient_perp
    alpha = -(center.gradient @ grad_s_perp)
    beta = grad_s_perp @ grad_s_perp
    delta_squared = 2 * alpha / beta
    x, y = u @ v, grad_s_perp @ v
    force = (x**2 - delta_squared) / 2 * grad_s_perp + center.hessian.matvec(v) + u * (x * y)
    return v - lr * force


def quadratic_step(w: torch.Tensor, center: TaylorCenter, lr: float) -> torch.Tensor:
    """w_{t+1} = (I − η ∇²L(θ†_t)) w_t: the second-order prediction, without the cubic term."""
    return w - lr * center.hessian.matvec(w)
