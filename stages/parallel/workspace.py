"""A copy of the project for a run apart from the working tree (the end-to-end test, the parallel
benchmark, a params profile's run in .profiles/<name>/).

The copy holds the git-tracked and untracked-but-not-ignored files, without generated state
(dvc.lock files, data/, reports/), a link to the project's .venv, and a git repository of its own
(DVC needs one). Copying into an earlier copy refreshes it: its generated state stays (so DVC redoes
only what changed), and files since removed from the source are removed from it.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

GENERATED = ("dvc.lock", "data/", "reports/")  # prefixes; plus every pipelines/**/dvc.lock
MANIFEST = ".copied-files"  # in the copy: what the last copy brought, to find files since removed


def copy_project(source: Path, destination: Path) -> Path:
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"],
        cwd=source,
        check=True,
        capture_output=True,
    ).stdout.decode()
    names = [
        name
        for name in filter(None, listed.split("\0"))
        if not (name.startswith(GENERATED) or name.endswith("/dvc.lock"))
        and (source / name).is_file()
        and not name.startswith(".profiles/")
    ]
    manifest = destination / MANIFEST
    previous = set(filter(None, manifest.read_text().split("\0"))) if manifest.exists() else set()
    for stale in sorted(previous - set(names)):
        (destination / stale).unlink(missing_ok=True)
    for name in names:
        target = destination / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source / name, target)
    manifest.write_text("\0".join(names))
    if not (destination / ".venv").exists():
        (destination / ".venv").symlink_to(source / ".venv", target_is_directory=True)
    if not (destination / ".git").exists():
        subprocess.run(["git", "init", "-q"], cwd=destination, check=True)
    return destination
