"""Snapshots of batched runs at chosen steps, with divergence detection.

Many runs (seeds, step sizes) train in lockstep as one tensor program with a leading run axis.
A run has diverged once any recorded value is non-finite or exceeds a threshold in absolute value:
it is then frozen (its step size is set to 0 through `alive`), its later snapshots are NaN, and the
step where it was found diverged is kept. A diverged run is data, never an exception.
"""

from __future__ import annotations

import numpy as np
import torch


class SnapshotRecorder:
    def __init__(
        self,
        runs: int,
        eval_steps: np.ndarray,
        divergence_threshold: float,
        device=None,
        dtype: torch.dtype = torch.float64,
    ):
        self.eval_steps = np.asarray(eval_steps, dtype=np.int64)
        self.threshold = divergence_threshold
        self.alive = torch.ones(runs, dtype=dtype, device=device)  # 1, or 0 once diverged
        self.diverged_step = np.full(runs, -1, dtype=np.int64)
        self.snapshots: dict[str, np.ndarray] = {}
        self._next = 0

    def due(self, step: int) -> bool:
        return self._next < len(self.eval_steps) and self.eval_steps[self._next] == step

    def record(self, step: int, **state: torch.Tensor) -> None:
        """Store each named (runs, ...) tensor for this eval step and update divergence flags."""
        values = {name: tensor.detach().cpu().double().numpy() for name, tensor in state.items()}
        runs = len(self.diverged_step)
        flat = np.concatenate([array.reshape(runs, -1) for array in values.values()], axis=1)
        magnitude = np.abs(np.nan_to_num(flat, nan=np.inf))
        bad = (magnitude > self.threshold).any(axis=1)
        newly = bad & (self.diverged_step < 0)
        self.diverged_step[newly] = step
        self.alive[torch.as_tensor(newly, device=self.alive.device)] = 0.0
        lost = self.diverged_step >= 0
        for name, array in values.items():
            if name not in self.snapshots:
                self.snapshots[name] = np.full(
                    (runs, len(self.eval_steps)) + array.shape[1:], np.nan
                )
            mask = lost.reshape((runs,) + (1,) * (array.ndim - 1))
            self.snapshots[name][:, self._next] = np.where(mask, np.nan, array)
        self._next += 1

    def result(self) -> dict[str, np.ndarray]:
        return {
            **self.snapshots,
            "diverged": self.diverged_step >= 0,
            "diverged_step": self.diverged_step,
        }


def evaluation_steps(total_steps: int, points: int) -> np.ndarray:
    """`points` log-spaced and `points` evenly spaced steps in [0, total_steps], merged and sorted:
    the early transient and the long plateau are both resolved."""
    logarithmic = np.geomspace(1, total_steps, points)
    linear = np.linspace(0, total_steps, points)
    return np.unique(np.round(np.concatenate([[0], logarithmic, linear])).astype(np.int64))
