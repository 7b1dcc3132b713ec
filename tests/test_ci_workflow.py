"""The forge's CI (.github/workflows/*.yml) cannot run here, so what it runs is checked here: the
workflow passes actionlint (pinned in requirements.txt), every `run:` step is a make target that
.ci/run runs too, and the summary it posts (`make ci-summary`, .ci/pr_summary.py) names a moved
verdict and a changed figure in a small DVC project."""

from __future__ import annotations

import io
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import matplotlib
import pytest
import yaml
from conftest import REPO

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

WORKFLOWS = sorted((REPO / ".github" / "workflows").glob("*.yml"))
ACTIONLINT = Path(sys.executable).parent / "actionlint"


def actionlint(*files: Path) -> subprocess.CompletedProcess:
    if not ACTIONLINT.is_file():
        pytest.fail(f"{ACTIONLINT} is missing: `make test` installs it from requirements.txt")
    return subprocess.run(
        [str(ACTIONLINT), "-no-color", *map(str, files)], capture_output=True, text=True, cwd=REPO
    )


def make_targets(script: str) -> list[str]:
    """The make targets a shell script runs (`make <target> [VAR=value ...]` lines)."""
    return [m[1] for m in re.finditer(r"^\s*make\s+([\w-]+)", script, flags=re.M)]


def test_there_is_a_pull_request_workflow():
    assert WORKFLOWS, "no workflow under .github/workflows"
    triggers = [yaml.safe_load(path.read_text())[True] for path in WORKFLOWS]  # YAML 1.1: on = True
    assert any("pull_request" in trigger for trigger in triggers)


def test_actionlint_passes_on_every_workflow():
    result = actionlint(*WORKFLOWS)
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_fails_on_a_broken_workflow(tmp_path):
    """The lint can fail: a job without `runs-on` and an expression on an unknown context."""
    broken = tmp_path / "broken.yml"
    broken.write_text(
        "on: pull_request\njobs:\n  j:\n    steps:\n      - run: echo ${{ nosuch.value }}\n"
    )
    result = actionlint(broken)
    assert result.returncode != 0
    assert "runs-on" in result.stdout and "nosuch" in result.stdout, result.stdout


def test_every_run_step_is_a_make_target_that_ci_runs_here():
    ci_targets = make_targets((REPO / ".ci" / "run").read_text())
    makefile = (REPO / "Makefile").read_text()
    for target in ci_targets:
        assert re.search(rf"^{re.escape(target)}:", makefile, flags=re.M), target
    for path in WORKFLOWS:
        for job in yaml.safe_load(path.read_text())["jobs"].values():
            for step in job["steps"]:
                if "run" not in step:
                    continue
                words = shlex.split(step["run"].split(">>")[0])
                assert words[0] == "make" and len(words) >= 2, (path.name, step["run"])
                assert words[1] in ci_targets, f"{path.name}: `{step['run']}` is not run by .ci/run"
                assert all("=" in word for word in words[2:]), step["run"]


# ------------------------------------------------------------------- the summary, in a small project

FIGURE = "reports/figures/toy/curve.png"


def _git(root: Path, *arguments: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=test", "-c", "user.email=test@example.invalid", *arguments],
        cwd=root,
        check=True,
        capture_output=True,
    )


def _summary(root: Path, base: str) -> subprocess.CompletedProcess:
    environment = {**os.environ, "DVC_NO_ANALYTICS": "1"}
    return subprocess.run(
        [sys.executable, str(REPO / ".ci" / "pr_summary.py"), base],
        cwd=root,
        capture_output=True,
        text=True,
        env=environment,
    )


def _png(seed: int) -> bytes:
    figure, axes = plt.subplots(figsize=(2, 2))
    axes.plot([0, 1, 2], [seed, seed + 1, seed * 2])
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    plt.close(figure)
    return buffer.getvalue()


@pytest.fixture()
def project(tmp_path) -> Path:
    root = tmp_path / "project"
    root.mkdir()
    _git(root, "init", "-q")
    subprocess.run(
        [sys.executable, "-m", "dvc", "init", "-q"], cwd=root, check=True, capture_output=True
    )
    (root / "dvc.yaml").write_text(
        "metrics:\n  - reports/claims.json\nplots:\n  - reports/figures\n"
    )
    (root / "reports").mkdir()
    (root / "reports" / "claims.json").write_text('{"toy": {"T1": {"verdict": "reproduced"}}}\n')
    (root / FIGURE).parent.mkdir(parents=True)
    (root / FIGURE).write_bytes(_png(1))
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "-m", "base")
    return root


def test_the_summary_names_a_moved_verdict_and_the_changed_figures(project):
    (project / "reports" / "claims.json").write_text(
        '{"toy": {"T1": {"verdict": "inconclusive"}}}\n'
    )
    (project / FIGURE).write_bytes(_png(2))
    (project / "reports" / "figures" / "toy" / "new.png").write_bytes(_png(3))
    result = _summary(project, "HEAD")
    assert result.returncode == 0, result.stderr
    text = result.stdout
    assert re.search(r"\|\s*reports/claims\.json\s*\|\s*toy\.T1\.verdict\s*\|", text), text
    assert "reproduced" in text and "inconclusive" in text
    assert f"| `{FIGURE}` | changed |" in text
    assert "| `reports/figures/toy/new.png` | added |" in text
    page = (project / "dvc_plots" / "index.html").read_text()
    assert "HEAD" in page and "workspace" in page


def test_the_summary_says_so_when_nothing_moved(project):
    result = _summary(project, "HEAD")
    assert result.returncode == 0, result.stderr
    assert "No claim's verdict" in result.stdout and "No figure changed." in result.stdout
    assert not (project / "dvc_plots").exists()


def test_an_unknown_base_stops_with_one_line(project):
    result = _summary(project, "no-such-branch")
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "error: BASE = 'no-such-branch': allowed: a git revision of this repository"
    )
