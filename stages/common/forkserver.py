"""Run stage commands in children forked from a warm interpreter instead of fresh ones.

Every stage command is a new `python -m stages.<kind>` process, and before it computes anything it
imports torch and the other heavy libraries: 2.3 s of one core for torch alone, about 3 s with
NumPy, pandas, pyarrow, SciPy and numba, against a median command of a few seconds. The fork
server imports them once (PRELOAD) and forks a child per command; the child runs the command's
module as `__main__` with the command's own arguments, working directory, environment and
standard streams, and its exit status becomes the command's. The libraries' state after an import
does not depend on the process that imported them, so a child computes exactly what a fresh
interpreter computes (tests/test_pipeline_end_to_end.py compares a slice of the pipeline run both
ways byte for byte; tests/test_forkserver.py tests the protocol).

The driver starts one server per worker (stages/parallel/task.py) and names it to the commands in
$STAGES_FORKSERVER. `stages.common.entry.run` asks it to run the command and, where there is no
server, it is unreachable, or it declines, runs the command in its own process as before, so a
plain `dvc repro` never depends on one. The server declines a command whose environment differs
from its own start-up environment in anything but what DVC and the shell set per command
(PER_COMMAND): libraries read variables such as OMP_NUM_THREADS and PYTHONHASHSEED when the process
starts or when they load, so such a command must start from scratch.

The command's process (the client) stays what DVC and the driver see: it forwards SIGINT, SIGTERM,
SIGHUP and SIGQUIT to the child, exits with the child's status (dying by the child's signal where
the child died by one), and when the client itself is killed, the server kills the child. The
server lives in a session of its own, so a kill of the driver's process group leaves the stages
it runs to finish, as stages run without it do; it exits once its parent (the worker) is gone.

Protocol, one connection per command over a Unix socket in a directory only this user can open:
the client sends one JSON line (module, argv, cwd, environment, executable, sys.path) with its
stdin, stdout and stderr as SCM_RIGHTS descriptors; the server answers one JSON line, either
{"refused": why} or {"pid": child}, then {"exit": status} when the child is gone. The server's
standard output (.dvc/tmp/repro-logs/forkserver-<worker>.log) has a line per command.
"""

from __future__ import annotations

import array
import contextlib
import importlib
import io
import json
import os
import re
import runpy
import select
import signal
import socket
import sys
import traceback

ENVIRONMENT_VARIABLE = "STAGES_FORKSERVER"  # the server's socket, set by the worker per command
# imported once by the server: what most stage commands import before they compute (seconds of one
# core each, measured here: torch 2.3, pandas with pyarrow 0.9, SciPy's sparse eigensolvers 0.6,
# numba 0.5); scikit-learn (2.7 s, the generate stages only) and matplotlib (the render stages)
# are left to the commands that use them
PRELOAD = (
    "numpy",
    "torch",
    "numba",
    "scipy.linalg",
    "scipy.sparse.linalg",
    "pandas",
    "pyarrow.parquet",
    "yaml",
)
# set per command by DVC (DVC_STAGE, DVC_ROOT) or by the shell it runs the command in; no library
# reads them when it loads
PER_COMMAND = re.compile(r"DVC_[A-Z_]*|PWD|OLDPWD|SHLVL|_")
# what the server runs: a dotted module name
MODULE_NAME = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*")
FORWARDED_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)
POLL_SECONDS = 0.05  # how often the server looks whether a child has exited or its client died
PARENT_POLL_SECONDS = 0.5  # how often the server looks whether its parent is still there
MAX_MESSAGE_BYTES = 1 << 20


class ProtocolError(Exception):
    """The other end closed the connection or sent something that is not one JSON line."""


# ---- the client: the stage command's own process -------------------------------------------------


