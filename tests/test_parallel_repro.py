"""Parallel repro (`python -m stages.repro`) on small DVC projects built here.

Stages are one-line Python commands, so each test costs DVC's own start-up and little else. What is
checked: the graph and the stages to run come from DVC; a failed stage stops only its dependants
and is named with its error lines; 1 and 2 workers leave identical dvc.lock hashes and a plain
`dvc repro` with nothing to do; an interrupted run leaves no partial output and no stale lock, and
a restart completes with the same hashes; a hand-started Dask scheduler and workers run it too.
The end-to-end test of the real pipeline runs it as well (tests/test_pipeline_end_to_end.py).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from conftest import REPO

from stages.parallel.dag import StageGraph
from stages.parallel.runner import remaining_work

VENV_BIN = REPO / ".venv" / "bin"


def _write(name: str, text: str, *reads: str, sleep: float = 0.0) -> str:
    """A stage command writing `text` plus the contents of the files it reads (so hashes chain)."""
    body = f"import time; time.sleep({sleep}); " if sleep else ""
    body += f"data = {text!r} + ''.join(open(p).read() for p in {list(reads)!r}); open({name!r}, 'w').write(data)"
    return f'python -c "{body}"'


def _stage(name: str, *reads: str, sleep: float = 0.0, command: str | None = None) -> dict:
    entry = {
        "cmd": command or _write(f"{name}.txt", name, *(f"{r}.txt" for r in reads), sleep=sleep),
        "outs": [f"{name}.txt"],
    }
    if reads:
        entry["deps"] = [f"{r}.txt" for r in reads]
    return entry


DIAMOND = {
    "a": _stage("a"),
    "b": _stage("b", "a"),
    "c": _stage("c", "a"),
    "d": _stage("d", "b", "c"),
    "lone": _stage("lone"),
}


def _environment() -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV",)}
    env.update(
        PATH=f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}",
        PYTHONPATH=str(REPO),
        DVC_NO_ANALYTICS="1",
        OMP_NUM_THREADS="1",
        PYTHONHASHSEED="0",
    )
    return env


def project(root: Path, stages: dict) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    subprocess.run([str(VENV_BIN / "dvc"), "init", "-q"], cwd=root, check=True, env=_environment())
    (root / "dvc.yaml").write_text(yaml.safe_dump({"stages": stages}, sort_keys=False))
    return root


def repro(root: Path, *arguments: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(VENV_BIN / "python"), "-m", "stages.repro", *arguments],
        cwd=root,
        env=_environment(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def lock_hashes(root: Path) -> dict[str, str]:
    lock = yaml.safe_load((root / "dvc.lock").read_text())
    return {
        f"{stage}:{out['path']}": out["md5"]
        for stage, entry in lock["stages"].items()
        for out in entry["outs"]
    }


def plain_dvc_repro_is_a_no_op(root: Path) -> bool:
    result = subprocess.run(
        [str(VENV_BIN / "dvc"), "repro"],
        cwd=root,
        env=_environment(),
        capture_output=True,
        text=True,
        check=True,
    )
    return "Running stage" not in result.stdout


# ----------------------------------------------------------------------------- the graph itself
def test_critical_path_and_remaining_work_have_known_answers():
    graph = StageGraph(
        {
            "a": frozenset(),
            "b": frozenset({"a"}),
            "c": frozenset({"a"}),
            "d": frozenset({"b", "c"}),
            "lone": frozenset(),
        },
        ("a", "b", "c", "d", "lone"),
    )
    seconds = {"a": 1.0, "b": 5.0, "c": 2.0, "d": 1.0, "lone": 6.0}
    assert graph.critical_path(seconds) == (7.0, ["a", "b", "d"])
    assert remaining_work(graph, seconds) == {"a": 7.0, "b": 6.0, "c": 3.0, "d": 1.0, "lone": 6.0}
    assert graph.downstream_of("a") == {"b", "c", "d"} and graph.downstream_of("lone") == set()


def test_a_cycle_is_reported():
    with pytest.raises(ValueError, match="cycle"):
        StageGraph({"x": frozenset({"y"}), "y": frozenset({"x"})}, ()).topological()


# ----------------------------------------------------------------------------- runs
def test_one_and_two_workers_give_identical_hashes_and_leave_nothing_to_run(tmp_path):
    serial, parallel = (
        project(tmp_path / "serial", DIAMOND),
        project(tmp_path / "parallel", DIAMOND),
    )
    first = repro(serial, "--jobs", "1")
    second = repro(parallel, "--jobs", "2")
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    assert (
        "5 ran" in second.stdout
        and "speed-up" in second.stdout
        and "critical path" in second.stdout
    )
    assert lock_hashes(serial) == lock_hashes(parallel) and len(lock_hashes(serial)) == 5
    assert (parallel / "d.txt").read_text() == "dbaca"
    assert plain_dvc_repro_is_a_no_op(parallel)
    again = repro(parallel, "--jobs", "2")
    assert again.returncode == 0 and "nothing to run: all 5 stages are up to date" in again.stdout


def test_stages_do_not_inherit_the_environment_dask_sets_for_its_workers(tmp_path):
    """Dask's nanny sets MALLOC_TRIM_THRESHOLD_ for its worker processes (3.9x slower training
    stages when inherited); the driver's own settings do reach the stages."""
    report = 'import os; open("env.txt", "w").write(os.environ.get("MALLOC_TRIM_THRESHOLD_", "unset") + " " + os.environ["OMP_NUM_THREADS"])'
    root = project(
        tmp_path / "environment", {"env": {"cmd": f"python -c '{report}'", "outs": ["env.txt"]}}
    )
    result = repro(root, "--jobs", "1")
    assert result.returncode == 0, result.stderr
    assert (root / "env.txt").read_text() == "unset 1"


