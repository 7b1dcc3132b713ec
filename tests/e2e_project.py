"""Temporary copies of this project for the end-to-end tests: the tiny profile applied, cut down to a
slice of its studies, and the commands run in them (never in the working tree itself)."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import pytest
import yaml
from conftest import REPO
from params_profile import apply_profile

from stages.parallel.workspace import copy_project

VENV = REPO / ".venv"
# a ceiling against a hung command, not a measure of speed: far above any run on a loaded machine
CEILING_SECONDS = 1800


def copy_repository(destination: Path) -> Path:
    """A cold copy of the working tree (stages/parallel/workspace.py) with the tiny profile applied."""
    copy_project(REPO, destination)
    apply_profile(destination / "params.yaml", REPO / "tests" / "profiles" / "tiny.yaml")
    return destination


def environment() -> dict:
    env = {
        key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "VIRTUAL_ENV")
    }
    env.update(
        PATH=f"{VENV / 'bin'}{os.pathsep}{env.get('PATH', '')}",
        OMP_NUM_THREADS="1",
        OMP_WAIT_POLICY="PASSIVE",
        PYTHONHASHSEED="0",
        DVC_NO_ANALYTICS="1",
    )
    return env


def run(
    command: list[str], cwd: Path, timeout: float = CEILING_SECONDS
) -> subprocess.CompletedProcess:
    return subprocess.run(
        command, cwd=cwd, env=environment(), capture_output=True, text=True, timeout=timeout
    )


def checked(
    command: list[str], cwd: Path, timeout: float = CEILING_SECONDS
) -> subprocess.CompletedProcess:
    result = run(command, cwd, timeout)
    if result.returncode != 0:
        pytest.fail(
            f"{' '.join(command)} exited {result.returncode}\n--- stdout\n{result.stdout[-4000:]}"
            f"\n--- stderr\n{result.stderr[-4000:]}"
        )
    return result


def parallel_repro(root: Path, *arguments: str) -> subprocess.CompletedProcess:
    """`make repro`'s command: the stages on a local Dask cluster (stages/parallel)."""
    return checked([str(VENV / "bin" / "python"), "-m", "stages.repro", *arguments], root)


def git(root: Path, *arguments: str) -> None:
    checked(
        ["git", "-c", "user.name=test", "-c", "user.email=test@example.invalid", *arguments], root
    )


def stage_counts(root: Path) -> Counter:
    """How many stages each study's pipelines/<study>/dvc.yaml declares, by DVC's own list."""
    listed = checked(["dvc", "stage", "list", "--all", "--name-only"], root).stdout.split()
    return Counter(
        name.split("/")[1] for name in listed if name.startswith("pipelines/") and ":" in name
    )


def smallest_study(root: Path) -> str:
    """The study with the fewest stages (the first by name among equals): the cheapest real DAG."""
    counts = stage_counts(root)
    return min(sorted(counts), key=lambda study: counts[study])


def slice_project(root: Path, keep: set[str]) -> Path:
    """The copy at `root` cut down to the studies in `keep`, as if the others had never been
    plugged in: their packages, pipelines, params and claims removed, and the report stage's
    dependencies and params on them dropped (a study plugs in by adding exactly these)."""
    dropped = {p.name for p in (root / "pipelines").iterdir() if p.is_dir()} - keep
    for study in dropped:
        shutil.rmtree(root / "stages" / "studies" / study)
        shutil.rmtree(root / "pipelines" / study)
    for name in ("params.yaml", "claims.yaml"):
        payload = yaml.safe_load((root / name).read_text())
        kept = {key: value for key, value in payload.items() if key not in dropped}
        (root / name).write_text(yaml.safe_dump(kept, sort_keys=False, allow_unicode=True))
    declared = yaml.safe_load((root / "dvc.yaml").read_text())
    for stage in declared["stages"].values():
        stage["deps"] = [d for d in stage.get("deps", []) if not _names(d, dropped)]
        stage["params"] = [
            _without(p, dropped) for p in stage.get("params", []) if not _names_key(p, dropped)
        ]
    (root / "dvc.yaml").write_text(yaml.safe_dump(declared, sort_keys=False, allow_unicode=True))
    return root


def _names(dependency: str, studies: set[str]) -> bool:
    return any(dependency.startswith(f"stages/studies/{study}/") for study in studies)


def _names_key(params, studies: set[str]) -> bool:
    return isinstance(params, str) and params.split(".")[0] in studies


def _without(params, studies: set[str]):
    """A params entry (`key` or `{file: [keys]}`) without the keys of `studies`."""
    if isinstance(params, dict):
        return {
            file: [k for k in keys if k.split(".")[0] not in studies]
            for file, keys in params.items()
        }
    return params
