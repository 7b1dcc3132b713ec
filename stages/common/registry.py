"""The claims registry (claims.yaml): one entry per claim of a paper, written before the runs.

tolerance_rule:          the one project-wide rule that turns a printed effect into a tolerance
  text: ...              (kept once, at the top of claims.yaml)
  log_fraction: 0.5      a printed factor E becomes E ** log_fraction (a ratio r: r ** log_fraction)
  difference_fraction: 0.5   a printed difference D becomes D * difference_fraction
  bound_factor: 2        a printed bound B on a cost becomes B * bound_factor
<study>:
  <claim id>:
    title:      short name
    paper:      where in the paper the claim stands
    statement:  the claim in the paper's words (shortened)
    check:      name of a check in the study's checks.py (CHECKS)
    variants:   the variants whose runs the check reads (and that rerunning the claim retrains)
    figures:    figures of the study that show it
    tolerance:  {key: number or list}: what the check compares against, fixed before the run
    sources:    {key: source} for every tolerance key, where a source is
                  {kind: printed, where: "§3, Table 1", printed: 71}        the paper's number
                  {kind: code, where: "file of the public code", printed: 0.85}   its code's
                  {kind: figure, where: "Fig. 2 (read off)"}
                  {kind: rule, effect: factor|ratio|difference|bound, printed: E, where: ...}
                    (the loader checks that the tolerance is the rule applied to `printed`)
                  {kind: convention, where: "why this number"}
    revisions:  optional, one entry per change of check, tolerance or setting since the
                previously committed report: {what, was, old_verdict, why} (why from the paper,
                never from the result)
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

from .decision import VERDICTS
from .params import ParamError, Section, load_yaml
from .study import Study

CLAIM_ID = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
SOURCE_KINDS = ("printed", "code", "figure", "rule", "convention")
RULE_EFFECTS = ("factor", "ratio", "difference", "bound")
RULE_KEY = "tolerance_rule"
RULE_MATCH = 1e-3  # relative: a rule-derived tolerance written with 3-4 significant digits


@dataclass(frozen=True)
class ToleranceRule:
    """The project-wide rule for a tolerance derived from a printed effect (claims.yaml, top)."""

    text: str
    log_fraction: (
        float  # a printed factor E (> 1) becomes E ** log_fraction; a ratio r (< 1) r ** it
    )
    difference_fraction: float  # a printed difference of D points becomes D * difference_fraction
    bound_factor: float  # a printed bound B ("loses at most B") becomes B * bound_factor

    def derive(self, effect: str, printed: float) -> float:
        if effect in ("factor", "ratio"):
            return printed**self.log_fraction
        if effect == "difference":
            return printed * self.difference_fraction
        return printed * self.bound_factor


@dataclass(frozen=True)
class Source:
    """Where a tolerance comes from (kind, place, and the printed number where there is one)."""

    kind: str
    where: str
    printed: float | None = None
    effect: str | None = None  # rule only

    def text(self) -> str:
        """As the report prints it: `printed, §3 Table 1: 71`, `rule on the factor 2.8 (Table 1)`."""
        if self.kind == "rule":
            return f"rule on the {self.effect} {self.printed:g} ({self.where})"
        return f"{self.kind}, {self.where}" + (
            "" if self.printed is None else f": {self.printed:g}"
        )


REVISED = ("check", "tolerance", "setting")


@dataclass(frozen=True)
class Revision:
    what: tuple[str, ...]  # what changed: check, tolerance and/or setting
    was: str
    old_verdict: str
    why: str


@dataclass(frozen=True)
class Claim:
    study: str
    id: str
    title: str
    paper: str
    statement: str
    check: str
    variants: list[str]
    figures: list[str]
    tolerance: Section
    sources: dict[str, Source]
    revisions: tuple[Revision, ...] = ()

    @property
    def key(self) -> str:
        return f"{self.study}.{self.id}"


def load_rule(registry: dict, path: Path) -> ToleranceRule:
    entry = Section(registry.get(RULE_KEY), f"{path}:{RULE_KEY}").only(
        "text", "log_fraction", "difference_fraction", "bound_factor"
    )
    return ToleranceRule(
        entry.text("text").strip(),
        entry.number("log_fraction", low=0.0, high=1.0, open_interval=True),
        entry.number("difference_fraction", low=0.0, high=1.0, open_interval=True),
        entry.number("bound_factor", low=1.0),
    )


def load_claims(path: Path, studies: dict[str, Study], configs: dict[str, object]) -> list[Claim]:
    """Parse and validate every entry against the studies it names, before any check runs."""
    registry = load_yaml(path)
    rule = load_rule(registry, path)
    claims = []
    for study_name, entries in registry.items():
        if study_name == RULE_KEY:
            continue
        if study_name not in studies:
            raise ParamError(
                f"{path}:{study_name}",
                study_name,
                f"{RULE_KEY} or a study package under stages/studies/ ({', '.join(studies)})",
            )
        study, config = studies[study_name], configs[study_name]
        checks = study.module("checks").CHECKS
        for claim_id, raw in Section(entries, f"{path}:{study_name}").mapping.items():
            where = f"{path}:{study_name}.{claim_id}"
            if not isinstance(claim_id, str) or not CLAIM_ID.fullmatch(claim_id):
                raise ParamError(where, claim_id, "a claim id of letters, digits and _")
            entry = Section(raw, where).only(
                "title",
                "paper",
                "statement",
                "check",
                "variants",
                "figures",
                "tolerance",
                "sources",
                "revisions",
            )
            tolerance = entry.section("tolerance")
            claims.append(
                Claim(
                    study_name,
                    claim_id,
                    entry.text("title"),
                    entry.text("paper"),
                    entry.text("statement").strip(),
                    entry.choice("check", sorted(checks)),
                    _names(entry, "variants", study.variant_names(config)),
                    _names(entry, "figures", None),
                    tolerance,
                    _sources(entry, tolerance, rule),
                    _revisions(entry) if entry.has("revisions") else (),
                )
            )
    return claims


def _sources(entry: Section, tolerance: Section, rule: ToleranceRule) -> dict[str, Source]:
    """Every tolerance key has exactly one source; a rule source must reproduce its tolerance."""
    sources = (
        entry.section("sources") if entry.has("sources") else Section({}, entry.key("sources"))
    )
    keys = [str(k) for k in tolerance.mapping]
    for key in keys:
        if key not in sources.mapping:
            raise ParamError(
                sources.key(key),
                "<missing>",
                f"a source for tolerance {key!r}: {{kind: {'|'.join(SOURCE_KINDS)}, where: ...}}",
            )
    sources.only(*keys)
    found = {}
    for key in keys:
        raw = sources.section(key)
        kind = raw.choice("kind", SOURCE_KINDS)
        raw.only("kind", "where", "printed", "effect")
        printed = raw.number("printed") if raw.has("printed") else None
        effect = None
        if kind == "rule":
            effect = raw.choice("effect", RULE_EFFECTS)
            printed = raw.number("printed")
            value = tolerance.number(key)
            expected = rule.derive(effect, printed)
            if not math.isclose(value, expected, rel_tol=RULE_MATCH):
                raise ParamError(
                    tolerance.key(key),
                    value,
                    f"{expected:.4g}: the rule's {effect} of the printed {printed:g}",
                )
        elif raw.has("effect"):
            raise ParamError(raw.key("effect"), raw.raw("effect"), "an effect only with kind rule")
        found[key] = Source(kind, raw.text("where"), printed, effect)
    return found


def _revisions(entry: Section) -> tuple[Revision, ...]:
    value = entry.raw("revisions")
    if not isinstance(value, list) or not value:
        raise ParamError(
            entry.key("revisions"), value, "a non-empty list of {what, was, old_verdict, why}"
        )
    revisions = []
    for index, raw in enumerate(value):
        item = Section(raw, entry.key(f"revisions[{index}]"))
        item.only("what", "was", "old_verdict", "why")
        what = item.raw("what")
        if not isinstance(what, list) or not what or not set(what) <= set(REVISED):
            raise ParamError(item.key("what"), what, f"a non-empty list from {', '.join(REVISED)}")
        revisions.append(
            Revision(
                tuple(what),
                item.text("was").strip(),
                item.choice("old_verdict", VERDICTS),
                item.text("why").strip(),
            )
        )
    return tuple(revisions)


def _names(entry: Section, key: str, allowed: list[str] | None) -> list[str]:
    value = entry.raw(key)
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise ParamError(entry.key(key), value, "a non-empty list of names")
    if len(set(value)) != len(value):
        raise ParamError(entry.key(key), value, "names without repeats")
    if allowed is not None:
        unknown = [v for v in value if v not in allowed]
        if unknown:
            raise ParamError(entry.key(key), unknown, "names from " + ", ".join(allowed))
    return value
