"""Stage report: every claim's verdict by the one decision rule, as DVC metrics and a readable report.

    python -m stages.report  ->  reports/claims.json (per claim: verdict, statistic, interval,
                                   p_holds, halves, control, tolerance_source; DVC metrics)
                                 reports/claims_detail.json (every part, its interval and p_holds,
                                   the control's, the survivors-only verdict, the numbers shown)
                                 reports/README.md (summary table, revisions, a section per claim)

Each check (stages/studies/<study>/checks.py) returns Evidence; stages/common/decision.py decides.
Every input is read and checked (claims.yaml against the studies' params, the tables' schema)
before anything is written.
"""

from __future__ import annotations

import math

from .common import paths
from .common.atomic import read_json, write_json, write_text
from .common.decision import Judgement, judge
from .common.entry import run
from .common.judging import evidence_for
from .common.params import study_section
from .common.registry import load_claims
from .common.report_markdown import render_report
from .common.runtime import pin_threads
from .common.study import discover_studies
from .common.tables import read_table


def main(argv: list[str]) -> None:
    studies = discover_studies()
    configs = {name: study.parse(study_section(name)) for name, study in studies.items()}
    claims = load_claims(paths.CLAIMS_REGISTRY, studies, configs)
    pin_threads()
    tables = {
        name: read_table(paths.results_table(name), study.setting_columns)
        for name, study in studies.items()
    }
    context = {name: read_json(paths.results_runs(name)) for name in studies}
    judgements, evidence = {}, {}
    for claim in claims:
        found = evidence_for(
            claim, studies[claim.study], tables[claim.study], context[claim.study]["compute"]
        )
        evidence[claim.key], judgements[claim.key] = found, judge(found)
    metrics, detail = {}, {}
    for claim in claims:
        judgement = judgements[claim.key]
        metrics.setdefault(claim.study, {})[claim.id] = headline(claim, judgement)
        detail.setdefault(claim.study, {})[claim.id] = {
            **headline(claim, judgement),
            "decided_by": judgement.decision.deciding.name,
            "stable": judgement.stable,
            "parts": [_part(p) for p in judgement.decision.parts],
            "survivors_only": {
                "verdict": judgement.survivors.verdict,
                "p_holds": _rounded(judgement.survivors.p_holds),
                "parts": [_part(p) for p in judgement.survivors.parts],
            },
            "control_parts": [_part(p) for p in judgement.control.parts],
            "control_description": judgement.control_description,
            "numbers": {k: _rounded(v) for k, v in sorted(evidence[claim.key].numbers.items())},
        }
    report = render_report(claims, judgements, evidence, studies, configs, context)
    write_json(paths.CLAIMS_JSON, metrics)
    write_json(paths.CLAIMS_DETAIL, detail)
    write_text(paths.REPORT_MARKDOWN, report)
    for claim in claims:
        print(f"{claim.key}: {judgements[claim.key].verdict}")


def headline(claim, judgement: Judgement) -> dict:
    """What `dvc metrics show` lists per claim (scalars and mappings only: DVC drops lists): the
    verdict, the deciding part's statistic and interval, p_holds, the halves, the control."""
    deciding = judgement.decision.deciding
    low, high = deciding.interval
    return {
        "verdict": judgement.verdict,
        "statistic": _rounded(deciding.statistic),
        "interval": {"low": _rounded(low), "high": _rounded(high)},
        "p_holds": _rounded(judgement.decision.p_holds),
        "halves": {"first": judgement.halves[0], "second": judgement.halves[1]},
        "control": judgement.control.verdict,
        "tolerance_source": claim.sources[deciding.tolerance].kind,
    }


def _part(part) -> dict:
    return {
        "name": part.name,
        "tolerance": part.tolerance,
        "needs": part.criterion,
        "statistic": _rounded(part.statistic),
        "interval": {"low": _rounded(part.interval[0]), "high": _rounded(part.interval[1])},
        "p_holds": _rounded(part.p_holds),
        "seeds": part.seeds,
        "lost": part.lost,
        "deterministic": part.deterministic,
        "timed": part.timed,
    }


def _rounded(value: float) -> float | None:
    """Six significant digits: stable across platforms' last bits, enough to see a number move;
    None for a statistic that could not be formed or that every diverged seed sent to ±inf."""
    value = float(value)
    return float(f"{value:.6g}") if math.isfinite(value) else None


if __name__ == "__main__":
    run(main, "python -m stages.report")
