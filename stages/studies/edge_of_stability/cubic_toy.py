"""Damian, Nichani & Lee (2023): the two-variable model of self-stabilization.

    L(x, y) = ½ (a + b·y) x² + ε x − α y

x is the unstable (top-eigenvector) direction, y the direction in which the sharpness
S ≈ a + b·y grows: −∂L/∂y = α − ½ b x² pushes y (and S) up while x² < 2α/b, and the cubic term
pulls it back down once the oscillation in x grows past δ² = 2α/b. The paper's prediction: at the
edge, GD oscillates with mean x² ≈ δ² = 2α/b and mean S ≈ 2/η.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class CubicToy:
    a: float
    b: float
    alpha: float
    epsilon: float

    @property
    def predicted_x_squared(self) -> float:
        """δ² = 2α/b: the predicted mean of x² at the edge."""
        return 2 * self.alpha / self.b

    def loss(self, x, y):
        return 0.5 * (self.a + self.b * y) * x**2 + self.epsilon * x - self.alpha * y

    def gradient(self, x, y):
        return (self.a + self.b * y) * x + self.epsilon, 0.5 * self.b * x**2 - self.alpha

    def sharpness(self, x, y):
        """Top eigenvalue of the Hessian [[a + b·y, b·x], [b·x, 0]]."""
        curvature = self.a + self.b * y
        return (curvature + np.sqrt(curvature**2 + 4 * (self.b * x) ** 2)) / 2


def toy_descent(
    model: CubicToy, lr: float, x0: np.ndarray, y0: np.ndarray, steps: int
) -> tuple[np.ndarray, np.ndarray]:
    """GD on the toy for a batch of starting points: (x, y) of shape (runs, steps + 1), float64.
    A diverged run keeps non-finite values (NumPy's overflow warnings are silenced)."""
    xs = np.empty((len(x0), steps + 1))
    ys = np.empty((len(x0), steps + 1))
    x, y = np.asarray(x0, np.float64), np.asarray(y0, np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        for step in range(steps + 1):
            xs[:, step], ys[:, step] = x, y
            grad_x, grad_y = model.gradient(x, y)
            x, y = x - lr * grad_x, y - lr * grad_y
    return xs, ys
