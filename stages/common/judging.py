"""The one place that runs a claim's check: on the rows of the variants the claim names, with its
tolerance, and with the timings measured as results for a check that judges time. What comes
back is checked: Evidence whose parts name tolerances of the claim, and every tolerance key read
by the check (a misspelt key in claims.yaml stops the report with one line instead of being
ignored)."""

from __future__ import annotations

import inspect

import pandas as pd

from .decision import Evidence
from .params import ParamError, Section
from .registry import Claim
from .study import Study


def evidence_for(claim: Claim, study: Study, table: pd.DataFrame, compute: dict) -> Evidence:
    """Call the claim's check. A check with a `wall_clock` parameter also gets, per variant, the
    timings its training measured (data/<study>/runs/<variant>.json; never in the tables)."""
    check = study.module("checks").CHECKS[claim.check]
    arguments = {}
    if "wall_clock" in inspect.signature(check).parameters:
        arguments["wall_clock"] = {v: compute[v].get("wall_clock", {}) for v in claim.variants}
    tolerance = Section(
        claim.tolerance.mapping, claim.tolerance.path
    )  # records what the check reads
    found = check(table[table["variant"].isin(claim.variants)], tolerance, **arguments)
    if not isinstance(found, Evidence):
        raise TypeError(
            f"{claim.key}: {check.__name__} returned {type(found).__name__}, not Evidence"
        )
    unknown = sorted({p.tolerance for p in found.parts + found.control} - set(claim.sources))
    if unknown:
        raise ValueError(f"{claim.key}: parts name tolerances {unknown} that claims.yaml lacks")
    unread = tolerance.unread()
    if unread:  # a misspelt key would otherwise be ignored, and the check run without it
        raise ParamError(
            tolerance.key(unread[0]),
            tolerance.mapping[unread[0]],
            f"a tolerance that {check.__name__} reads ({', '.join(sorted(tolerance.read))})",
        )
    return found