def run_command(module: str) -> int | None:
    """Run `module` (`stages.train`, ...) with this process's arguments in a child of the server
    named by $STAGES_FORKSERVER and return the child's exit status (negative: killed by that
    signal). None where no server is named, it does not answer, or it declines: the caller then
    runs the command itself."""
    address = os.environ.get(ENVIRONMENT_VARIABLE)
    if not address:
        return None
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        connection.connect(address)
    except OSError:
        connection.close()
        return None
    with connection:
        request = {
            "module": module,
            "argv": sys.argv,
            "cwd": os.getcwd(),
            "environment": {k: v for k, v in os.environ.items() if k != ENVIRONMENT_VARIABLE},
            "executable": os.path.realpath(sys.executable),
            "path": sys.path,
        }
        descriptors = array.array("i", [0, 1, 2])
        line = _line(request)
        try:
            sent = connection.sendmsg([line], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, descriptors)])
            connection.sendall(line[sent:])  # what a signal cut short
            reader = connection.makefile("rb")
            reply = _read_message(reader)
        except (OSError, ProtocolError):
            return None  # the server went away before it took the command: run it here
        if "refused" in reply:
            print(f"note: running without the fork server: {reply['refused']}", file=sys.stderr)
            return None
        child = reply["pid"]
        for signum in FORWARDED_SIGNALS:
            signal.signal(signum, lambda signum, frame: _forward(child, signum))
        try:
            return _read_message(reader)["exit"]
        except (OSError, ProtocolError):
            print(
                f"error: the fork server at {address} ended before the command it ran "
                f"(pid {child}) did",
                file=sys.stderr,
            )
            return 1


def exit_like(status: int) -> None:
    """End this process the way the child ended: with its exit status, or by its signal."""
    if status < 0:
        _die_by(-status)
        status = 128 - status  # where the signal did not end this process
    sys.exit(status)


def _die_by(signum: int) -> None:
    """Send this process `signum` with its default action (how an interpreter ends on an uncaught
    KeyboardInterrupt), so its parent sees the signal, not an exit status."""
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


def _forward(child: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(child, signum)


# ---- the server ---------------------------------------------------------------------------------


def serve(address: str, parent: int) -> None:
    """Import PRELOAD, then fork a handler per connection to `address` until process `parent` is
    gone. Called with the stages' own environment (the worker's), before anything else."""
    startup_environment, startup_path = dict(os.environ), list(sys.path)
    from .runtime import pin_threads

    pin_threads()  # as every stage does before it imports torch
    for name in PRELOAD:
        importlib.import_module(name)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # handlers are reaped by the kernel
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(address)
    listener.listen(16)
    listener.settimeout(PARENT_POLL_SECONDS)
    while os.getppid() == parent:
        try:
            connection, _ = listener.accept()
        except TimeoutError:
            continue
        if os.fork() == 0:
            listener.close()
            code = 1
            try:
                _handle(connection, startup_environment, startup_path)
                code = 0
            finally:
                os._exit(code)
        connection.close()
    listener.close()
    with contextlib.suppress(OSError):
        os.unlink(address)
        os.rmdir(os.path.dirname(address))  # the private directory made for this server


def _handle(
    connection: socket.socket, startup_environment: dict[str, str], startup_path: list[str]
) -> None:
    """One command: check it, fork the child that runs it, report the child's pid and its end."""
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # this handler waits for its child
    connection.settimeout(None)
    request, descriptors = _receive_request(connection)
    refusal = _refusal(request, startup_environment, startup_path)
    command = " ".join([request.get("module", "?"), *request.get("argv", [])[1:]])
    stage = (request.get("environment") or {}).get("DVC_STAGE", "")
    if refusal:
        for descriptor in descriptors:
            os.close(descriptor)
        connection.sendall(_line({"refused": refusal}))
        print(f"declined {command} ({stage}): {refusal}", flush=True)
        return
    child = os.fork()
    if child == 0:
        connection.close()
        _run_child(request, descriptors)  # never returns
    for descriptor in descriptors:
        os.close(descriptor)
    connection.sendall(_line({"pid": child}))
    print(f"forked {child}: {command} ({stage})", flush=True)
    status = _wait_for(child, connection)
    print(f"{child} ended with status {status}", flush=True)
    with contextlib.suppress(OSError):
        connection.sendall(_line({"exit": status}))


def _refusal(request: dict, startup_environment: dict[str, str], startup_path: list[str]) -> str:
    """Why this server must not run the command (empty: it may)."""
    if not MODULE_NAME.fullmatch(str(request.get("module"))):
        return f"{request.get('module')!r} is not a module name"
    if request.get("executable") != os.path.realpath(sys.executable):
        return f"the command runs {request.get('executable')}, the server {sys.executable}"
    if request.get("path") != startup_path:
        return "the command's sys.path differs from the server's"
    environment = request.get("environment") or {}
    differing = sorted(
        name
        for name in set(environment) | set(startup_environment)
        if not PER_COMMAND.fullmatch(name)
        and environment.get(name) != startup_environment.get(name)
    )
    if differing:
        return "its environment differs from the server's start-up environment in " + ", ".join(
            differing
        )
    return ""


def _wait_for(child: int, connection: socket.socket) -> int:
    """The child's exit status (waitstatus_to_exitcode); the child is killed once the client has
    closed its end, so a killed command leaves no child behind."""
    while True:
        done, status = os.waitpid(child, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        readable, _, _ = select.select([connection], [], [], POLL_SECONDS)
        if readable and not connection.recv(1):
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGKILL)
            _, status = os.waitpid(child, 0)
            return os.waitstatus_to_exitcode(status)


def _run_child(request: dict, descriptors: list[int]) -> None:
    """Become the command: its streams, directory, environment, arguments and signal handling as a
    fresh interpreter has them, then its module as __main__; exit as that interpreter would."""
    for target, descriptor in enumerate(descriptors):
        os.dup2(descriptor, target)
    for descriptor in descriptors:
        if descriptor > 2:
            os.close(descriptor)
    _reopen_standard_streams()
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["environment"])
    sys.argv = list(request["argv"])
    for name in [m for m in sys.modules if m == "stages" or m.startswith("stages.")]:
        del sys.modules[name]  # the project's own modules load from disk, as in a fresh interpreter
    signal.signal(signal.SIGINT, signal.default_int_handler)
    for signum in (signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGCHLD):
        signal.signal(signum, signal.SIG_DFL)
    code = 0
    try:
        runpy.run_module(request["module"], run_name="__main__", alter_sys=True)
    except SystemExit as ended:
        code = _exit_status(ended.code)
    except KeyboardInterrupt:
        traceback.print_exc()
        code = -signal.SIGINT
    except BaseException:
        traceback.print_exc()
        code = 1
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    if code < 0:
        _die_by(-code)
    os._exit(code)


