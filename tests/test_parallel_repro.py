"""Parallel repro (`python -m stages.repro`) on small DVC projects built here.

Stages are one-line Python commands, so each test costs DVC's own start-up and little else. What is
checked: the graph and the stages to run come from DVC; a failed stage stops only its dependants
and is named in one line (its error, or the signal that killed it); 1 and 2 workers leave identical
dvc.lock hashes and a plain `dvc repro` with nothing to do; an interrupted run leaves no partial
output and no stale lock, and a restart completes with the same hashes; a driver killed with -9
and restarted at once waits for the stage it left running and ends with the same hashes; the
default job count is the CPU affinity's, whatever OMP_NUM_THREADS says; no dashboard port is taken;
`--dry` plans without running, on a toy project and on a fresh clone of this one; a hand-started
Dask scheduler and workers run it too. Waits are on events (a file a stage writes, a line the
driver prints), never on a fixed sleep. The end-to-end test of the real pipeline runs it as well
(tests/test_pipeline_end_to_end.py).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from conftest import REPO

from stages.parallel.dag import StageGraph
from stages.parallel.runner import plan, remaining_work
from stages.parallel.task import failure_reason
from stages.parallel.workspace import copy_project

VENV_BIN = REPO / ".venv" / "bin"
# ceilings against a hang, never a speed limit: a loaded machine must not fail these tests
CEILING = 900.0
SLEEPING = 3600.0  # a stage that is surely still running when the test interrupts it


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


def repro(root: Path, *arguments: str, timeout: float = CEILING) -> subprocess.CompletedProcess:
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


def test_the_dry_plan_simulates_the_runner_s_rule_with_known_answers():
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

    def starts(workers):
        return [(p.stage, p.start) for p in plan(graph, seconds, workers)]

    # priorities (remaining work): a 7, lone 6, b 6, c 3, d 1
    assert starts(1) == [("a", 0.0), ("b", 1.0), ("lone", 6.0), ("c", 12.0), ("d", 14.0)]
    assert starts(2) == [("a", 0.0), ("lone", 0.0), ("b", 1.0), ("c", 6.0), ("d", 8.0)]
    assert starts(3) == [("a", 0.0), ("lone", 0.0), ("b", 1.0), ("c", 1.0), ("d", 6.0)]
    untimed = plan(graph, {"a": 1.0}, 2)
    assert [p.timed for p in untimed] == [True, False, False, False, False]


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


@pytest.mark.parametrize(
    ("last_line", "reason"),
    [
        ("exited with 3", "its command exited with status 3"),
        ("exited with -9", "its command was killed by SIGKILL (signal 9) (exit status -9)"),
        (
            "exited with 137",
            "its command was killed by SIGKILL (signal 9) (exit status 137, as a shell reports a signal)",
        ),
        (
            "exited with 130",
            "its command was killed by SIGINT (signal 2) (exit status 130, as a shell reports a signal)",
        ),
        ("exited with 128", "its command exited with status 128"),  # 128 + 0: no signal
        ("exited with 255", "its command exited with status 255"),  # 128 + 127: no such signal
    ],
)
def test_failure_reason_reads_a_signal_however_the_shell_reports_it(last_line, reason):
    lines = [
        "Running stage 'x':",
        f"ERROR: failed to reproduce 'x': failed to run: cmd, {last_line}",
    ]
    assert failure_reason(1, lines) == reason


def test_failure_reason_names_the_signal_that_killed_dvc_itself():
    assert (
        failure_reason(-15, []) == "dvc itself was killed by SIGTERM (signal 15) (exit status -15)"
    )


def test_a_failed_stage_blocks_only_its_dependants(tmp_path):
    stages = dict(
        DIAMOND,
        c=_stage("c", "a", command="python -c \"import sys; print('c broke here'); sys.exit(3)\""),
        lone=_stage(
            "lone", command='python -c "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"'
        ),
    )
    root = project(tmp_path / "failing", stages)
    result = repro(root, "--jobs", "2")
    assert result.returncode == 1
    assert (
        "FAILED c (on " in result.stderr and "): its command exited with status 3" in result.stderr
    )
    assert "c broke here" in result.stderr  # its last lines follow
    killed = [line for line in result.stderr.splitlines() if line.startswith("FAILED lone")]
    # -9 where $SHELL (bash) exec'd the command, 137 where /bin/sh (dash, $SHELL unset) forked it
    assert (
        len(killed) == 1
        and "its command was killed by SIGKILL (signal 9) (exit status" in (killed[0])
    ), result.stderr
    assert "not started, downstream of a failure: d" in result.stderr
    assert set(lock_hashes(root)) == {"a:a.txt", "b:b.txt"}
    assert not (root / "d.txt").exists()


def test_targets_limit_the_run_to_their_upstream_stages(tmp_path):
    root = project(tmp_path / "targets", DIAMOND)
    result = repro(root, "--jobs", "2", "b")
    assert result.returncode == 0, result.stderr
    assert set(lock_hashes(root)) == {"a:a.txt", "b:b.txt"}


def test_the_driver_drops_lock_entries_of_stages_no_longer_declared(tmp_path):
    root = project(tmp_path / "renamed", {"a": DIAMOND["a"], "lone": DIAMOND["lone"]})
    subprocess.run([str(VENV_BIN / "dvc"), "repro", "-q"], cwd=root, check=True, env=_environment())
    kept = (root / "dvc.lock").read_text().split("  lone:")[0]
    (root / "dvc.yaml").write_text(yaml.safe_dump({"stages": {"a": DIAMOND["a"]}}))  # lone removed
    result = repro(root, "--jobs", "1")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "dvc.lock: dropped 1 entries of stages no longer in its dvc.yaml (lone)" in result.stdout
    assert (root / "dvc.lock").read_text() == kept  # the live entry keeps its bytes
    assert "nothing to run" in repro(root).stdout


def test_an_unknown_stage_stops_before_any_compute(tmp_path):
    root = project(tmp_path / "unknown", DIAMOND)
    result = repro(root, "no_such_stage")
    assert result.returncode == 2
    assert "stage = 'no_such_stage'" in result.stderr and "dvc stage list --all" in result.stderr
    assert not (root / "a.txt").exists()


def test_a_broken_dvc_yaml_stops_the_driver_in_one_line(tmp_path):
    root = project(tmp_path / "broken", DIAMOND)
    (root / "dvc.yaml").write_text("stages:\n  a:\n    cmd: [unclosed\n")
    result = repro(root)
    assert result.returncode == 2 and result.stdout == "", result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "dvc.yaml" in lines[0], lines


def test_an_interrupted_run_leaves_no_partial_output_and_restarts_to_the_same_hashes(tmp_path):
    slow = dict(DIAMOND, b=_stage("b", "a", sleep=SLEEPING))
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
        # Ctrl-C's default action, even where this test runs with SIGINT ignored (a shell's
        # background job): Python raises KeyboardInterrupt only if SIGINT was not ignored at start
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + CEILING
    while "b" not in _running_stages(root) and time.monotonic() < deadline:
        time.sleep(
            0.005
        )  # interrupt as soon as DVC holds b: while it sets up, not yet in b's command
    assert "b" in _running_stages(root), "stage b never started"
    os.killpg(driver.pid, signal.SIGINT)
    output, _ = driver.communicate(timeout=CEILING)
    assert driver.returncode == 130, output
    assert "interrupted" in output
    assert not (root / "b.txt").exists() and not (root / "d.txt").exists()
    assert not _stage_processes(root), "a stage process survived the interrupt:\n" + output
    # DVC's rwlock must still parse (a SIGINT sent to DVC itself at this moment left it empty in 4
    # of 12 tries, and an entry behind in 1), and hold no live writer: DVC drops a dead pid's entry
    # itself (rwlock._check_blockers), which only a SIGKILL after the grace period would leave
    left = json.loads((root / ".dvc" / "tmp" / "rwlock").read_text()).get("write", {})
    assert not [path for path, info in left.items() if _alive(info["pid"])], (left, output)

    (root / "dvc.yaml").write_text(
        yaml.safe_dump({"stages": DIAMOND}, sort_keys=False)
    )  # b, fast now
    restarted = repro(root, "--jobs", "2")
    assert restarted.returncode == 0, restarted.stdout + restarted.stderr
    reference = project(tmp_path / "reference", DIAMOND)
    assert repro(reference, "--jobs", "1").returncode == 0
    assert lock_hashes(root) == lock_hashes(reference)


WAIT_FOR_RELEASE = (
    "import pathlib, time\n"
    "pathlib.Path('b.started').touch()\n"
    "for _ in range(6000):  # a ceiling of 10 minutes, never reached when the test goes well\n"
    "    if pathlib.Path('release').exists():\n"
    "        break\n"
    "    time.sleep(0.1)\n"
    "open('b.txt', 'w').write('b' + open('a.txt').read())\n"
)


def _wait_for(condition, what: str, ceiling: float = 300.0) -> None:
    """Poll until `condition()` holds; the ceiling only turns a hang into a failure."""
    deadline = time.monotonic() + ceiling
    while not condition():
        assert time.monotonic() < deadline, f"never happened: {what}"
        time.sleep(0.1)


def test_a_driver_killed_with_minus_9_and_restarted_at_once_completes_with_the_same_hashes(
    tmp_path,
):
    """kill -9 of the driver's process group leaves stage b's DVC process running (a session of its
    own) and holding DVC's rwlock. The restarted driver waits for it instead of failing on the lock,
    b is recorded once, and the run ends where an uninterrupted one does."""
    root = project(
        tmp_path / "killed",
        dict(DIAMOND, b={**_stage("b", "a"), "cmd": "python wait_for_release.py"}),
    )
    (root / "wait_for_release.py").write_text(WAIT_FOR_RELEASE)
    command = [str(VENV_BIN / "python"), "-m", "stages.repro", "--jobs", "2"]
    with open(tmp_path / "first.log", "w") as log:
        first = subprocess.Popen(
            command, cwd=root, env=_environment(), stdout=log, stderr=log, start_new_session=True
        )
    _wait_for(lambda: (root / "b.started").exists(), "stage b started")
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    output = tmp_path / "restart.log"
    with open(output, "w") as log:
        restarted = subprocess.Popen(
            command, cwd=root, env=_environment(), stdout=log, stderr=subprocess.STDOUT
        )
    try:
        _wait_for(
            lambda: (
                "waiting for 1 DVC process" in output.read_text() or restarted.poll() is not None
            ),
            "the wait",
        )
        assert restarted.poll() is None, output.read_text()  # it must wait, not fail on the lock
        (root / "release").touch()
        assert restarted.wait(timeout=300) == 0, output.read_text()
    finally:
        if restarted.poll() is None:
            restarted.kill()
        (root / "release").touch()
    text = output.read_text()
    assert "the earlier run's stages finished" in text, text
    assert not re.search(r"\bran b\b", text) and re.search(r"\bran d\b", text), text  # b once
    assert "rwlock" not in text.replace(".dvc/tmp/rwlock", ""), text
    reference = project(tmp_path / "reference", DIAMOND)
    assert repro(reference, "--jobs", "1").returncode == 0
    assert lock_hashes(root) == lock_hashes(reference)
    assert plain_dvc_repro_is_a_no_op(root)


def test_the_default_job_count_is_the_cpu_affinity_whatever_omp_num_threads_says(tmp_path):
    """GNU nproc answers OMP_NUM_THREADS (1 on most clusters); the driver counts the cores it may
    run on. Restricted to one core with taskset, it plans one worker."""
    root = project(tmp_path / "cores", DIAMOND)
    env = {**_environment(), "OMP_NUM_THREADS": "1"}
    command = [str(VENV_BIN / "python"), "-m", "stages.repro", "--dry"]
    result = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    cores = len(os.sched_getaffinity(0))
    assert f"on {cores} worker(s)" in result.stdout
    if cores > 1 and shutil.which("taskset"):
        one = subprocess.run(
            ["taskset", "-c", str(min(os.sched_getaffinity(0))), *command],
            cwd=root,
            env=env,
            capture_output=True,
            text=True,
        )
        assert "on 1 worker(s)" in one.stdout, one.stdout + one.stderr


def test_dry_run_plans_in_order_with_the_remembered_times_and_runs_nothing(tmp_path):
    root = project(tmp_path / "dry", DIAMOND)
    (root / ".dvc" / "tmp").mkdir(exist_ok=True)
    (root / ".dvc" / "tmp" / "stage-seconds.json").write_text(
        json.dumps({"a": 1.0, "b": 5.0, "c": 2.0, "d": 1.0})
    )
    result = repro(root, "--dry", "--jobs", "2")
    assert result.returncode == 0, result.stderr
    rows = [line.split() for line in result.stdout.splitlines() if line[:4].strip().isdigit()]
    assert [row[3] for row in rows] == ["lone", "a", "b", "c", "d"]  # lone: 10 s, never timed
    assert rows[0][2] == "10.0?" and rows[2][1:3] == ["1.0", "5.0"]
    assert "5 of 5 stages would run" in result.stdout
    assert "critical path 10 s (1 stage(s), ending lone)" in result.stdout
    assert not list(root.glob("*.txt")) and not (root / "dvc.lock").exists()


def test_dry_run_on_a_fresh_clone_of_this_project_without_data(tmp_path):
    root = copy_project(REPO, tmp_path / "clone")
    assert not (root / "data").exists()
    result = repro(root, "--dry", timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "params.yaml and claims.yaml are valid" in result.stdout
    assert re.search(r"(\d+) of \1 stages would run", result.stdout), result.stdout
    assert "critical path" in result.stdout and "ending report" in result.stdout
    assert not (root / "data").exists() and not list(root.glob("**/dvc.lock"))


def test_no_dashboard_port_is_taken_unless_asked_for(tmp_path):
    """Without a dashboard the scheduler still serves HTTP, on 8787 by default; with 8787 taken by
    another program the driver must neither warn about it nor take it."""
    root = project(tmp_path / "dashboard", {"a": _stage("a")})
    holder = socket.socket()
    try:
        holder.bind(("127.0.0.1", 8787))
        holder.listen()
    except OSError:
        pass  # already taken by someone else: the same situation
    try:
        result = repro(root, "--jobs", "1")
    finally:
        holder.close()
    assert result.returncode == 0, result.stderr
    assert "8787" not in result.stdout + result.stderr


def _running_stages(root: Path) -> set[str]:
    """Stages whose command DVC is running now (its rwlock names their outputs)."""
    try:
        lock = json.loads((root / ".dvc" / "tmp" / "rwlock").read_text())
    except (OSError, ValueError):
        return set()
    return {Path(path).stem for path in lock.get("write", {})}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _stage_processes(root: Path) -> list[str]:
    listed = subprocess.run(
        ["ps", "-eo", "args"], capture_output=True, text=True
    ).stdout.splitlines()
    return [line for line in listed if f"time.sleep({SLEEPING})" in line]


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
