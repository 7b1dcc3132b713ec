"""The reviewer's report (stages/common/report_markdown.py) and CI's comparison of results
(stages/check_report.py), on constructed claims with known verdicts."""

from __future__ import annotations

import re
import types

import numpy as np

from stages.check_report import moved
from stages.common.decision import Evidence, Part, at_least, judge
from stages.common.params import Section
from stages.common.registry import Claim, Revision, Source
from stages.common.report_markdown import anchor, render_report
from stages.common.study import Study

TEMPLATE_LEFTOVER = re.compile(r"\{[A-Za-z_][A-Za-z0-9_.]*(:[^}]*)?\}")


def ratio_check(table, tolerance):
    """Stands in for a study's check."""


class ToyStudy(Study):
    def module(self, role):
        return {
            "describe": types.SimpleNamespace(
                describe=lambda config, variants, probe: f"Variants {', '.join(variants)}."
            ),
            "checks": types.SimpleNamespace(CHECKS={"ratio": ratio_check}),
        }[role]


def claim(claim_id: str, revisions=()) -> Claim:
    return Claim(
        "toy",
        claim_id,
        f"Claim {claim_id}",
        "§3",
        "The large step doubles it.",
        "ratio",
        ["small", "large"],
        ["ratio"],
        Section({"ratio_min": 2.0}, "claims.yaml:toy.{claim_id}.tolerance"),
        {"ratio_min": Source("rule", "Table 1", 4.0, "factor")},
        revisions,
    )


def evidence(center: float, lost: int = 0, control_center: float = 1.0) -> Evidence:
    values = center + 0.3 * np.random.default_rng(0).standard_normal(20)
    values[:lost] = np.nan
    part = Part("ratio, large over small", range(20), values, at_least(2.0), "ratio_min", paper="4")
    control = Part(
        "ratio, small over small",
        range(20),
        np.full(20, control_center),
        at_least(2.0),
        "ratio_min",
    )
    return Evidence([part], [control], "the small step against itself", summary="Ratios per seed.")


def rendered(cases: dict[str, Evidence], revisions=()) -> tuple[str, dict]:
    claims = [claim(c, revisions if c == "C1" else ()) for c in cases]
    judgements = {c.key: judge(cases[c.id]) for c in claims}
    context = {
        "toy": {
            "compute": {
                v: {"runs": 20, "run_steps": 2000, "train_seconds": 1.0, "measure_seconds": 0.5}
                for v in ("small", "large")
            },
            "probe": None,
        }
    }
    text = render_report(
        claims,
        judgements,
        {c.key: cases[c.id] for c in claims},
        {"toy": ToyStudy(name="toy", citation="Toy et al.", setting_columns={})},
        {"toy": None},
        context,
    )
    return text, judgements


def test_the_report_opens_with_the_summary_and_links_every_claim():
    text, judgements = rendered({"C1": evidence(4.0), "C2": evidence(1.0)})
    first_table = text.index("| claim | verdict |")
    assert (
        text.index("## Summary") < first_table < text.index("## Revisions") < text.index("## toy")
    )
    headings = {anchor(claim(c)) for c in ("C1", "C2")}
    links = set(re.findall(r"\]\(#([^)]+)\)", text))
    assert links == headings
    for c in ("C1", "C2"):
        heading = f"### toy {c} Claim {c}"
        assert text.count(heading) == 1
        github = re.sub(r"[^\w\- ]", "", heading.lstrip("# ").lower()).replace(" ", "-")
        assert github == anchor(claim(c))
    assert "**reproduced**" in text and "**not_reproduced**" in text
    assert "checks.py::ratio_check" in text
    assert "rule on the factor 4 (Table 1)" in text
    assert text.count("Variants small, large.") == 1, "a study's setup prints once"


def test_no_template_text_is_left_in_the_report():
    text, _ = rendered({"C1": evidence(4.0, lost=8), "C2": evidence(4.0, control_center=4.0)})
    assert not TEMPLATE_LEFTOVER.search(text), TEMPLATE_LEFTOVER.search(text)


def test_survivors_only_is_shown_only_where_its_verdict_differs():
    text, judgements = rendered({"C1": evidence(4.0, lost=8), "C2": evidence(4.0)})
    assert judgements["toy.C1"].survivors.verdict != judgements["toy.C1"].decision.verdict
    assert text.count("**Survivors only**") == 1
    assert "(8 lost)" in text


def test_an_unfalsifiable_claim_and_a_revision_are_reported():
    revision = Revision(
        ("tolerance",), "ratio >= 1.5 (ours)", "reproduced", "Table 1's 4x by the rule"
    )
    text, judgements = rendered({"C1": evidence(4.0, control_center=4.0)}, revisions=[revision])
    assert judgements["toy.C1"].verdict == "unfalsifiable"
    assert "**unfalsifiable**" in text
    row = next(
        line
        for line in text.splitlines()
        if line.startswith("| [toy C1]") and "ratio >= 1.5" in line
    )
    assert "| reproduced | unfalsifiable |" in row


# --------------------------------------------------------------------------------- check_report


def detail(verdict="reproduced", statistic=2.5, low=2.2, high=2.9, control="not_reproduced"):
    part = {"name": "ratio", "statistic": statistic, "interval": {"low": low, "high": high}}
    return {"toy": {"C1": {"verdict": verdict, "control": control, "parts": [part]}}}


def test_check_report_passes_a_last_digit_change_inside_the_interval():
    assert moved(detail(), detail(statistic=2.50001)) == []


def test_check_report_fails_on_a_moved_verdict_or_a_statistic_outside_its_interval():
    assert moved(detail(), detail(verdict="inconclusive")) == [
        ("toy.C1", "verdict", "reproduced", "inconclusive")
    ]
    assert moved(detail(), detail(control="inconclusive"))[0][1] == "control"
    (row,) = moved(detail(), detail(statistic=3.4))
    assert row[:2] == ("toy.C1", "part ratio") and row[3] == "3.4"
    added = detail()
    added["toy"]["C2"] = added["toy"]["C1"]
    assert moved(detail(), added) == [("toy.C2", "claim", "absent", "present")]


def test_check_report_compares_a_timed_part_by_its_claim_s_verdict_alone():
    """Wall-clock seconds are the machine's own (P2): another CPU's ratio may leave the committed
    interval without anything having moved; a moved verdict still fails."""
    timed = detail()
    timed["toy"]["C1"]["parts"][0]["timed"] = True
    elsewhere = detail(statistic=3.4)
    assert moved(timed, elsewhere) == []
    assert moved(timed, detail(statistic=3.4, verdict="inconclusive")) == [
        ("toy.C1", "verdict", "reproduced", "inconclusive")
    ]


def test_check_report_reads_none_as_a_statistic_not_formed_and_a_none_bound_as_infinite():
    """report.py writes None for NaN and ±inf: P1's committed parts have statistic None and an
    interval with one None bound; regenerated the same, nothing moved."""
    unformed = detail(statistic=None, low=None, high=1.0)
    assert moved(unformed, detail(statistic=None, low=None, high=1.0)) == []
    assert moved(unformed, detail(statistic=0.5))[0][1] == "part ratio"  # formed now: moved
    assert moved(detail(), detail(statistic=None))[0][1] == "part ratio"  # lost now: moved
    open_below = detail(statistic=0.2, low=None, high=1.0)
    assert moved(open_below, detail(statistic=-50.0)) == []  # an infinite lower bound
    assert moved(open_below, detail(statistic=1.5))[0][1] == "part ratio"