def _exit_status(code: object) -> int:
    """The exit status the interpreter gives `sys.exit(code)`: None is 0, an int is itself, anything
    else is printed to stderr and is 1."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    print(code, file=sys.stderr)
    return 1


def _reopen_standard_streams() -> None:
    """sys.stdin, stdout and stderr on descriptors 0, 1 and 2 as the interpreter opens them at start-
    up: stdout line-buffered only on a terminal, stderr always line-buffered."""
    for name, descriptor, mode in (("stdin", 0, "r"), ("stdout", 1, "w"), ("stderr", 2, "w")):
        old = getattr(sys, name)
        line_buffered = mode == "w" and (name == "stderr" or os.isatty(descriptor))
        stream = open(  # noqa: SIM115 - the process's own stream, open until it exits
            descriptor,
            mode,
            buffering=1 if line_buffered else -1,
            encoding=old.encoding,
            errors=old.errors,
            closefd=False,
        )
        setattr(sys, name, stream)
        setattr(sys, f"__{name}__", stream)


# ---- framing -------------------------------------------------------------------------------------


def _line(message: dict) -> bytes:
    return json.dumps(message).encode() + b"\n"


def _read_message(reader: io.BufferedReader) -> dict:
    line = reader.readline(MAX_MESSAGE_BYTES)
    if not line.endswith(b"\n"):
        raise ProtocolError("connection closed" if not line else "message too long")
    try:
        return json.loads(line)
    except json.JSONDecodeError as error:
        raise ProtocolError(str(error)) from None


def _receive_request(connection: socket.socket) -> tuple[dict, list[int]]:
    """The request line and the three descriptors that came with its first bytes."""
    descriptors = array.array("i")
    data, ancillary, _, _ = connection.recvmsg(
        MAX_MESSAGE_BYTES, socket.CMSG_LEN(3 * descriptors.itemsize)
    )
    for level, kind, payload in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            descriptors.frombytes(payload[: len(payload) - len(payload) % descriptors.itemsize])
    chunks = [data]
    while data and not data.endswith(b"\n"):
        data = connection.recv(MAX_MESSAGE_BYTES)
        chunks.append(data)
    if len(descriptors) != 3:
        for descriptor in descriptors:
            os.close(descriptor)
        raise ProtocolError(f"expected 3 descriptors, got {len(descriptors)}")
    return _read_message(io.BufferedReader(io.BytesIO(b"".join(chunks)))), list(descriptors)


def main(argv: list[str]) -> None:
    """`python -m stages.common.forkserver <socket> <parent pid>`: serve until the parent is gone."""
    address, parent = argv
    serve(address, int(parent))


if __name__ == "__main__":
    main(sys.argv[1:])
