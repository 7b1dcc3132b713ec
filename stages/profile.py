"""Run the whole pipeline under a params profile, beside the default results, never over them.

    python -m stages.profile <name> [--jobs N]          (what `make repro PROFILE=<name>` runs)

A profile, profiles/<name>.yaml, holds overrides of params.yaml: nested mappings merge, anything
else replaces (a list, a number, a new variant). `paper` runs the papers' own sizes where they do
not fit the default profile's 10-minute budget; its cost per study is in the README. The run
happens in .profiles/<name>/, a copy of the working tree with the merged params.yaml: its own
data/, lock files and reports/ (README.md, claims.json, figures), sharing this project's DVC cache,
so a second run redoes only what changed and the committed default report stays as it is. The
merged params are validated for every study before anything runs.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import yaml

from .common.params import PARAMS_FILE, ParamError, Section, load_yaml
from .common.runtime import usable_cores
from .parallel.workspace import copy_project

PROFILES = Path("profiles")
RUNS = Path(".profiles")


def merge(base: dict, overrides: dict) -> dict:
    """`base` with `overrides` applied: mappings merge key by key, anything else replaces."""
    merged = dict(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def profile_params(name: str, source: Path) -> dict:
    """The project's params.yaml with profiles/<name>.yaml applied, validated for every study
    (a ParamError names the key, the value and what is allowed)."""
    from .common.study import discover_studies

    path = source / PROFILES / f"{name}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in (source / PROFILES).glob("*.yaml"))
        raise ParamError("PROFILE", name, "one of " + ", ".join(known))
    merged = merge(load_yaml(source / PARAMS_FILE), load_yaml(path) or {})
    for study_name, study in discover_studies().items():
        if study_name not in merged:
            raise ParamError(study_name, "<missing>", f"a section in {PARAMS_FILE}")
        study.parse(Section(merged[study_name], study_name))
    return merged


def prepare(name: str, source: Path) -> Path:
    """.profiles/<name>/ with the working tree's current files and the merged params.yaml, its DVC
    cache the one `source` uses; what an earlier run of the profile produced stays (DVC redoes changes)."""
    merged = profile_params(name, source)
    root = copy_project(source, source / RUNS / name)
    (root / PARAMS_FILE).write_text(yaml.safe_dump(merged, sort_keys=False, allow_unicode=True))
    local = root / ".dvc" / "config.local"
    local.write_text(f"[cache]\n    dir = {project_cache(source)}\n")
    return root


def project_cache(source: Path) -> Path:
    """The DVC cache `source` uses: its configured cache.dir (a git worktree's may point at the
    main checkout's), else its own .dvc/cache."""
    from dvc.repo import Repo  # DVC's imports take a second: only when a profile is prepared

    with Repo(str(source)) as repo:
        return Path(repo.cache.local_cache_dir).resolve()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m stages.profile", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("name", help="a profile in profiles/ (e.g. paper)")
    parser.add_argument("--jobs", "-j", type=int, default=usable_cores())
    arguments = parser.parse_args(argv)
    try:
        root = prepare(arguments.name, Path.cwd())
    except ParamError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"profile {arguments.name}: running in {root.relative_to(Path.cwd())}", flush=True)
    command = [sys.executable, "-m", "stages.repro", "--jobs", str(arguments.jobs)]
    status = subprocess.run(command, cwd=root).returncode
    if status == 0:
        print(
            f"profile {arguments.name}: report at {root.relative_to(Path.cwd()) / 'reports' / 'README.md'}"
        )
    return status


if __name__ == "__main__":
    sys.exit(main())
