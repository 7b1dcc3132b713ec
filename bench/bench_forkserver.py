"""A stage command forked from a fork server against the same command in a fresh interpreter.

    .venv/bin/python bench/bench_forkserver.py [--repeats 5]

In a copy of the working tree at the tiny profile (stages/parallel/workspace.py), `dvc repro`
makes the inputs of one training stage; then its command, `python -m stages.train sparse_features
diag_gd_flow` (three seeds of 300 steps: almost all of its time is start-up, which is what the
fork server removes), runs `--repeats` times in a fresh interpreter and as many times forked from
a fork server (stages/common/forkserver.py), alternating, on this machine in one run. Printed: the
median wall seconds of each and their ratio; it fails if any forked run's output differs from the
fresh runs' by a byte, or if the server did not fork every forked run.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from stages.common import forkserver  # noqa: E402
from stages.parallel.workspace import copy_project  # noqa: E402

sys.path.insert(0, str(ROOT / "tests"))
from params_profile import apply_profile  # noqa: E402

STUDY, EXPERIMENT, VARIANT = "sparse_features", "diag_net", "diag_gd_flow"
COMMAND = ["python", "-m", "stages.train", STUDY, VARIANT]
OUTPUT = Path("data") / STUDY / "runs" / f"{VARIANT}.npz"
SERVER_START_SECONDS = 120.0  # a ceiling for the server's imports, not a measure


def timed(root: Path, environment: dict[str, str]) -> tuple[float, str]:
    """Wall seconds of one run of COMMAND and the sha256 of its output."""
    start = time.perf_counter()
    subprocess.run(COMMAND, cwd=root, env=environment, check=True, capture_output=True)
    seconds = time.perf_counter() - start
    return seconds, hashlib.sha256((root / OUTPUT).read_bytes()).hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    repeats = parser.parse_args().repeats
    environment = {
        **{k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")},
        "PATH": f"{ROOT / '.venv' / 'bin'}{os.pathsep}{os.environ['PATH']}",
        "OMP_NUM_THREADS": "1",
        "OMP_WAIT_POLICY": "PASSIVE",
        "PYTHONHASHSEED": "0",
    }
    with tempfile.TemporaryDirectory(prefix="bench-forkserver-") as folder:
        root = copy_project(ROOT, Path(folder) / "project")
        apply_profile(root / "params.yaml", ROOT / "tests" / "profiles" / "tiny.yaml")
        stage = f"pipelines/{STUDY}/{EXPERIMENT}/dvc.yaml:train-{STUDY}-{EXPERIMENT}@{VARIANT}"
        subprocess.run(
            ["dvc", "repro", "-q", stage],
            cwd=root,
            env=environment,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        address = os.path.join(folder, "socket")
        log = Path(folder) / "server.log"
        with open(log, "w") as output:
            server = subprocess.Popen(
                ["python", "-m", "stages.common.forkserver", address, str(os.getpid())],
                cwd=root,
                env=environment,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + SERVER_START_SECONDS
        while not os.path.exists(address) and time.monotonic() < deadline:
            time.sleep(0.05)
        forked_environment = {**environment, forkserver.ENVIRONMENT_VARIABLE: address}
        fresh, forked, digests = [], [], set()
        try:
            for _ in range(repeats):
                for runs, env in ((fresh, environment), (forked, forked_environment)):
                    seconds, digest = timed(root, env)
                    runs.append(seconds)
                    digests.add(digest)
        finally:
            server.terminate()
            server.wait()
        forks = sum(line.startswith("forked ") for line in log.read_text().splitlines())
    if forks != repeats:
        sys.exit(f"the server forked {forks} of {repeats} runs: {log.read_text()[-2000:]}")
    if len(digests) != 1:
        sys.exit(f"forked and fresh runs wrote different outputs: {sorted(digests)}")
    fresh_median, forked_median = statistics.median(fresh), statistics.median(forked)
    print(
        f"`{' '.join(COMMAND)}` at the tiny profile, {repeats} runs each, same output bytes: "
        f"fresh interpreter {fresh_median:.2f} s, forked {forked_median:.2f} s (medians): "
        f"{fresh_median / forked_median:.2f}x"
    )


if __name__ == "__main__":
    main()
