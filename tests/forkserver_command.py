"""A command for tests/test_forkserver.py, run through the fork server as a stage command is.

    python -m tests.forkserver_command <exit status> [wait] [args ...]

It prints one JSON line (its arguments, directory, $DVC_TEST_MARKER, its pid, and whether torch was already
imported, i.e. it runs in a child of the server), writes a line to stderr, then, with `wait`,
waits for a signal; it exits with <exit status>.
"""

import json
import os
import signal
import sys

from stages.common import forkserver

if __name__ == "__main__":
    if os.environ.get(forkserver.ENVIRONMENT_VARIABLE):
        status = forkserver.run_command("tests.forkserver_command")
        if status is not None:
            forkserver.exit_like(status)
    arguments = sys.argv[1:]
    report = {
        "arguments": arguments,
        "cwd": os.getcwd(),
        "marker": os.environ.get("DVC_TEST_MARKER"),
        "pid": os.getpid(),
        "forked": "torch" in sys.modules,
        "server_variable": os.environ.get(forkserver.ENVIRONMENT_VARIABLE),
    }
    print(json.dumps(report), flush=True)
    print("to stderr", file=sys.stderr, flush=True)
    if arguments[1:2] == ["wait"]:
        signal.pause()
    sys.exit(int(arguments[0]))
