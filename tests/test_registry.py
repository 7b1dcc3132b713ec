"""The claims registry (stages/common/registry.py): every tolerance names its source, a rule-derived
tolerance is the project-wide rule applied to its printed number, revisions are well formed, and a
bad entry stops with one line naming the key, the value and what is allowed."""

from __future__ import annotations

import types

import pytest
import yaml

from stages.common.params import ParamError
from stages.common.registry import load_claims
from stages.common.study import Study

RULE = {
    "text": "half the printed effect on the scale the paper reports it",
    "log_fraction": 0.5,
    "difference_fraction": 0.5,
    "bound_factor": 2.0,
}


class ToyStudy(Study):
    def module(self, role):
        return {
            "checks": types.SimpleNamespace(CHECKS={"ratio_check": lambda table, tolerance: None}),
            "config": types.SimpleNamespace(variant_names=lambda config: ["small", "large"]),
        }[role]


STUDIES = {"toy": ToyStudy(name="toy", citation="", setting_columns={})}


def claim(**changes) -> dict:
    entry = {
        "title": "A ratio",
        "paper": "§3, Table 1",
        "statement": "The large step doubles it.",
        "check": "ratio_check",
        "variants": ["small", "large"],
        "figures": ["ratio"],
        "tolerance": {"ratio_min": 2.0, "fit_loss_max": 1e-3},
        "sources": {
            "ratio_min": {"kind": "rule", "effect": "factor", "printed": 4.0, "where": "Table 1"},
            "fit_loss_max": {"kind": "convention", "where": "runs that fit the data (notes)"},
        },
    }
    entry.update(changes)
    return entry


def load(tmp_path, entry=None, rule=RULE):
    registry = {"tolerance_rule": rule, "toy": {"C1": entry or claim()}}
    path = tmp_path / "claims.yaml"
    path.write_text(yaml.safe_dump(registry, sort_keys=False, allow_unicode=True))
    return load_claims(path, STUDIES, {"toy": None})


def test_a_valid_entry_loads_with_its_sources(tmp_path):
    (loaded,) = load(tmp_path)
    assert loaded.key == "toy.C1" and loaded.tolerance.number("ratio_min") == 2.0
    assert loaded.sources["ratio_min"].text() == "rule on the factor 4 (Table 1)"
    assert loaded.sources["fit_loss_max"].kind == "convention" and loaded.revisions == ()


def test_a_tolerance_without_a_source_is_refused_naming_it(tmp_path):
    entry = claim()
    del entry["sources"]["fit_loss_max"]
    with pytest.raises(ParamError) as caught:
        load(tmp_path, entry)
    message = str(caught.value)
    assert "\n" not in message
    assert "toy.C1.sources.fit_loss_max" in message and "'<missing>'" in message
    assert "a source for tolerance 'fit_loss_max'" in message


def test_a_source_for_no_tolerance_and_an_unknown_kind_are_refused(tmp_path):
    extra = claim()
    extra["sources"]["spare"] = {"kind": "printed", "where": "p. 3"}
    with pytest.raises(ParamError, match="sources.spare"):
        load(tmp_path, extra)
    wrong = claim()
    wrong["sources"]["fit_loss_max"]["kind"] = "hunch"
    with pytest.raises(ParamError, match="kind = 'hunch'.*printed, code, figure, rule, convention"):
        load(tmp_path, wrong)


@pytest.mark.parametrize(
    "effect, printed, tolerance, ok",
    [
        ("factor", 4.0, 2.0, True),  # half of a 4x effect on a log scale
        ("factor", 4.0, 3.0, False),
        ("ratio", 0.355, 0.596, True),  # l0 200 -> 71: at most sqrt(0.355)
        ("difference", 4.09, 2.045, True),  # points: half the difference
        ("bound", 0.85, 1.7, True),  # a cost of at most 0.85 points: at most twice it
        ("bound", 0.85, 1.0, False),
    ],
)
def test_a_rule_source_must_reproduce_its_tolerance(tmp_path, effect, printed, tolerance, ok):
    entry = claim(tolerance={"ratio_min": tolerance, "fit_loss_max": 1e-3})
    entry["sources"]["ratio_min"] = {
        "kind": "rule",
        "effect": effect,
        "printed": printed,
        "where": "T1",
    }
    if ok:
        assert load(tmp_path, entry)[0].sources["ratio_min"].effect == effect
    else:
        with pytest.raises(ParamError, match="the rule's"):
            load(tmp_path, entry)


