"""`make claim CLAIM=<study>.<id>` (printed in every report section) must name real stages."""

import pytest
from conftest import REPO
from dvc.repo import Repo

from stages.common import paths
from stages.common.params import ParamError, study_section
from stages.common.registry import load_claims
from stages.common.study import discover_studies
from stages.rerun_claim import dvc_commands


def _claim_keys() -> list[str]:
    studies = discover_studies()
    configs = {name: study.parse(study_section(name)) for name, study in studies.items()}
    return [claim.key for claim in load_claims(paths.CLAIMS_REGISTRY, studies, configs)]


def test_every_claim_reruns_stages_that_dvc_knows(monkeypatch):
    monkeypatch.chdir(REPO)
    with Repo(str(REPO)) as repo:
        known = {stage.addressing for stage in repo.index.stages}
    for key in _claim_keys():
        forced, refresh = dvc_commands(key)
        assert forced[:4] == ["dvc", "repro", "--force", "--single-item"]
        unknown = [address for address in forced[4:] if address not in known]
        assert forced[4:] and not unknown, f"{key}: {unknown}"
        assert refresh == ["python", "-m", "stages.repro", "report"]


def test_an_unknown_claim_names_the_allowed_ones(monkeypatch):
    monkeypatch.chdir(REPO)
    with pytest.raises(ParamError, match="CLAIM = 'sparse_features.C99'.*sparse_features.C1"):
        dvc_commands("sparse_features.C99")
