"""Stage report: every claim's verdict from the Parquet tables, as DVC metrics and a readable report.

python -m stages.report  ->  reports/claims.json (verdict and headline number per claim; DVC metrics)
                             reports/claims_detail.json (every number behind each verdict)
                             reports/README.md (one section per claim, for reviewers)
"""

from .common import paths
from .common.atomic import read_json, write_json, write_text
from .common.entry import run
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
    outcomes = {}
    for claim in claims:
        table = tables[claim.study]
        outcome = (
            studies[claim.study]
            .module("checks")
            .CHECKS[claim.check](table[table["variant"].isin(claim.variants)], claim.tolerance)
        )
        outcomes[claim.key] = outcome
    metrics, detail = {}, {}
    for claim in claims:
        outcome = outcomes[claim.key]
        name, value = outcome.headline
        metrics.setdefault(claim.study, {})[claim.id] = {
            "verdict": outcome.verdict,
            name: _rounded(value),
        }
        detail.setdefault(claim.study, {})[claim.id] = {
            "verdict": outcome.verdict,
            "headline": name,
            "numbers": {k: _rounded(v) for k, v in sorted(outcome.numbers.items())},
        }
    write_json(paths.CLAIMS_JSON, metrics)
    write_json(paths.CLAIMS_DETAIL, detail)
    write_text(
        paths.REPORT_MARKDOWN,
        render_report(claims, outcomes, studies, configs, context),
    )
    for claim in claims:
        print(f"{claim.key}: {outcomes[claim.key].verdict}")


def _rounded(value: float) -> float | None:
    """Six significant digits: stable across platforms' last bits, enough to see a number move."""
    value = float(value)
    return float(f"{value:.6g}") if value == value and abs(value) != float("inf") else None


if __name__ == "__main__":
    run(main, "python -m stages.report")
