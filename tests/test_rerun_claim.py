"""`make claim CLAIM=<study>.<id>` (printed in every report section) must name real stages, and on a
fresh clone with no data it must first bring up to date every stage the claim's runs read."""

import sys

import pytest
from conftest import REPO

from stages.common.params import ParamError
from stages.rerun_claim import (
    REPORT_STAGE,
    commands_for,
    dvc_commands,
    load_all_claims,
    stage_upstream,
)

DRIVER = [sys.executable, "-m", "stages.repro"]
FORCED = [sys.executable, "-m", "dvc", "repro", "--force", "--single-item"]


@pytest.fixture(scope="module")
def project():
    """(every claim by key, DVC's stage graph) of this repository, read once."""
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(REPO)
        return load_all_claims(), stage_upstream()


def _split(commands: list[list[str]]) -> tuple[list[str], list[str]]:
    """(the stages brought up to date first, the stages forced), checking the commands' shape."""
    *first, forced, refresh = commands
    assert refresh == [*DRIVER, REPORT_STAGE]
    assert forced[: len(FORCED)] == FORCED
    assert len(first) <= 1
    if first:
        assert first[0][: len(DRIVER)] == DRIVER
    return (first[0][len(DRIVER) :] if first else []), forced[len(FORCED) :]


def test_every_claim_reruns_stages_that_dvc_knows(project):
    claims, upstream = project
    for key, claim in claims.items():
        read, forced = _split(commands_for(claim, upstream))
        unknown = [address for address in read + forced if address not in upstream]
        assert forced and not unknown, f"{key}: {unknown}"
        study = key.split(".")[0]
        assert all(f"-{study}" in address for address in forced), (key, forced)


def test_a_claim_first_brings_up_to_date_everything_its_runs_read(project):
    """On a fresh clone nothing exists: every stage a forced stage reads must be forced before it
    (a train before its measure) or be a target of the first command (generate, probe, the runs of
    another variant), which `python -m stages.repro` runs with its own upstream stages if needed."""
    claims, upstream = project
    for key, claim in claims.items():
        read, forced = _split(commands_for(claim, upstream))
        assert read, f"{key}: nothing is brought up to date before the forced stages"
        assert not set(read) & set(forced), key
        for position, stage in enumerate(forced):
            for needed in upstream[stage]:
                assert needed in read or needed in forced[:position], (key, stage, needed)


def test_an_unknown_claim_names_the_allowed_ones(monkeypatch):
    monkeypatch.chdir(REPO)
    with pytest.raises(ParamError, match="CLAIM = 'sparse_features.C99'.*sparse_features.C1"):
        dvc_commands("sparse_features.C99")
