"""MIGRATION ONLY, deleted once every study's checks return Evidence: lets the report run while
some studies still decide by the old median-and-quartile rule (ClaimOutcome). The old verdict is
carried through the new rule unchanged, and the part's name says so."""

from __future__ import annotations

import numpy as np

from .decision import Evidence, Part, at_least
from .verdicts import INCONCLUSIVE, REPRODUCED, ClaimOutcome


def legacy_evidence(outcome: ClaimOutcome, tolerance_key: str) -> Evidence:
    """Two pseudo-seeds whose mean is 1 (reproduced), 0 (not reproduced), or 0/1 (inconclusive:
    three resamples in four hold)."""
    values = {REPRODUCED: [1.0, 1.0], INCONCLUSIVE: [0.0, 1.0]}.get(outcome.verdict, [0.0, 0.0])
    name, value = outcome.headline
    part = Part(
        f"old rule, not yet converted ({name} = {value:.4g})",
        [0, 1],
        values,
        at_least(0.5),
        tolerance_key,
        statistic=lambda v: np.mean(v, axis=1),
    )
    control = Part("none under the old rule", [0], [0.0], at_least(0.5), tolerance_key)
    return Evidence(
        [part],
        [control],
        "none under the old rule",
        summary=outcome.summary,
        rows=outcome.rows,
        numbers=outcome.numbers,
    )
