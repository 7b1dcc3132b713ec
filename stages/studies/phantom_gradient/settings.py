"""Plain descriptions of a backward choice and of a solver's settings (no torch: the config imports them)."""

from __future__ import annotations

from dataclasses import dataclass

FORMS = ("exact", "unrolled", "neumann")


@dataclass(frozen=True)
class Backward:
    """A backward choice of the implicit layer: the form, and for the phantom forms k steps of damping λ."""

    form: str
    k: int = 0
    damping: float = 1.0

    def __post_init__(self):
        if self.form not in FORMS:
            raise ValueError(f"backward form {self.form!r} is not one of {FORMS}")
        if self.form != "exact" and (self.k < 1 or not 0.0 < self.damping <= 1.0):
            raise ValueError(
                f"a phantom gradient needs k >= 1 and λ in (0, 1], got k={self.k}, λ={self.damping}"
            )


@dataclass(frozen=True)
class SolverSettings:
    memory: int  # m, the iterates Anderson mixes
    tolerance: float  # stop when ‖f(z) − z‖ / ‖f(z)‖ ≤ tolerance
    max_iterations: int  # evaluations of the map, the initial one included
