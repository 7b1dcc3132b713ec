"""Rerun one claim: retrain and remeasure the variants its registry entry names, then bring the
tables, figures and report up to date. Printed in each section of reports/README.md.

    python -m stages.rerun_claim sparse_features.C3      (or: make claim CLAIM=sparse_features.C3)
"""

import re
import subprocess
import sys

from .common import paths
from .common.entry import run
from .common.params import ParamError, study_section
from .common.registry import load_claims
from .common.study import discover_studies


def dvc_commands(claim_key: str) -> list[list[str]]:
    studies = discover_studies()
    configs = {name: study.parse(study_section(name)) for name, study in studies.items()}
    claims = {claim.key: claim for claim in load_claims(paths.CLAIMS_REGISTRY, studies, configs)}
    if claim_key not in claims:
        raise ParamError("CLAIM", claim_key, "one of " + ", ".join(claims))
    claim = claims[claim_key]
    forced = variant_stages(claim.study, claim.variants)
    return [
        ["dvc", "repro", "--force", "--single-item", *forced],
        ["python", "-m", "stages.repro", "report"],
    ]


def variant_stages(study: str, variants: list[str]) -> list[str]:
    """DVC's addresses of the train and measure stages of `variants`, trains first. A study may split
    a kind into several foreach blocks (`train-gpfq` and `train-gpfq-quantize`, for variants that read
    others' runs), so the names are looked up in DVC's own stage list, `<kind>-<study>[-block]@<variant>`."""
    from dvc.repo import Repo

    with Repo(".") as repo:
        addresses = [stage.addressing for stage in repo.index.stages]
    found = {}
    for address in addresses:
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
