"""One task on a worker: `dvc --wait-for-lock repro --single-item <stage>` in the project.

DVC releases its repository lock while a stage's command runs and `--wait-for-lock` waits for it
instead of failing, so several of these can run at once on one project: outputs, dvc.lock and the
run-cache stay DVC's own. This module needs only the standard library and the worker it runs on:
it is pickled by value to the workers, so a remote Dask worker need not import the project (it
imports psutil, which DVC itself depends on).

The command runs in a session of its own, so a Ctrl-C at the terminal reaches the driver only; the
driver then calls `stop_running` on every worker, which sends SIGINT to each running stage's
command, not to DVC (DVC sees its command fail, saves nothing and releases its lock; the stages
write their outputs atomically), and SIGKILL to any still alive after a grace period. Its output
goes to a file (.dvc/tmp/repro-logs/), not a pipe to the worker: if the driver and its workers
are killed (kill -9 of their process group), the stage finishes and DVC records it instead of
dying on a broken pipe, and the next driver waits for it (stages/parallel/preflight.py).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

RAN, SKIPPED, FAILED = "ran", "skipped", "failed"
TAIL_LINES = 25  # lines of a failed stage's output the driver prints
LOGS = Path(".dvc/tmp/repro-logs")  # one file per stage: DVC's and the command's output, last run
STOP_POLL_SECONDS = 0.05  # how often stop_running looks for a stage command to interrupt
SHELL_SIGNAL_OFFSET = 128  # POSIX shells report a child killed by signal N as exit status 128 + N
_REGISTRY = "dvc_stage_processes"  # attribute of the Dask worker: its running commands, by pid
_STARTED = (
    "dvc_stage_started"  # attribute of the Dask worker: when each of its running stages started
)
_FORKSERVER = "stage_forkserver"  # attribute of the Dask worker: its fork server and socket
FORKSERVER_MODULE = "stages.common.forkserver"
FORKSERVER_VARIABLE = "STAGES_FORKSERVER"  # stages.common.forkserver.ENVIRONMENT_VARIABLE


@dataclass(frozen=True)
class StageOutcome:
    stage: str
    status: (
        str  # RAN, SKIPPED (DVC found it up to date or restored it from the run-cache) or FAILED
    )
    seconds: float
    tail: str  # the last lines of DVC's output (for a failure report)
    host: str
    reason: str = ""  # a failure in one line: the stage's own error line, or how it was stopped


def run_stage(
    root: str, stage: str, environment: dict[str, str], force: bool = False
) -> StageOutcome:
    """Reproduce one stage in the project at `root` (a path every worker sees) and report how it went."""
    from distributed import get_worker

    worker = get_worker()
    running, started = _registry(worker), vars(worker).setdefault(_STARTED, {})
    command = [
        "dvc",
        "--wait-for-lock",
        "repro",
        "--single-item",
        *(["--force"] if force else []),
        stage,
    ]
    log = Path(root) / LOGS / (re.sub(r"[^A-Za-z0-9_.@-]", "_", stage) + ".log")
    log.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    with open(log, "w") as output:
        process = subprocess.Popen(
            command,
            cwd=root,
            env=stage_environment(environment) | _forkserver_variable(worker),
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        running[process.pid], started[stage] = process, time.time()
        try:
            process.wait()
        finally:
            running.pop(process.pid, None)
            started.pop(stage, None)
    seconds = time.perf_counter() - start
    lines = log.read_text(errors="replace").splitlines()
    reason = ""
    if process.returncode != 0:
        status, reason = FAILED, failure_reason(process.returncode, lines)
    elif any(line.startswith(f"Running stage '{stage}'") for line in lines):
        status = RAN
    else:
        status = SKIPPED
    return StageOutcome(
        stage, status, seconds, "\n".join(lines[-TAIL_LINES:]), os.uname().nodename, reason
    )


def failure_reason(returncode: int, lines: list[str]) -> str:
    """One line: what stopped a failed `dvc repro` of one stage. DVC ends a failed command with
    `failed to run: <cmd>, exited with <status>`. A command killed by signal N reads as status -N
    where DVC's shell exec'd it (bash, the usual $SHELL) and as 128 + N where the shell forked it
    and reported the signal itself (dash, DVC's /bin/sh when $SHELL is unset, as on CI runners)."""
    if returncode < 0:
        return f"dvc itself was killed by {_signal_name(-returncode)} (exit status {returncode})"
    status = next(
        (int(m[1]) for line in reversed(lines) if (m := re.search(r"exited with (-?\d+)$", line))),
        None,
    )
    if status is not None and status < 0:
        return f"its command was killed by {_signal_name(-status)} (exit status {status})"
    if status is not None and _is_signal(reported := status - SHELL_SIGNAL_OFFSET):
        return (
            f"its command was killed by {_signal_name(reported)} "
            f"(exit status {status}, as a shell reports a signal)"
        )
    error = next((line for line in reversed(lines) if line.startswith("error: ")), None)
    if status is not None:
        return f"its command exited with status {status}" + (f": {error}" if error else "")
    dvc_error = next((line for line in reversed(lines) if line.startswith("ERROR: ")), None)
    return f"dvc exited with status {returncode}" + (f": {dvc_error}" if dvc_error else "")


def _is_signal(number: int) -> bool:
    return any(member.value == number for member in signal.Signals)


def _signal_name(number: int) -> str:
    try:
        return f"{signal.Signals(number).name} (signal {number})"
    except ValueError:
        return f"signal {number}"


def stage_environment(environment: dict[str, str]) -> dict[str, str]:
    """The worker's environment without what Dask's nanny sets for its worker processes, then the
    driver's `environment` on top. The nanny sets MALLOC_TRIM_THRESHOLD_=65536, which makes glibc
    hand memory back to the system after most frees: inherited by a training stage it cost 3.9x the
    wall time (a gpfq train stage: 9.9 s alone, 38.4 s with it, 21 of them in the kernel)."""
    import dask

    set_by_nanny = dask.config.get("distributed.nanny.pre-spawn-environ", default={}) or {}
    return {**{k: v for k, v in os.environ.items() if k not in set_by_nanny}, **environment}


def start_forkserver(root: str, environment: dict[str, str], dask_worker) -> None:
    """Start this worker's fork server (stages/common/forkserver.py): a `python -m
    stages.common.forkserver` in `root` with the stages' environment, which imports torch and the
    other heavy libraries once and then forks each stage command this worker's DVC starts. It runs in
    a session of its own (a kill of the driver's process group leaves the stages it runs to finish)
    and exits once this worker is gone; its socket sits in a directory only this user can open.
    Commands that start before it listens run without it. Linux only: elsewhere (macOS) forking a
    process that has loaded system frameworks is not safe, and every command starts fresh."""
    if _FORKSERVER in vars(dask_worker) or not sys.platform.startswith("linux"):
        return
    directory = tempfile.mkdtemp(prefix="stages-forkserver-")
    address = os.path.join(directory, "socket")
    name = re.sub(r"[^A-Za-z0-9_.@-]", "_", str(dask_worker.name))
    log = Path(root) / LOGS / f"forkserver-{name}.log"  # a line per command (the last run's)
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w") as output:
        process = subprocess.Popen(
            ["python", "-m", FORKSERVER_MODULE, address, str(os.getpid())],
            cwd=root,
            env=stage_environment(environment),  # `python` from its PATH, as DVC's commands
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    vars(dask_worker)[_FORKSERVER] = (process, address)


def stop_forkserver(dask_worker) -> None:
    """Stop this worker's fork server, if it has one (the commands it runs are its children's own)."""
    process, address = vars(dask_worker).pop(_FORKSERVER, (None, None))
    if process is None:
        return
    process.terminate()
    process.wait()
    shutil.rmtree(os.path.dirname(address), ignore_errors=True)


def _forkserver_variable(worker) -> dict[str, str]:
    process, address = vars(worker).get(_FORKSERVER, (None, None))
    return {FORKSERVER_VARIABLE: address} if process is not None and process.poll() is None else {}


def running_stages(dask_worker) -> dict[str, float]:
    """The stages this worker is running, with the seconds each has run (the driver's heartbeat)."""
    now = time.time()
    return {stage: now - since for stage, since in vars(dask_worker).get(_STARTED, {}).items()}


def stop_running(dask_worker, grace_seconds: float = 20.0) -> list[int]:
    """Stop every running stage the way DVC is built to be stopped, and return DVC's pids: SIGINT to
    the stage's command (DVC's child processes, and any it starts later), never to DVC itself, then
    SIGKILL to what is left of each process group once DVC has exited or after `grace_seconds`.
    The driver calls it on every worker (`Client.run` passes `dask_worker`).

    DVC ignores SIGINT while its command runs, sees the command fail, saves nothing and releases its
    entry in .dvc/tmp/rwlock. A SIGINT that reaches DVC outside that window (setting up the stage,
    or recording one) interrupts it wherever it is: on a CI runner that left an rwlock entry behind
    once, and once an empty rwlock file, which fails every later `dvc repro` until deleted.
    DVC finishing its bookkeeping is waited for; that is short, and nothing is half-written."""
    processes = list(_registry(dask_worker).values())
    deadline = time.monotonic() + grace_seconds
    interrupted: set[int] = set()
    while time.monotonic() < deadline and any(p.poll() is None for p in processes):
        for process in processes:
            for pid in _command_pids(process) - interrupted:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGINT)
                interrupted.add(pid)
        time.sleep(STOP_POLL_SECONDS)
    for process in processes:
        # also whatever the group still holds once DVC is gone (a command DVC had just forked when
        # it exited): left alone it would finish and write an output no dvc.lock records
        _signal_group(process, signal.SIGKILL)
        process.wait()
    return [process.pid for process in processes]


def _command_pids(process: subprocess.Popen) -> set[int]:
    """The processes a running DVC has started (the stage's shell and command), none once it exited.
    psutil: DVC's own dependency, so every worker that runs a stage has it."""
    import psutil

    if process.poll() is not None:
        return set()
    try:
        return {child.pid for child in psutil.Process(process.pid).children(recursive=True)}
    except psutil.NoSuchProcess:
        return set()


def ignore_interrupts() -> None:
    """Leave Ctrl-C to the driver: a local worker is in the terminal's process group.

    A handler that does nothing, not SIG_IGN: an ignored signal stays ignored in the stage commands
    the worker starts (so `stop_running` could not stop them), a caught one is reset by exec.
    """
    signal.signal(signal.SIGINT, _do_nothing)


def _do_nothing(signum, frame) -> None:
    return None


def _registry(worker) -> dict[int, subprocess.Popen]:
    return vars(worker).setdefault(
        _REGISTRY, {}
    )  # one dict per worker process, shared by its tasks


def _signal_group(process: subprocess.Popen, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signum)
