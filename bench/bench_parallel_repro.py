"""Cold `make repro` on one worker against as many workers as cores, in one run.

    .venv/bin/python bench/bench_parallel_repro.py [--jobs 2] [--profile tests/profiles/tiny.yaml]

Two fresh copies of the working tree (stages/parallel/workspace.py: no data, empty DVC cache) run
every stage, the first with `--jobs 1`, the second with `--jobs N`, one after the other on this
machine, so the ratio does not depend on the machine's speed (run it on a quiet machine: another
busy process takes cores from the parallel run only). Also printed: the critical path (the longest
chain of stage times, the wall time no number of cores could beat) against the sum of stage times,
so a reader sees how far more cores would go. Default profile unless --profile names another.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from stages.parallel.workspace import copy_project  # noqa: E402

sys.path.insert(0, str(ROOT / "tests"))
from params_profile import apply_profile  # noqa: E402

SUMMARY = re.compile(
    r"stage time (?P<total>[\d.]+) s in total; speed-up [\d.]+x; critical path (?P<path>[\d.]+) s"
)


def cold_run(jobs: int, profile: Path | None) -> tuple[float, float, float]:
    """(wall seconds, sum of stage seconds, critical-path seconds) of a cold run with `jobs` workers."""
    with tempfile.TemporaryDirectory(prefix=f"bench-jobs{jobs}-") as folder:
        root = copy_project(ROOT, Path(folder))
        if profile is not None:
            apply_profile(root / "params.yaml", profile)
        environment = {
            **os.environ,
            "PATH": f"{ROOT / '.venv' / 'bin'}{os.pathsep}{os.environ['PATH']}",
            "OMP_NUM_THREADS": "1",
            "OMP_WAIT_POLICY": "PASSIVE",
            "PYTHONHASHSEED": "0",
        }
        start = time.perf_counter()
        result = subprocess.run(
            [sys.executable, "-m", "stages.repro", "--jobs", str(jobs)],
            cwd=root,
            env=environment,
            capture_output=True,
            text=True,
        )
        wall = time.perf_counter() - start
    if result.returncode != 0:
        sys.exit(f"jobs={jobs} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    found = SUMMARY.search(result.stdout)
    return wall, float(found["total"]), float(found["path"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument(
        "--profile", type=Path, help="a profile of params.yaml (default: the default profile)"
    )
    arguments = parser.parse_args()
    serial_wall, serial_total, serial_path = cold_run(1, arguments.profile)
    print(f"jobs=1: wall {serial_wall:.1f} s (stage time {serial_total:.1f} s)", flush=True)
    parallel_wall, parallel_total, _ = cold_run(arguments.jobs, arguments.profile)
    print(f"jobs={arguments.jobs}: wall {parallel_wall:.1f} s (stage time {parallel_total:.1f} s)")
    print(
        f"speed-up jobs={arguments.jobs} over jobs=1: {serial_wall / parallel_wall:.2f}x "
        f"(goal on 2 cores: >= 1.7x)"
    )
    print(
        f"critical path {serial_path:.1f} s of {serial_total:.1f} s of stage time (one worker): "
        f"no number of cores can beat {serial_total / serial_path:.1f}x over one"
    )


if __name__ == "__main__":
    main()
