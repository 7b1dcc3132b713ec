"""What the driver checks before it schedules a stage (`python -m stages.repro`, `make repro`).

Every input a stage will read and validate is read and validated here first, in full: params.yaml
(its sections, every study's section with its variant names, `execution`) and claims.yaml (every
claim against the studies it names). A bad input stops the driver with the one line the stage would
have printed, and exit status 2, before DVC runs anything: no stage is started, so DVC deletes no
output and no lock file changes. The stages check again when they run (a plain `dvc repro`, or a
worker with another params.yaml), so this is a first line, not the only one.

Then the driver waits for what an earlier run left running: DVC processes whose stage commands
outlived a killed driver (each runs in a session of its own, so a kill of the driver's process
group does not reach them) still hold DVC's read/write lock on their stage's files
(.dvc/tmp/rwlock); the driver waits for them to finish, so their stage is recorded and never run
twice, instead of failing on the lock and asking the user to delete it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..common import paths
from ..common.params import EXECUTION, PARAMS_FILE, ParamError, Section, load_params

RWLOCK = Path(".dvc/tmp/rwlock")  # DVC's record of the files each running dvc process reads/writes
POLL_SECONDS = 0.5  # how often the rwlock is read again while an earlier run's stage finishes
WAIT_NOTICE_SECONDS = 30.0  # a line at least this often while waiting


@dataclass(frozen=True)
class Inputs:
    """What the checked inputs hold: counts for the driver's first line, the scheduler to use."""

    studies: int
    variants: int
    claims: int
    scheduler: str | None


def is_this_project(root: Path) -> bool:
    """The pipeline's own project (not one of the tests' toy DVC projects, which have no params)."""
    return any(
        (root / path).exists() for path in (PARAMS_FILE, paths.CLAIMS_REGISTRY, paths.PIPELINES)
    )


def check_inputs() -> Inputs:
    """Validate params.yaml and claims.yaml of the project in the working directory in full: a
    ParamError names the key or file, the value and what is allowed."""
    from ..common.registry import load_claims
    from ..common.study import discover_studies

    params = load_params(PARAMS_FILE)
    execution = Section(params.get(EXECUTION, {}), EXECUTION).only("device", "scheduler")
    if execution.has("device"):
        execution.choice("device", ("cpu", "cuda"))  # whether cuda is present: the stage checks
    scheduler = (
        execution.text("scheduler")
        if execution.has("scheduler") and execution.raw("scheduler")
        else None
    )
    studies = discover_studies()
    configs = {}
    for name, study in studies.items():
        if name not in params:
            raise ParamError(
                name, "<missing>", f"a top-level section named {name!r} in {PARAMS_FILE}"
            )
        configs[name] = study.parse(Section(params[name], name))
    claims = load_claims(paths.CLAIMS_REGISTRY, studies, configs)
    variants = sum(len(study.variant_names(configs[name])) for name, study in studies.items())
    return Inputs(len(studies), variants, len(claims), scheduler)


def live_lock_holders(root: Path) -> dict[int, str]:
    """The live processes DVC's rwlock names (pid -> their dvc command), zombies and reused pids
    left out: DVC itself skips entries of dead pids, not those of processes still running."""
    import psutil

    try:
        lock = json.loads((root / RWLOCK).read_text())
    except (OSError, ValueError):
        return {}
    entries = [
        info
        for mode in ("read", "write")
        for infos in lock.get(mode, {}).values()
        for info in (infos if isinstance(infos, list) else [infos])
    ]
    holders = {}
    for info in entries:
        try:
            process = psutil.Process(int(info["pid"]))
            alive = process.status() != psutil.STATUS_ZOMBIE and "dvc" in " ".join(
                process.cmdline()
            )
        except (psutil.Error, KeyError, TypeError, ValueError):
            alive = False
        if alive:
            holders[int(info["pid"])] = str(info.get("cmd", "?"))
    return holders


def wait_for_earlier_stages(root: Path, say: Callable[[str], None]) -> int:
    """Wait until no live DVC process holds the rwlock; returns how many there were."""
    holders = live_lock_holders(root)
    if not holders:
        return 0
    start = last_notice = time.monotonic()
    say(
        f"waiting for {len(holders)} DVC process(es) of an earlier run to finish their stage: "
        + "; ".join(f"PID {pid}: {command}" for pid, command in sorted(holders.items()))
    )
    count = len(holders)
    while holders:
        time.sleep(POLL_SECONDS)
        holders = live_lock_holders(root)
        if holders and time.monotonic() - last_notice >= WAIT_NOTICE_SECONDS:
            last_notice = time.monotonic()
            say(
                f"still waiting after {last_notice - start:.0f} s for PID(s) {', '.join(map(str, sorted(holders)))}"
            )
    say(f"the earlier run's stages finished after {time.monotonic() - start:.1f} s")
    return count
