"""The test suite's time, module by module: what `make test` spends, and where.

    .venv/bin/python bench/bench_test_suite.py [--workers auto] [pytest paths or options ...]

Runs pytest as `make test` does (one pytest-xdist process per core, a module per process at a
time: `--dist loadfile`) with a JUnit report, and prints each module's summed test time (setup,
call and teardown; a module-scoped fixture counts in its first test), its share, and the suite's
wall time. With --workers > 1 the longest module bounds the wall time from below.

Timings depend on the machine and on what else runs on it, so the run also measures a reference
in the same run: a fresh interpreter importing torch, pandas and DVC (what most of the suite's
subprocesses pay), the median of three before the suite. The suite's wall time is printed in those
units too, and the load average before and after, so a busy machine shows. Writes
bench/out/test_suite.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ElementTree
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out" / "test_suite.json"
REFERENCE = "import torch, pandas, dvc.repo"


def environment() -> dict:
    return {
        **os.environ,
        "PATH": f"{ROOT / '.venv' / 'bin'}{os.pathsep}{os.environ['PATH']}",
        "OMP_NUM_THREADS": "1",
        "OMP_WAIT_POLICY": "PASSIVE",
        "PYTHONHASHSEED": "0",
    }


def reference_seconds(repeats: int = 3) -> float:
    """Median wall time of a fresh interpreter importing what the suite's subprocesses import."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", REFERENCE], check=True, env=environment())
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def module_times(report: Path) -> dict[str, dict]:
    """{module file: {"tests": n, "seconds": summed test time, "failed": n}} from a JUnit report."""
    modules: dict[str, dict] = defaultdict(lambda: {"tests": 0, "seconds": 0.0, "failed": 0})
    for case in ElementTree.parse(report).getroot().iter("testcase"):
        entry = modules[case.get("file") or case.get("classname", "?")]
        entry["tests"] += 1
        entry["seconds"] += float(case.get("time", 0.0))
        entry["failed"] += sum(1 for child in case if child.tag in ("failure", "error"))
    return dict(modules)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", default="auto", help="pytest-xdist processes (0: none)")
    arguments, passed = parser.parse_known_args(argv)
    reference = reference_seconds()
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench-tests-") as folder:
        report = Path(folder) / "junit.xml"
        command = [sys.executable, "-m", "pytest", "-q", "-p", "no:warnings"]
        command += ["-n", arguments.workers, "--dist", "loadfile"]
        command += ["-o", "junit_family=xunit1", f"--junitxml={report}", *(passed or ["tests"])]
        start = time.perf_counter()
        result = subprocess.run(
            command, cwd=ROOT, env=environment(), capture_output=True, text=True
        )
        wall = time.perf_counter() - start
        modules = module_times(report) if report.exists() else {}
    load_after = os.getloadavg()
    closing = (result.stdout.strip().splitlines() or ["(no output)"])[-1]
    total = sum(m["seconds"] for m in modules.values()) or 1.0
    print(f"{'module':<48} {'tests':>5} {'seconds':>8} {'share':>6}")
    for name, entry in sorted(modules.items(), key=lambda item: -item[1]["seconds"]):
        flag = f"  ({entry['failed']} failed)" if entry["failed"] else ""
        print(
            f"{name:<48} {entry['tests']:>5} {entry['seconds']:>8.1f} "
            f"{entry['seconds'] / total:>6.1%}{flag}"
        )
    longest = max((m["seconds"] for m in modules.values()), default=0.0)
    print(
        f"\nwall {wall:.1f} s with --workers {arguments.workers} ({wall / reference:.0f}x the "
        f"reference, {reference:.2f} s: `python -c '{REFERENCE}'`); test time {total:.1f} s in "
        f"total; longest module {longest:.1f} s"
    )
    print(
        f"load average before {load_before[0]:.2f}, after {load_after[0]:.2f} "
        f"(on {os.cpu_count()} cores); pytest: {closing}"
    )
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(
        json.dumps(
            {
                "wall_seconds": round(wall, 1),
                "workers": arguments.workers,
                "reference_seconds": round(reference, 3),
                "load_average_before": load_before[0],
                "load_average_after": load_after[0],
                "modules": modules,
                "pytest": closing,
            },
            indent=2,
            sort_keys=True,
        )
        + "\n"
    )
    return result.returncode


if __name__ == "__main__":
    sys.exit(main())
