"""The claims registry (claims.yaml): one entry per claim of a paper, written before the runs.

<study>:
  <claim id>:
    title:      short name
    paper:      where in the paper the claim stands
    statement:  the claim in the paper's words (shortened)
    check:      name of a check in the study's `checks`
    variants:   the variants whose runs the check reads (and that rerunning the claim retrains)
    figures:    figures of the study that show it
    tolerance:  the numbers the check compares against, fixed before the run
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .params import ParamError, Section, load_yaml
from .study import Study


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

    @property
    def key(self) -> str:
        return f"{self.study}.{self.id}"


def load_claims(path: Path, studies: dict[str, Study], configs: dict[str, object]) -> list[Claim]:
    """Parse and validate every entry against the studies it names."""
    registry = load_yaml(path)
    claims = []
    for study_name, entries in registry.items():
        if study_name not in studies:
            raise ParamError(
                f"{path}:{study_name}", study_name, "a study package under stages/studies/"
            )
        study, config = studies[study_name], configs[study_name]
        for claim_id, raw in Section(entries, f"{path}:{study_name}").mapping.items():
            entry = Section(raw, f"{path}:{study_name}.{claim_id}").only(
                "title", "paper", "statement", "check", "variants", "figures", "tolerance"
            )
            check = entry.choice("check", sorted(study.module("checks").CHECKS))
            variants = _names(entry, "variants", study.variant_names(config))
            claims.append(
                Claim(
                    study_name,
                    str(claim_id),
                    entry.text("title"),
                    entry.text("paper"),
                    entry.text("statement").strip(),
                    check,
                    variants,
                    _names(entry, "figures", None),
                    entry.section("tolerance"),
                )
            )
    return claims


def _names(entry: Section, key: str, allowed: list[str] | None) -> list[str]:
    value = entry.raw(key)
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise ParamError(entry.key(key), value, "a non-empty list of names")
    if allowed is not None:
        unknown = [v for v in value if v not in allowed]
        if unknown:
            raise ParamError(entry.key(key), unknown, "names from " + ", ".join(allowed))
    return value
