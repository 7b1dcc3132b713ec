"""The fork server (stages/common/forkserver.py): a command forked from it runs with its own
arguments, environment, streams and exit status; a changed start-up variable or a missing server
makes the command run itself; a signal to the command reaches the child, and a killed command
leaves no child behind; the server ends once its parent is gone. That a forked stage writes the
same bytes as a fresh interpreter is checked on a real pipeline slice (tests/
test_pipeline_end_to_end.py: two workers with fork servers against one worker without).
Waits are on events, with ceilings against a hang, never a speed limit."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from conftest import REPO

from stages.common import forkserver
from stages.parallel import task

PYTHON = str(REPO / ".venv" / "bin" / "python")
CEILING = 120.0  # seconds: against a hang, far above a loaded machine's start-up


def _environment() -> dict[str, str]:
    # PYTEST_CURRENT_TEST changes from test to test: the server would decline every command
    dropped = ("VIRTUAL_ENV", "PYTHONPATH", "PYTEST_CURRENT_TEST")
    env = {k: v for k, v in os.environ.items() if k not in dropped}
    env.update(
        PATH=f"{Path(PYTHON).parent}{os.pathsep}{env.get('PATH', '')}",
        OMP_NUM_THREADS="1",
        PYTHONHASHSEED="0",
    )
    return env


def _wait_until(condition, what: str) -> None:
    deadline = time.monotonic() + CEILING
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} within {CEILING} s")
        time.sleep(0.05)


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


@pytest.fixture(scope="module")
def server():
    directory = tempfile.mkdtemp(prefix="forkserver-test-")  # a short path: AF_UNIX allows ~100
    address = os.path.join(directory, "socket")
    process = subprocess.Popen(
        [PYTHON, "-m", "stages.common.forkserver", address, str(os.getpid())],
        cwd=REPO,
        env=_environment(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        start_new_session=True,
    )
    _wait_until(lambda: os.path.exists(address) or process.poll() is not None, "no socket")
    assert process.poll() is None, "the server exited at start-up"
    yield address
    process.terminate()
    process.wait()
    shutil.rmtree(directory, ignore_errors=True)


def _command(address: str, *arguments: str, **variables: str) -> subprocess.Popen:
    return subprocess.Popen(
        [PYTHON, "-m", "tests.forkserver_command", *arguments],
        cwd=REPO,
        env={**_environment(), forkserver.ENVIRONMENT_VARIABLE: address, **variables},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finished(command: subprocess.Popen) -> tuple[dict, str]:
    stdout, stderr = command.communicate(timeout=CEILING)
    return json.loads(stdout.splitlines()[0]), stderr


@pytest.mark.parametrize("status", [0, 3])
def test_a_command_runs_in_a_child_with_its_arguments_environment_streams_and_status(
    server, status
):
    command = _command(server, str(status), "x y", DVC_TEST_MARKER="marked")
    report, stderr = _finished(command)
    assert command.returncode == status
    assert report["forked"] is True and report["pid"] != command.pid
    assert report["arguments"] == [str(status), "x y"]
    assert report["marker"] == "marked" and report["cwd"] == str(REPO)
    assert report["server_variable"] is None  # the child never asks a server itself
    assert "to stderr" in stderr


def test_a_start_up_variable_that_differs_makes_the_command_run_itself(server):
    command = _command(server, "3", OMP_NUM_THREADS="2")
    report, stderr = _finished(command)
    assert command.returncode == 3 and report["forked"] is False
    assert "running without the fork server" in stderr and "OMP_NUM_THREADS" in stderr


def test_without_a_server_listening_the_command_runs_itself(tmp_path):
    command = _command(str(tmp_path / "no-socket"), "3")
    report, stderr = _finished(command)
    assert command.returncode == 3 and report["forked"] is False
    assert "fork server" not in stderr


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_to_the_command_reaches_the_child_and_ends_the_command_by_it(server, signum):
    command = _command(server, "0", "wait")
    child = json.loads(command.stdout.readline())["pid"]
    command.send_signal(signum)
    command.wait(timeout=CEILING)
    assert command.returncode == -signum
    _wait_until(lambda: _gone(child), "the child still runs")
    if signum == signal.SIGINT:
        assert "KeyboardInterrupt" in command.stderr.read()


def test_a_killed_command_leaves_no_child_behind(server):
    command = _command(server, "0", "wait")
    child = json.loads(command.stdout.readline())["pid"]
    assert not _gone(child)
    command.kill()
    command.wait(timeout=CEILING)
    _wait_until(lambda: _gone(child), "the child outlived its killed command")


def test_the_server_ends_and_removes_its_socket_once_its_parent_is_gone():
    directory = tempfile.mkdtemp(prefix="forkserver-test-")
    address = os.path.join(directory, "socket")
    # the shell starts the server with itself as the parent, then exits at once
    subprocess.run(
        ["sh", "-c", f'"{PYTHON}" -m stages.common.forkserver "$0" $$ >/dev/null 2>&1 &', address],
        cwd=REPO,
        env=_environment(),
        check=True,
        timeout=CEILING,
    )
    _wait_until(lambda: not os.path.exists(directory), "the orphaned server is still there")


def test_the_worker_names_the_server_to_the_commands_as_the_client_reads_it():
    assert task.FORKSERVER_VARIABLE == forkserver.ENVIRONMENT_VARIABLE
    assert task.FORKSERVER_MODULE == forkserver.__name__ == "stages.common.forkserver"
    assert sys.modules[forkserver.__name__] is forkserver
