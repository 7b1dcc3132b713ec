"""CI's check (`make check-report`): did a verdict move without the committed report moving with it?

    python -m stages.check_report --stale       before regenerating: fail if any stage's code,
                                                params or command differs from what its committed
                                                lock recorded (a change committed without rerunning)
    python -m stages.check_report [--against REF]   after regenerating: compare
                                                reports/claims_detail.json with REF's (default HEAD)

The comparison never looks at bytes (last bits differ between CPUs and flip nothing that matters):
it fails when a claim's verdict or its control's verdict moved, or when a part's statistic left
the interval committed for it (claims_detail.json), and prints a table of what moved. A last-digit
change inside the interval passes. A timed part (wall-clock seconds of the machine that ran it,
`Part.timed`: P2) has no interval another machine must meet; its claim's verdict is still compared.
Exit status: 0 nothing moved; 1 something moved; 2 bad input.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
from pathlib import Path

from .common import paths

COMPARED = ("verdict", "control")  # per claim, from claims.json
SLACK = 1e-6  # relative widening of a committed interval (a deterministic part's is one point)


def moved(committed: dict, regenerated: dict) -> list[tuple[str, str, str, str]]:
    """(claim, what, committed, now) for every verdict that moved and every part's statistic that
    left its committed interval; claims or parts added or removed count as moved. Both arguments
    are claims_detail.json payloads (study -> claim -> verdict, control, parts)."""
    rows = []
    keys = sorted(
        {(s, c) for s in committed for c in committed[s]}
        | {(s, c) for s in regenerated for c in regenerated[s]}
    )
    for study, claim in keys:
        key = f"{study}.{claim}"
        old, new = committed.get(study, {}).get(claim), regenerated.get(study, {}).get(claim)
        if old is None or new is None:
            rows.append((key, "claim", _presence(old), _presence(new)))
            continue
        rows += [
            (key, field, str(old.get(field)), str(new.get(field)))
            for field in COMPARED
            if old.get(field) != new.get(field)
        ]
        old_parts = {p["name"]: p for p in old.get("parts", [])}
        new_parts = {p["name"]: p for p in new.get("parts", [])}
        for name in sorted(old_parts.keys() | new_parts.keys()):
            before, after = old_parts.get(name), new_parts.get(name)
            if before is None or after is None:
                rows.append((key, f"part {name}", _presence(before), _presence(after)))
            elif not before.get("timed") and not _inside(after["statistic"], before):
                low, high = before["interval"]["low"], before["interval"]["high"]
                rows.append(
                    (
                        key,
                        f"part {name}",
                        f"{before['statistic']} [{low}, {high}]",
                        str(after["statistic"]),
                    )
                )
    return rows


def _presence(entry) -> str:
    return "absent" if entry is None else "present"


def _inside(statistic, committed: dict) -> bool:
    """Whether a regenerated part's `statistic` stays where the `committed` part was. None is a
    statistic that could not be formed, or that diverged seeds sent to ±inf (report.py `_rounded`):
    unmoved only if it was None then too. A None bound of the committed interval is an infinite one
    (the bootstrap reached ±inf on that side)."""
    if statistic is None or committed["statistic"] is None:
        return statistic is None and committed["statistic"] is None
    low, high = committed["interval"]["low"], committed["interval"]["high"]
    low = -math.inf if low is None else low
    high = math.inf if high is None else high
    slack = SLACK * max(abs(b) for b in (low, high, statistic) if math.isfinite(b))
    return low - slack <= statistic <= high + slack


def committed_detail(ref: str) -> dict:
    try:
        shown = subprocess.run(
            ["git", "show", f"{ref}:{paths.CLAIMS_DETAIL}"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError) as error:
        raise SystemExit(f"error: cannot read {paths.CLAIMS_DETAIL} at {ref}: {error}") from None
    return json.loads(shown)


def stale_stages() -> list[str]:
    """Stages whose committed lock recorded other code, params or command than the tree holds now.
    Missing data (a clean clone) does not count: only what a commit changes."""
    from dvc.repo import Repo

    stale = []
    with Repo(".") as repo, repo.lock:
        for stage in repo.index.stages:
            for entry in stage.status().get(stage.addressing, []):
                if entry == "changed command" or (
                    isinstance(entry, dict) and "changed command" in entry
                ):
                    stale.append(f"{stage.addressing}: command")
                    continue
                for path, state in (
                    entry.get("changed deps", {}) if isinstance(entry, dict) else {}
                ).items():
                    if state == "modified" or isinstance(state, dict):
                        stale.append(f"{stage.addressing}: {path}")
    return stale


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m stages.check_report", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--against", default="HEAD", help="the commit whose report is the reference"
    )
    parser.add_argument(
        "--stale", action="store_true", help="check the locks against the tree instead"
    )
    arguments = parser.parse_args(argv)
    if arguments.stale:
        stale = stale_stages()
        for line in stale:
            print(f"stale: {line}", file=sys.stderr)
        if stale:
            print(
                f"error: {len(stale)} stage dependencies changed since their lock was committed: run `make repro` and commit dvc.lock, pipelines/**/dvc.lock and reports/",
                file=sys.stderr,
            )
            return 1
        print("every stage's lock matches the code, params and commands it records")
        return 0
    if not Path(paths.CLAIMS_DETAIL).is_file():
        print(f"error: {paths.CLAIMS_DETAIL} is missing: run `make repro` first", file=sys.stderr)
        return 2
    rows = moved(
        committed_detail(arguments.against), json.loads(Path(paths.CLAIMS_DETAIL).read_text())
    )
    if not rows:
        print(
            f"no verdict moved and every headline statistic is inside its interval at {arguments.against}"
        )
        return 0
    print("| claim | what | committed | now |\n| --- | --- | --- | --- |")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print(
        f"error: {len(rows)} result(s) moved: commit the regenerated reports/ with the change that moved them",
        file=sys.stderr,
    )
    return 1


if __name__ == "__main__":
    sys.exit(main())
