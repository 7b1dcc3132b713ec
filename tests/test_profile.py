"""Params profiles (stages/profile.py): overrides that merge into params.yaml, validated for every
study before anything runs, and run in a copy that keeps its own results between runs."""

from __future__ import annotations

import pytest
import yaml
from conftest import REPO

from stages.common.params import ParamError
from stages.parallel.workspace import copy_project
from stages.profile import merge, prepare, profile_params


def test_merge_merges_mappings_and_replaces_the_rest():
    base = {"a": {"b": 1, "c": [1, 2]}, "d": 2}
    assert merge(base, {"a": {"c": [3]}, "e": {"f": 1}}) == {
        "a": {"b": 1, "c": [3]},
        "d": 2,
        "e": {"f": 1},
    }
    assert base == {"a": {"b": 1, "c": [1, 2]}, "d": 2}, "the base is not modified"


@pytest.mark.parametrize("name", sorted(p.stem for p in (REPO / "profiles").glob("*.yaml")))
def test_every_committed_profile_gives_params_that_every_study_accepts(name):
    merged = profile_params(name, REPO)
    assert set(yaml.safe_load((REPO / "params.yaml").read_text())) <= set(merged)


@pytest.fixture()
def project(tmp_path):
    source = copy_project(REPO, tmp_path / "project")
    (source / "profiles" / "tiny.yaml").write_text(
        (REPO / "tests" / "profiles" / "tiny.yaml").read_text()
    )
    return source


def test_an_unknown_profile_names_the_known_ones(project):
    with pytest.raises(ParamError, match="PROFILE = 'papr'.*paper"):
        profile_params("papr", project)


def test_a_bad_override_stops_before_anything_is_copied(project):
    (project / "profiles" / "bad.yaml").write_text("gpfq:\n  setup:\n    first_seed: -3\n")
    with pytest.raises(ParamError, match="gpfq.setup.first_seed = -3"):
        prepare("bad", project)
    assert not (project / ".profiles").exists()


def test_a_profile_shares_the_cache_the_project_is_configured_with(project, tmp_path):
    """A git worktree's cache is often the main checkout's (cache.dir in .dvc/config.local)."""
    shared = tmp_path / "shared-cache"
    (project / ".dvc" / "config.local").write_text(f"[cache]\n    dir = {shared}\n")
    root = prepare("tiny", project)
    assert f"dir = {shared.resolve()}\n" in (root / ".dvc" / "config.local").read_text()


def test_a_profile_runs_in_a_copy_that_keeps_its_results_and_drops_removed_files(project):
    (project / ".dvc" / "config.local").unlink(missing_ok=True)
    root = prepare("tiny", project)
    assert root == project / ".profiles" / "tiny"
    merged = yaml.safe_load((root / "params.yaml").read_text())
    tiny = yaml.safe_load((project / "profiles" / "tiny.yaml").read_text())
    assert merged == merge(yaml.safe_load((project / "params.yaml").read_text()), tiny)
    assert (
        str((project / ".dvc" / "cache").resolve()) in (root / ".dvc" / "config.local").read_text()
    )
    (root / "data").mkdir()
    (root / "data" / "kept.npz").write_bytes(b"results of an earlier run")
    (project / "stages" / "extra_module.py").write_text("VALUE = 1\n")
    prepare("tiny", project)
    assert (root / "stages" / "extra_module.py").is_file()
    (project / "stages" / "extra_module.py").unlink()
    prepare("tiny", project)
    assert not (root / "stages" / "extra_module.py").exists()
    assert (root / "data" / "kept.npz").read_bytes() == b"results of an earlier run"
    assert not (root / ".profiles").exists(), "a profile's copy holds no copy of itself"
