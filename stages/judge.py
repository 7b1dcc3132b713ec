"""Judge one study's claims on its current table and print the verdicts, writing nothing: the quick
loop while editing a check or a tolerance (`dvc repro` writes the report).

    python -m stages.judge <study>
"""

from __future__ import annotations

from .common import paths
from .common.atomic import read_json
from .common.decision import judge
from .common.entry import run
from .common.judging import evidence_for
from .common.params import ParamError, study_section
from .common.registry import load_claims
from .common.report_markdown import parts_table
from .common.runtime import pin_threads
from .common.study import discover_studies
from .common.tables import read_table


def main(argv: list[str]) -> None:
    studies = discover_studies()
    if argv[0] not in studies:
        raise ParamError("study", argv[0], "one of " + ", ".join(studies))
    configs = {name: study.parse(study_section(name)) for name, study in studies.items()}
    claims = [c for c in load_claims(paths.CLAIMS_REGISTRY, studies, configs) if c.study == argv[0]]
    pin_threads()
    study = studies[argv[0]]
    table = read_table(paths.results_table(study.name), study.setting_columns)
    compute = read_json(paths.results_runs(study.name))["compute"]
    for claim in claims:
        judgement = judge(evidence_for(claim, study, table, compute))
        print(
            f"\n{claim.key}: {judgement.verdict} (p_holds {judgement.decision.p_holds:.3f}, halves "
            f"{'/'.join(judgement.halves)}, control {judgement.control.verdict} "
            f"p_holds {judgement.control.p_holds:.3f}, survivors only {judgement.survivors.verdict})"
        )
        print("\n".join(parts_table(claim, judgement.decision)))
        print("control:\n" + "\n".join(parts_table(claim, judgement.control)))


if __name__ == "__main__":
    run(main, "python -m stages.judge <study>")
