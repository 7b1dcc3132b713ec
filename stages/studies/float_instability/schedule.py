"""The step-size schedule of the paper's CNN runs (public code instability/main6.py): the step is
divided by a factor at fixed fractions of the epochs, `lr = lr / 10` at the start of epochs 40, 80,
120 and 160 of 200.

(A multi-step kind for stages/common/schedules.py, which has a single decay only: proposed to the
lead; kept here until then.)
"""

from __future__ import annotations

import numpy as np


def epoch_learning_rates(
    lr: float, decay_factor: float, decay_at: tuple[float, ...], epochs: int
) -> np.ndarray:
    """The step of each epoch: `lr`, divided by `decay_factor` from each epoch round(f·epochs), f
    in `decay_at` (main6.py's `lr = lr / 10` at the start of epochs 40, 80, 120, 160 of 200)."""
    rates, current = np.empty(epochs), lr
    starts = {int(round(f * epochs)) for f in decay_at}
    for epoch in range(epochs):
        if epoch in starts:
            current = current / decay_factor
        rates[epoch] = current
    return rates
