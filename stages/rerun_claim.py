"""Rerun one claim: retrain and remeasure the variants its registry entry names, then bring the
tables, figures and report up to date. Printed in each section of reports/README.md.

    python -m stages.rerun_claim sparse_features.C3      (or: make claim CLAIM=sparse_features.C3)

Three commands, printed as they run:
1. `python -m stages.repro <the stages they read>`: what the claim's train and measure stages read
   (the study's generated data and probe, another variant's runs) is brought up to date first, so
   a fresh clone with no data runs its generate and probe stages here (restored from the
   run-cache or a remote where those have them);
2. `dvc repro --force --single-item <train and measure stages>`: the claim's runs, recomputed;
3. `python -m stages.repro report`: tables, figures and the report (and whatever else the report
   reads that is not up to date).
"""

import re
import subprocess
import sys

from .common import paths
from .common.entry import run
from .common.params import ParamError, study_section
from .common.registry import load_claims
from .common.study import discover_studies

REPORT_STAGE = "report"


def dvc_commands(claim_key: str) -> list[list[str]]:
    """The commands that rerun `claim_key` (`<study>.<id>`), on DVC's stage graph."""
    claims = load_all_claims()
    if claim_key not in claims:
        raise ParamError("CLAIM", claim_key, "one of " + ", ".join(claims))
    return commands_for(claims[claim_key], stage_upstream())


def load_all_claims() -> dict:
    studies = discover_studies()
    configs = {name: study.parse(study_section(name)) for name, study in studies.items()}
    return {claim.key: claim for claim in load_claims(paths.CLAIMS_REGISTRY, studies, configs)}


def commands_for(claim, upstream: dict[str, frozenset[str]]) -> list[list[str]]:
    """The three commands (two where the claim's stages read nothing else) on the stage graph
    `upstream` (stage -> the stages whose outputs it reads)."""
    forced = variant_stages(upstream, claim.study, claim.variants)
    read = sorted({u for stage in forced for u in upstream[stage]} - set(forced))
    python = sys.executable  # this interpreter (the project's .venv), whatever PATH says
    return [
        *([[python, "-m", "stages.repro", *read]] if read else []),
        [python, "-m", "dvc", "repro", "--force", "--single-item", *forced],
        [python, "-m", "stages.repro", REPORT_STAGE],
    ]


def stage_upstream() -> dict[str, frozenset[str]]:
    """Every stage DVC declares (`dvc stage list --all`), with the stages whose outputs it reads."""
    from dvc.repo import Repo

    with Repo(".") as repo:
        graph = repo.index.graph  # edges point from a stage to the stages whose outputs it reads
        return {
            stage.addressing: frozenset(dep.addressing for dep in graph.successors(stage))
            for stage in graph.nodes
        }


def variant_stages(
    upstream: dict[str, frozenset[str]], study: str, variants: list[str]
) -> list[str]:
    """DVC's addresses of the train and measure stages of `variants`, trains first. A study may split
    a kind into one foreach block per experiment (`train-gpfq-float_training`,
    `train-gpfq-quantization`, ...), so the names are looked up in DVC's own stage list, `<kind>-<study>[-block]@<variant>`."""
    found = {}
    for address in upstream:
        matched = re.fullmatch(rf".*:(train|measure)-{re.escape(study)}(-[\w-]+)?@(.+)", address)
        if matched:
            found[(matched[1], matched[3])] = address
    missing = [
        f"{kind}@{v}" for kind in ("train", "measure") for v in variants if (kind, v) not in found
    ]
    if missing:
        raise ParamError(
            f"pipelines/{study}/dvc.yaml",
            ", ".join(missing),
            "a train and a measure stage per variant",
        )
    return [found[(kind, variant)] for kind in ("train", "measure") for variant in variants]


def main(argv: list[str]) -> None:
    for command in dvc_commands(argv[0]):
        print("+ " + " ".join(command), flush=True)
        subprocess.run(command, check=True)


if __name__ == "__main__":
    try:
        run(main, "python -m stages.rerun_claim <study.claim_id>")
    except subprocess.CalledProcessError as error:
        sys.exit(error.returncode)
