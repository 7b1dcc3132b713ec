"""Every claim's verdict per revision and DVC experiment, one row per claim: `make verdicts`.

    python -m stages.experiments [--width 200] [dvc exp show options, e.g. -n 3, -A, --rev main]

`dvc exp show` gives every claim's verdict a column of its own (`sparse_features.C1.verdict`, ...):
17 claims are some 500 columns before the first parameter. This prints the same metrics turned
around, from `dvc exp show --json` with the options given: a row per claim, a column per revision
(the workspace, each commit shown, each experiment by name), split into as many tables as it takes
to keep every line within --width columns.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

from .common import paths

UNKNOWN = "-"  # a revision without this claim, or without reports/claims.json


def columns(shown: list[dict]) -> list[tuple[str, dict]]:
    """(label, claims.json payload) per revision in `dvc exp show --json` order: each baseline (the
    workspace, then commits), followed by the experiments derived from it."""
    found = []
    for baseline in shown:
        found.append((_label(baseline), _claims(baseline)))
        for experiment in baseline.get("experiments") or []:
            for rev in experiment.get("revs") or []:
                found.append((_label(rev), _claims(rev)))
    return found


def _label(entry: dict) -> str:
    return entry.get("name") or (entry["rev"][:7] if entry["rev"] != "workspace" else "workspace")


def _claims(entry: dict) -> dict:
    metrics = (entry.get("data") or {}).get("metrics") or {}
    return (metrics.get(str(paths.CLAIMS_JSON)) or {}).get("data") or {}


def table_rows(found: list[tuple[str, dict]]) -> tuple[list[str], list[list[str]]]:
    """(header, rows): a row per claim (`study.id`, in claims.json order), a verdict per revision."""
    claims = []
    for _, payload in found:
        for study, entries in payload.items():
            for claim in entries:
                if f"{study}.{claim}" not in claims:
                    claims.append(f"{study}.{claim}")
    header = ["claim", *(label for label, _ in found)]
    rows = []
    for key in claims:
        study, claim = key.split(".", 1)
        verdicts = [
            str(payload.get(study, {}).get(claim, {}).get("verdict", UNKNOWN))
            for _, payload in found
        ]
        rows.append([key, *verdicts])
    return header, rows


def render(header: list[str], rows: list[list[str]], width: int) -> str:
    """Markdown tables, the claim column repeated in each, as many as keep lines within `width`."""
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    chunks, current, used = [], [], widths[0] + 4
    for i in range(1, len(header)):
        if current and used + widths[i] + 3 > width:
            chunks.append(current)
            current, used = [], widths[0] + 4
        current.append(i)
        used += widths[i] + 3
    chunks.append(current)
    tables = []
    for chunk in chunks:
        picked = [0, *chunk]
        lines = [_line([header[i].ljust(widths[i]) for i in picked])]
        lines.append(_line(["-" * widths[i] for i in picked]))
        lines += [_line([row[i].ljust(widths[i]) for i in picked]) for row in rows]
        tables.append("\n".join(lines))
    return "\n\n".join(tables)


def _line(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m stages.experiments", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--width", type=int, default=200, help="longest line (default 200)")
    arguments, passed = parser.parse_known_args(argv)
    if arguments.width < 40:
        print(f"error: --width = {arguments.width}: allowed: an integer >= 40", file=sys.stderr)
        return 2
    shown = subprocess.run(
        [sys.executable, "-m", "dvc", "exp", "show", "--json", "--no-pager", *passed],
        capture_output=True,
        text=True,
    )
    if shown.returncode != 0:
        sys.stderr.write(shown.stderr)
        return shown.returncode
    header, rows = table_rows(columns(json.loads(shown.stdout)))
    if not rows:
        print(f"error: no revision shown has {paths.CLAIMS_JSON}", file=sys.stderr)
        return 1
    print(render(header, rows, arguments.width))
    return 0


if __name__ == "__main__":
    sys.exit(main())