def test_the_rule_itself_is_validated(tmp_path):
    with pytest.raises(ParamError, match="tolerance_rule.log_fraction"):
        load(tmp_path, rule={**RULE, "log_fraction": 1.5})
    with pytest.raises(ParamError, match="tolerance_rule.*'<missing>'"):
        load(tmp_path, rule={k: v for k, v in RULE.items() if k != "bound_factor"})


def test_revisions_name_what_changed_and_the_old_verdict(tmp_path):
    revision = {
        "what": ["check", "tolerance"],
        "was": "median and quartile, ratio <= 0.75",
        "old_verdict": "reproduced",
        "why": "Table 1's printed effect by the project-wide rule",
    }
    (loaded,) = load(tmp_path, claim(revisions=[revision]))
    assert loaded.revisions[0].what == ("check", "tolerance")
    for bad, match in (
        ({**revision, "old_verdict": "sort of"}, "old_verdict"),
        ({**revision, "what": ["mood"]}, "what"),
        ({k: v for k, v in revision.items() if k != "why"}, "why"),
    ):
        with pytest.raises(ParamError, match=match):
            load(tmp_path, claim(revisions=[bad]))


def test_unknown_study_check_variant_and_key_are_refused(tmp_path):
    for entry, match in (
        (claim(check="no_check"), "check = 'no_check'.*ratio_check"),
        (claim(variants=["small", "huge"]), r"variants = \['huge'\]"),
        (claim(variants=["small", "small"]), "without repeats"),
        (claim(colour="red"), "colour"),
    ):
        with pytest.raises(ParamError, match=match):
            load(tmp_path, entry)
    path = tmp_path / "claims.yaml"
    path.write_text(yaml.safe_dump({"tolerance_rule": RULE, "tyop": {"C1": claim()}}))
    with pytest.raises(ParamError, match="tyop.*toy"):
        load_claims(path, STUDIES, {"toy": None})


def test_a_tolerance_key_the_check_never_reads_stops_the_report(tmp_path):
    """A misspelt key (`ratio_mni`) must not be ignored while the check runs without it."""
    import pandas as pd

    from stages.common.decision import Evidence, Part, at_least
    from stages.common.judging import evidence_for

    def ratio_check(table, tolerance):
        threshold = tolerance.number("ratio_min")
        part = Part("ratio", [0, 1], [3.0, 4.0], at_least(threshold), "ratio_min")
        return Evidence(
            [part], [Part("null", [0, 1], [1.0, 1.0], at_least(threshold), "ratio_min")], "null"
        )

    class CheckingStudy(ToyStudy):
        def module(self, role):
            return (
                types.SimpleNamespace(CHECKS={"ratio_check": ratio_check})
                if role == "checks"
                else super().module(role)
            )

    study = CheckingStudy(name="toy", citation="", setting_columns={})
    (read_all,) = load(tmp_path, claim(tolerance={"ratio_min": 2.0, "fit_loss_max": 1e-3}))
    table = pd.DataFrame({"variant": ["small"]})
    with pytest.raises(
        ParamError,
        match=r"toy.C1.tolerance.fit_loss_max = 0.001: allowed: a tolerance that ratio_check reads \(ratio_min\)",
    ):
        evidence_for(read_all, study, table, {})
    entry = claim(tolerance={"ratio_min": 2.0})
    entry["sources"] = {"ratio_min": entry["sources"]["ratio_min"]}
    (exact,) = load(tmp_path, entry)
    assert evidence_for(exact, study, table, {}).parts[0].name == "ratio"
