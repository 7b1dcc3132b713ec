"""Stage dependencies as precise as the imports: every stage in dvc.yaml and pipelines/**/dvc.yaml
lists exactly the project files its command imports (tests/stage_dependencies.py), so an edit to a
check reruns only the report and an edit to a figure only render and the report."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import REPO
from stage_dependencies import REPORT, STAGE_KINDS, differences, imported_files

from stages.common.study import study_names


def test_every_stage_declares_exactly_the_code_it_imports():
    found = differences()
    assert not found, (
        "code deps differ from the imports (fix with `python tests/stage_dependencies.py --write`):\n"
        + json.dumps(found, indent=2)
    )


def test_a_check_or_a_figure_is_a_dependency_of_the_report_or_render_only():
    for study in study_names():
        checks, figures = (f"stages/studies/{study}/{role}.py" for role in ("checks", "figures"))
        for kind, (entry, roles) in STAGE_KINDS.items():
            files = imported_files(entry, [study], roles)
            assert checks not in files, f"{kind} of {study} imports its checks"
            assert (figures in files) == (kind == "render"), f"{kind} of {study} and its figures"
        assert checks in imported_files(REPORT[0], list(study_names()), REPORT[1])


# What a fresh interpreter really loads when it runs the stage's imports: the closure read from
# the source must cover it (it may hold more: imports inside functions a run did not reach).
_LOADED = r"""
import importlib, json, sys
sys.path.insert(0, sys.argv[1])
importlib.import_module(sys.argv[2])
from stages.common.study import load_study
for study in json.loads(sys.argv[3]):
    for role in json.loads(sys.argv[4]):
        load_study(study).module(role)
from pathlib import Path
print(json.dumps(sorted(str(Path(m.__file__).resolve().relative_to(sys.argv[1]))
                        for n, m in list(sys.modules.items())
                        if n.split(".")[0] == "stages" and getattr(m, "__file__", None))))
"""


@pytest.mark.parametrize("kind", [*STAGE_KINDS, "report"])
def test_the_closure_covers_what_an_interpreter_loads(kind):
    entry, roles = REPORT if kind == "report" else STAGE_KINDS[kind]
    studies = list(study_names()) if kind == "report" else ["gpfq"]
    loaded = subprocess.run(
        [sys.executable, "-c", _LOADED, str(REPO), entry, json.dumps(studies), json.dumps(roles)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert set(json.loads(loaded.stdout)) <= set(imported_files(entry, studies, roles))


def test_the_report_declares_the_rule_and_every_tolerance_as_params():
    """`dvc params diff` and `dvc exp show` list what can move a verdict, and no prose: the rule and
    each claim's tolerance block are params, the rest of claims.yaml a file dependency."""
    import yaml

    report = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]["report"]
    (declared,) = [entry["claims.yaml"] for entry in report["params"] if "claims.yaml" in entry]
    claims = yaml.safe_load((REPO / "claims.yaml").read_text())
    rule = [f"tolerance_rule.{k}" for k in claims["tolerance_rule"] if k != "text"]  # numbers only
    expected = rule + [
        f"{study}.{claim}.tolerance"
        for study, entries in claims.items()
        if study != "tolerance_rule"
        for claim in entries
    ]
    assert sorted(declared) == sorted(expected)
    assert "claims.yaml" in report["deps"]


def test_no_stage_command_pastes_a_params_value_into_the_shell():
    """Plain `dvc repro` interpolates `${...}` into the shell line before any of our code runs:
    a command must take its variant from DVC_STAGE instead (tests/test_bad_inputs.py shows why)."""
    from ruamel.yaml import YAML
    from stage_dependencies import declared_stages

    for path, name, _, _ in declared_stages():
        stage = YAML().load(path.read_text())["stages"][name]
        command = stage.get("do", stage)["cmd"]
        assert "${" not in command, f"{path.relative_to(REPO)}:{name}: {command}"


def test_every_committed_lock_entry_is_a_declared_stage():
    """DVC keeps a renamed or removed stage's dvc.lock entry forever; the driver drops them before a
    run (stages/parallel/dag.py), so a committed lock holding one was not written by it."""
    from stages.parallel.dag import stale_lock_entries

    assert stale_lock_entries(REPO) == {}, "prune with `python -m stages.repro`"
