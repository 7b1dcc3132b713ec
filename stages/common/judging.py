"""The one place that runs a claim's check: on the rows of the variants the claim names, with its
tolerance, and with the timings measured as results for a check that judges time."""

from __future__ import annotations

import inspect

import pandas as pd

from .decision import Evidence
from .legacy import legacy_evidence
from .registry import Claim
from .study import Study
from .verdicts import ClaimOutcome


def evidence_for(claim: Claim, study: Study, table: pd.DataFrame, compute: dict) -> Evidence:
    """Call the claim's check. A check with a `wall_clock` parameter also gets, per variant, the
    timings its training measured (data/<study>/runs/<variant>.json; never in the tables)."""
    check = study.module("checks").CHECKS[claim.check]
    arguments = {}
    if "wall_clock" in inspect.signature(check).parameters:
        arguments["wall_clock"] = {v: compute[v].get("wall_clock", {}) for v in claim.variants}
    found = check(table[table["variant"].isin(claim.variants)], claim.tolerance, **arguments)
    if isinstance(found, ClaimOutcome):  # migration: a study not yet on the decision rule
        found = legacy_evidence(found, next(iter(claim.sources)))
    if not isinstance(found, Evidence):
        raise TypeError(
            f"{claim.key}: {check.__name__} returned {type(found).__name__}, not Evidence"
        )
    return found