def test_a_failed_stage_blocks_only_its_dependants(tmp_path):
    stages = dict(
        DIAMOND,
        c=_stage("c", "a", command="python -c \"import sys; print('c broke here'); sys.exit(3)\""),
    )
    root = project(tmp_path / "failing", stages)
    result = repro(root, "--jobs", "2")
    assert result.returncode == 1
    assert "FAILED c" in result.stderr and "c broke here" in result.stderr
    assert "not started, downstream of a failure: d" in result.stderr
    assert set(lock_hashes(root)) == {"a:a.txt", "b:b.txt", "lone:lone.txt"}
    assert not (root / "d.txt").exists()


def test_targets_limit_the_run_to_their_upstream_stages(tmp_path):
    root = project(tmp_path / "targets", DIAMOND)
    result = repro(root, "--jobs", "2", "b")
    assert result.returncode == 0, result.stderr
    assert set(lock_hashes(root)) == {"a:a.txt", "b:b.txt"}


def test_an_unknown_stage_stops_before_any_compute(tmp_path):
    root = project(tmp_path / "unknown", DIAMOND)
    result = repro(root, "no_such_stage")
    assert result.returncode == 2
    assert "stage = 'no_such_stage'" in result.stderr and "dvc stage list --all" in result.stderr
    assert not (root / "a.txt").exists()


def test_an_interrupted_run_leaves_no_partial_output_and_restarts_to_the_same_hashes(tmp_path):
    slow = dict(DIAMOND, b=_stage("b", "a", sleep=60.0))
    root = project(tmp_path / "interrupted", slow)
    # its own session, signalled as a whole, like a terminal's Ctrl-C reaching the foreground job
    driver = subprocess.Popen(
        [str(VENV_BIN / "python"), "-m", "stages.repro", "--jobs", "2"],
        cwd=root,
        env=_environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while "b" not in _running_stages(root) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert "b" in _running_stages(root), "stage b never started"
    os.killpg(driver.pid, signal.SIGINT)
    output, _ = driver.communicate(timeout=60)
    assert driver.returncode == 130, output
    assert "interrupted" in output
    assert not (root / "b.txt").exists() and not (root / "d.txt").exists()
    assert json.loads((root / ".dvc" / "tmp" / "rwlock").read_text()).get("write", {}) == {}
    assert not _stage_processes(root), "a stage process survived the interrupt"

    (root / "dvc.yaml").write_text(
        yaml.safe_dump({"stages": DIAMOND}, sort_keys=False)
    )  # b, fast now
    restarted = repro(root, "--jobs", "2")
    assert restarted.returncode == 0, restarted.stdout + restarted.stderr
    reference = project(tmp_path / "reference", DIAMOND)
    assert repro(reference, "--jobs", "1").returncode == 0
    assert lock_hashes(root) == lock_hashes(reference)


def _running_stages(root: Path) -> set[str]:
    """Stages whose command DVC is running now (its rwlock names their outputs)."""
    try:
        lock = json.loads((root / ".dvc" / "tmp" / "rwlock").read_text())
    except (OSError, ValueError):
        return set()
    return {Path(path).stem for path in lock.get("write", {})}


def _stage_processes(root: Path) -> list[str]:
    listed = subprocess.run(
        ["ps", "-eo", "args"], capture_output=True, text=True
    ).stdout.splitlines()
    return [line for line in listed if "time.sleep(60.0)" in line]


def test_a_hand_started_dask_scheduler_and_workers_run_the_stages(tmp_path):
    """How a cluster user runs it (README: Dask cluster, Slurm): scheduler and workers started
    separately, the driver given the scheduler's address; workers do not import this project."""
    root = project(tmp_path / "cluster", DIAMOND)
    scheduler_file = tmp_path / "scheduler.json"
    dask = str(VENV_BIN / "dask")
    elsewhere = {
        **_environment(),
        "PYTHONPATH": "",
    }  # scheduler and workers start outside the project
    scheduler = subprocess.Popen(
        [
            dask,
            "scheduler",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--no-dashboard",
            "--scheduler-file",
            str(scheduler_file),
        ],
        cwd=tmp_path,
        env=elsewhere,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    workers = None
    try:
        deadline = time.monotonic() + 60
        while not scheduler_file.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        address = json.loads(scheduler_file.read_text())["address"]
        workers = subprocess.Popen(
            [
                dask,
                "worker",
                address,
                "--nworkers",
                "2",
                "--nthreads",
                "1",
                "--no-dashboard",
                "--memory-limit",
                "0",
            ],
            cwd=tmp_path,
            env=elsewhere,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        result = repro(root, "--scheduler", address)
        assert result.returncode == 0, result.stdout + result.stderr
        assert f"on the Dask scheduler at {address}" in result.stdout
        assert set(lock_hashes(root)) == {f"{s}:{s}.txt" for s in DIAMOND}
        assert plain_dvc_repro_is_a_no_op(root)
    finally:
        for process in (workers, scheduler):
            if process is not None:
                process.terminate()
                process.wait(timeout=30)
