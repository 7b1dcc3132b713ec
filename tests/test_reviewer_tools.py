"""The reviewer's tools that read DVC: the verdict table (`make verdicts`, stages/experiments.py),
the per-study stage diagrams in README.md (`make dag`, stages/dag_diagram.py, never stale), and a
Makefile that needs no GNU coreutils."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest
from conftest import REPO

from stages import dag_diagram, experiments

# ------------------------------------------------------------------------------ the verdict table


def _revision(rev: str, name: str | None, verdicts: dict, experiments_: list | None = None):
    claims = {}
    for key, verdict in verdicts.items():
        study, claim = key.split(".")
        claims.setdefault(study, {})[claim] = {"verdict": verdict, "p_holds": 0.5}
    return {
        "rev": rev,
        "name": name,
        "data": {"metrics": {"reports/claims.json": {"data": claims}}},
        "experiments": experiments_,
    }


SHOWN = [
    _revision("workspace", None, {"toy.T1": "reproduced", "toy.T2": "inconclusive"}),
    _revision(
        "0123456789abcdef",
        "main",
        {"toy.T1": "reproduced"},
        [{"revs": [_revision("fedcba9876543210", "seeds-100", {"toy.T1": "not_reproduced"})]}],
    ),
]


def test_the_verdict_table_has_a_row_per_claim_and_a_column_per_revision():
    header, rows = experiments.table_rows(experiments.columns(SHOWN))
    assert header == ["claim", "workspace", "main", "seeds-100"]
    assert rows == [
        ["toy.T1", "reproduced", "reproduced", "not_reproduced"],
        ["toy.T2", "inconclusive", "-", "-"],
    ]


def test_the_verdict_table_splits_to_stay_within_the_width():
    header = ["claim", *(f"experiment-{i}" for i in range(12))]
    rows = [["study.C1", *(["not_reproduced"] * 12)], ["study.C2", *(["reproduced"] * 12)]]
    text = experiments.render(header, rows, width=80)
    tables = text.split("\n\n")
    assert len(tables) >= 3
    assert max(len(line) for line in text.splitlines()) <= 80
    assert all(table.startswith("| claim ") for table in tables)
    assert sum(table.splitlines()[0].count("experiment-") for table in tables) == 12


# ------------------------------------------------------------------------------ the stage diagrams

TOY_EDGES = [
    ("pipelines/toy/dvc.yaml:generate-toy", "pipelines/toy/dvc.yaml:train-toy-fast@a"),
    ("pipelines/toy/dvc.yaml:generate-toy", "pipelines/toy/dvc.yaml:train-toy-fast@b"),
    ("pipelines/toy/dvc.yaml:generate-toy", "pipelines/toy/dvc.yaml:aggregate-toy"),  # implied
    ("pipelines/toy/dvc.yaml:train-toy-fast@a", "pipelines/toy/dvc.yaml:aggregate-toy"),
    ("pipelines/toy/dvc.yaml:train-toy-fast@b", "pipelines/toy/dvc.yaml:aggregate-toy"),
    ("pipelines/toy/dvc.yaml:aggregate-toy", "report"),
]


def test_a_diagram_collapses_foreach_instances_and_implied_arrows():
    assert dag_diagram.diagrams(TOY_EDGES) == "\n".join(
        [
            "**toy**",
            "",
            "```mermaid",
            "flowchart LR",
            '  n0["generate"]',
            '  n1["train fast ×2"]',
            '  n2["aggregate"]',
            '  n3["report"]',
            "  n0 --> n1",
            "  n1 --> n2",
            "  n2 --> n3",
            "```",
        ]
    )


def test_the_readme_diagrams_are_what_dvc_says_now(monkeypatch):
    monkeypatch.chdir(REPO)
    text = (REPO / "README.md").read_text()
    generated = dag_diagram.diagrams(dag_diagram.stage_edges())
    assert dag_diagram.replaced(text, generated) == text, "README.md is stale: run `make dag`"
    for study in sorted(p.name for p in (REPO / "pipelines").iterdir() if p.is_dir()):
        assert f"**{study}**" in generated


# ------------------------------------------------------------------------- a fresh machine's make


def test_make_needs_neither_nproc_nor_sha1sum(tmp_path):
    """`make -n` with only python3 on PATH (no GNU coreutils, as on macOS) still plans the run."""
    bare = tmp_path / "bin"
    bare.mkdir()
    (bare / "python3").symlink_to(sys.executable)
    make = shutil.which("make")
    if make is None:
        pytest.fail("make is not installed: the README's first requirement")
    planned = subprocess.run(
        [make, "--no-print-directory", "-n", "repro", "test"],
        cwd=REPO,
        env={"PATH": str(bare)},
        capture_output=True,
        text=True,
    )
    assert planned.returncode == 0, planned.stderr
    assert "-m stages.repro" in planned.stdout and "-m pytest" in planned.stdout
    assert "not found" not in planned.stderr, planned.stderr


def test_make_says_what_is_missing_without_python(tmp_path):
    make = shutil.which("make")
    if make is None:
        pytest.fail("make is not installed: the README's first requirement")
    planned = subprocess.run(
        [make, "-n", "repro", "PYTHON=no-such-python"],
        cwd=REPO,
        env={"PATH": str(tmp_path)},
        capture_output=True,
        text=True,
    )
    assert planned.returncode != 0
    assert "cannot run 'no-such-python': install Python >= 3.11" in planned.stderr
