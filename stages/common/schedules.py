"""Step-size schedules: named functions step -> learning rate, evaluated once into an array.

Kinds (the `kind` key of a `schedule` mapping in params.yaml):
- constant:   lr for every step.
- step_decay: optional linear warm-up from lr_after to lr over the first `warmup` fraction of the
              steps, then lr until `decay_at`·steps, then lr_after, or lr/decay_factor when the
              schedule gives `decay_factor` instead (the "large step, then decay" schedule of
              Andriushchenko et al. 2023, §3: steps t < round(decay_at·T) use lr).
- cosine:     lr·(1 + cos(pi·t/T))/2 + lr_min·(1 − cos(pi·t/T))/2.
`lr` may be the string "probe": the study's probe stage then supplies the value (see
`Schedule.resolve`), divided by `probe_divisor` when given (e.g. a small step of a third of the
probed large step, the paper's `gamma /= 3`).

`multi_step_rates` is the other shape the studies use: the step divided by a factor at several
fractions of training (Sun et al.'s CNN runs, their public code's instability/main6.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from .params import ParamError, Section

SCHEDULE_KINDS = ("constant", "step_decay", "cosine")
PROBED = "probe"


@dataclass(frozen=True)
class Schedule:
    kind: str
    lr: float | None  # None until a probed value is supplied
    lr_after: float | None = None  # step_decay: the step after decay; cosine: the final step
    decay_factor: float | None = (
        None  # step_decay: lr_after = lr / decay_factor (when lr_after is None)
    )
    decay_at: float | None = None  # step_decay: fraction of training spent at the large step
    warmup: float = 0.0  # step_decay: fraction of training spent warming up from lr_after to lr
    probe_divisor: float = 1.0  # lr = probed value / probe_divisor

    @property
    def probed(self) -> bool:
        return self.lr is None

    def resolve(self, probed_lr: float) -> Schedule:
        """The schedule with a probe's chosen step size in place of "probe"."""
        return replace(self, lr=probed_lr / self.probe_divisor) if self.probed else self

    def final_lr(self) -> float:
        if self.kind == "constant":
            return self.lr
        return self.lr_after if self.lr_after is not None else self.lr / self.decay_factor

    def rates(self, steps: int) -> np.ndarray:
        """Learning rate for steps 0..steps-1 (float64)."""
        if self.lr is None:
            raise ValueError("schedule lr is 'probe': call resolve() with the probe's value first")
        t = np.arange(steps, dtype=np.float64)
        if self.kind == "constant":
            return np.full(steps, self.lr)
        final = self.final_lr()
        if self.kind == "cosine":
            phase = np.cos(math.pi * t / steps)
            return self.lr * (1 + phase) / 2 + final * (1 - phase) / 2
        rates = np.where(t < decay_step_index(self.decay_at, steps), self.lr, final)
        warmup_steps = int(round(self.warmup * steps))
        if warmup_steps > 0:
            rates[:warmup_steps] = final + (self.lr - final) * t[:warmup_steps] / warmup_steps
        return rates

    def describe(self) -> str:
        lr = (
            f"{self.lr:g}"
            if self.lr is not None
            else ("probe" if self.probe_divisor == 1 else f"probe/{self.probe_divisor:g}")
        )
        if self.kind == "constant":
            return f"constant {lr}"
        after = f"{self.lr_after:g}" if self.lr_after is not None else f"lr/{self.decay_factor:g}"
        if self.kind == "cosine":
            return f"cosine {lr} -> {after}"
        warm = f", warm-up {self.warmup:.0%}" if self.warmup else ""
        return f"{lr} until {self.decay_at:.0%} of steps, then {after}{warm}"


def decay_step_index(decay_at: float, steps: int) -> int:
    """First step that uses the decayed rate."""
    return int(round(decay_at * steps))


def parse_schedule(section: Section) -> Schedule:
    """Validate a `schedule` mapping; every error names its key, value and what is allowed."""
    section.only("kind", "lr", "lr_after", "decay_factor", "decay_at", "warmup", "probe_divisor")
    kind = section.choice("kind", SCHEDULE_KINDS)
    lr = None if section.raw("lr") == PROBED else section.number("lr", positive=True)
    divisor = section.number("probe_divisor", low=1.0) if section.has("probe_divisor") else 1.0
    if divisor != 1.0 and lr is not None:
        raise ParamError(section.key("probe_divisor"), divisor, "only with lr: probe")
    if kind == "constant":
        return Schedule(kind, lr, probe_divisor=divisor)
    if section.has("lr_after") == section.has("decay_factor"):
        raise ParamError(
            section.key("lr_after"),
            section.mapping.get("lr_after", "<missing>"),
            "exactly one of lr_after (a number > 0) and decay_factor (a number >= 1)",
        )
    lr_after = section.number("lr_after", positive=True) if section.has("lr_after") else None
    decay_factor = section.number("decay_factor", low=1.0) if section.has("decay_factor") else None
    if kind == "cosine":
        return Schedule(
            kind, lr, lr_after=lr_after, decay_factor=decay_factor, probe_divisor=divisor
        )
    decay_at = section.fraction("decay_at")
    warmup = section.number("warmup", low=0.0, high=1.0) if section.has("warmup") else 0.0
    if warmup >= decay_at:
        raise ParamError(section.key("warmup"), warmup, f"a fraction below decay_at = {decay_at:g}")
    return Schedule(
        kind,
        lr,
        lr_after=lr_after,
        decay_factor=decay_factor,
        decay_at=decay_at,
        warmup=warmup,
        probe_divisor=divisor,
    )


def multi_step_rates(
    lr: float, decay_factor: float, decay_at: tuple[float, ...], length: int
) -> np.ndarray:
    """The step at each of `length` units (epochs or steps): `lr`, divided by `decay_factor` from
    each unit round(f·length), f in `decay_at` (main6.py's `lr = lr / 10` at the start of epochs
    40, 80, 120 and 160 of 200)."""
    rates, current = np.empty(length), lr
    starts = {int(round(f * length)) for f in decay_at}
    for unit in range(length):
        if unit in starts:
            current = current / decay_factor
        rates[unit] = current
    return rates
