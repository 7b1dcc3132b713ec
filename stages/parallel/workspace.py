"""A throwaway copy of the project for a cold run (the end-to-end test, the parallel benchmark).

The copy holds the git-tracked and untracked-but-not-ignored files, without generated state
(dvc.lock files, data/, reports/), a link to the project's .venv, and a git repository of its own
(DVC needs one); its DVC cache starts empty, so every stage runs.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

GENERATED = ("dvc.lock", "data/", "reports/")  # prefixes; plus pipelines/<study>/dvc.lock


def copy_project(source: Path, destination: Path) -> Path:
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"],
        cwd=source,
        check=True,
        capture_output=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        origin = source / name
        if name.startswith(GENERATED) or name.endswith("/dvc.lock") or not origin.is_file():
            continue
        target = destination / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(origin, target)
    (destination / ".venv").symlink_to(source / ".venv", target_is_directory=True)
    subprocess.run(["git", "init", "-q"], cwd=destination, check=True)
    return destination
