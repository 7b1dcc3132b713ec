"""What moved against a base revision, as markdown on stdout: `make ci-summary BASE=<rev>`.

The pull-request workflow (.github/workflows/pull-request.yml) appends it to the job summary after
`make check-report` has regenerated the report; .ci/run prints it against HEAD.

- Claims: `dvc metrics diff <BASE> --md` (reports/claims.json: each claim's verdict, statistic,
  interval, p_holds, halves and control).
- Figures: each PNG under reports/figures that was added, removed or changed since <BASE>, and
  `dvc plots diff <BASE> --targets <those figures> -o dvc_plots`: an HTML page with each figure
  beside its <BASE> version (the workflow uploads dvc_plots/ as the `figures-diff` artifact).

Exit status: 0 whatever moved (check-report is the check; this only reports); 2 when <BASE> is not
a revision of this repository.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

FIGURES = "reports/figures"
PLOTS_OUT = "dvc_plots"


def run(*command: str) -> str:
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout


def dvc(*arguments: str) -> str:
    return run(
        sys.executable, "-m", "dvc", *arguments
    )  # this interpreter's DVC, whatever PATH says


def figure_changes(base: str) -> list[tuple[str, str]]:
    """(path, added | removed | changed) for every PNG under reports/figures whose bytes differ
    between `base` and the working tree, by git's blob hashes."""
    before = {}
    for line in run("git", "ls-tree", "-r", base, "--", FIGURES).splitlines():
        meta, path = line.split("\t", 1)
        if path.endswith(".png"):
            before[path] = meta.split()[2]
    now_paths = sorted(str(p) for p in Path(FIGURES).rglob("*.png"))
    hashes = run("git", "hash-object", "--", *now_paths).split() if now_paths else []
    now = dict(zip(now_paths, hashes, strict=True))
    changes = [(path, "removed") for path in sorted(before.keys() - now.keys())]
    changes += [(path, "added") for path in sorted(now.keys() - before.keys())]
    changes += [(p, "changed") for p in sorted(now.keys() & before.keys()) if now[p] != before[p]]
    return sorted(changes)


def summary(base: str) -> str:
    lines = [f"## Claims against `{base}`", ""]
    metrics = dvc("metrics", "diff", base, "--md").strip()
    if len(metrics.splitlines()) <= 2:  # DVC prints the header alone when nothing moved
        metrics = ""
    lines += [
        metrics or "No claim's verdict, statistic, interval, p_holds, halves or control moved.",
        "",
    ]
    lines += [f"## Figures against `{base}`", ""]
    changes = figure_changes(base)
    if not changes:
        lines.append("No figure changed.")
        return "\n".join(lines) + "\n"
    lines += ["| figure | change |", "| --- | --- |"]
    lines += [f"| `{path}` | {change} |" for path, change in changes]
    shown = [path for path, change in changes if change != "removed"]
    if shown:
        dvc("plots", "diff", base, "--targets", *shown, "-o", PLOTS_OUT)
        lines += [
            "",
            f"Each figure beside its `{base}` version: `{PLOTS_OUT}/index.html` "
            "(the `figures-diff` artifact of this run).",
        ]
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python .ci/pr_summary.py <base revision>", file=sys.stderr)
        return 2
    base = argv[0]
    known = subprocess.run(
        ["git", "rev-parse", "--verify", "--quiet", f"{base}^{{commit}}"], capture_output=True
    )
    if known.returncode != 0:
        print(
            f"error: BASE = {base!r}: allowed: a git revision of this repository", file=sys.stderr
        )
        return 2
    sys.stdout.write(summary(base))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
