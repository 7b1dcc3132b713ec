"""`dvc repro` on every core, or on a Dask cluster: `python -m stages.repro` (what `make repro` runs).

    python -m stages.repro [--jobs N] [--scheduler ADDRESS] [--force] [STAGE ...]

The stages that `dvc status` says must run (all of them, or STAGE and its upstream stages) each run
as `dvc --wait-for-lock repro --single-item <stage>` as soon as their upstream stages are done, N at
once on a local Dask cluster (one single-threaded worker process per job; N defaults to the cores
this process may use), or on the workers of the Dask scheduler at ADDRESS (`--scheduler`, or
`execution.scheduler` in params.yaml; workers must see this project at the same path). Outputs,
dvc.lock and the run-cache are DVC's own, so a plain `dvc repro` afterwards is a no-op: this command
checks that and fails loudly if not. Exit status: 0 all done; 1 a stage failed (its dependants did
not start); 2 bad input; 130 interrupted (running stages stopped, nothing half-written kept).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from contextlib import contextmanager
from pathlib import Path

from dvc.exceptions import DvcException

from .common.params import PARAMS_FILE, ParamError, execution_section
from .parallel import dag, task
from .parallel.runner import StageHistory, Summary, execute, shipped, short
from .parallel.task import FAILED, RAN, SKIPPED

HISTORY_FILE = Path(".dvc/tmp/stage-seconds.json")
EXIT_FAILED, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 1, 2, 130


def main(argv: list[str] | None = None) -> int:
    arguments = _parser().parse_args(argv)
    root = Path.cwd()
    try:
        scheduler = arguments.scheduler or _configured_scheduler()
        if arguments.jobs < 1:
            raise ParamError("--jobs", arguments.jobs, "an integer >= 1")
        graph = dag.load(root, arguments.stages or None, force=arguments.force)
    except (ParamError, DvcException) as error:  # bad arguments, params.yaml, dvc.yaml or dvc.lock
        print(f"error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if not graph.to_run:
        print(f"nothing to run: all {len(graph.stages)} stages are up to date")
        return 0
    where = (
        f"the Dask scheduler at {scheduler}" if scheduler else f"{arguments.jobs} local worker(s)"
    )
    print(f"{len(graph.to_run)} of {len(graph.stages)} stages to run on {where}", flush=True)
    history = StageHistory(root / HISTORY_FILE)
    with dask_client(arguments.jobs, scheduler) as client:
        summary = execute(client, graph, root, worker_environment(), arguments.force, history, _say)
    _print_summary(summary, graph, client_jobs=arguments.jobs if not scheduler else None)
    if summary.interrupted:
        return EXIT_INTERRUPTED
    if not summary.ok:
        return EXIT_FAILED
    left = dag.load(root, arguments.stages or None).to_run
    if left:
        print(
            f"error: after the run, dvc still sees {len(left)} stage(s) to run: {', '.join(left)} "
            "(a plain `dvc repro` would not be a no-op)",
            file=sys.stderr,
        )
        return EXIT_FAILED
    return 0


def worker_environment() -> dict[str, str]:
    """What every stage process gets: this interpreter's bin first on PATH (DVC runs `python -m
    stages...` from PATH), one thread per process, and a fixed hash seed."""
    interpreter_bin = str(Path(sys.executable).parent)
    return {
        "PATH": f"{interpreter_bin}{os.pathsep}{os.environ.get('PATH', '')}",
        "OMP_NUM_THREADS": "1",
        "OMP_WAIT_POLICY": "PASSIVE",
        "PYTHONHASHSEED": "0",
    }


@contextmanager
def dask_client(jobs: int, scheduler: str | None):
    """A client of the scheduler at `scheduler`, or of a local cluster of `jobs` single-threaded
    worker processes (no memory limit: a stage's memory is its own business, no dashboard)."""
    import cloudpickle
    import dask
    from distributed import Client, LocalCluster

    cloudpickle.register_pickle_by_value(task)  # workers need not import this project
    # idle local workers sampled their own stacks every 10 ms: 5% of a core each, taken from the stages
    dask.config.set(
        {
            "distributed.worker.profile.enabled": False,
            "distributed.admin.system-monitor.interval": "5s",
        }
    )
    if scheduler:
        with Client(scheduler) as client:
            yield client
        return
    with (
        LocalCluster(
            n_workers=jobs,
            threads_per_worker=1,
            processes=True,
            memory_limit=0,
            dashboard_address=None,
            silence_logs=logging.ERROR,
        ) as cluster,
        Client(cluster) as client,
    ):
        client.run(
            shipped(task.ignore_interrupts)
        )  # Ctrl-C reaches the driver, which stops the stages itself
        yield client


def _configured_scheduler() -> str | None:
    if not PARAMS_FILE.exists():  # a DVC project without our params.yaml (the tests' toy projects)
        return None
    section = execution_section()
    return (
        section.text("scheduler") if section.has("scheduler") and section.raw("scheduler") else None
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m stages.repro", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "stages", nargs="*", help="stages to reproduce with their upstream stages (default: all)"
    )
    parser.add_argument(
        "--jobs",
        "-j",
        type=int,
        default=len(os.sched_getaffinity(0)),
        help="local worker processes, one stage each (default: the usable cores)",
    )
    parser.add_argument(
        "--scheduler", help="address of a running Dask scheduler (default: execution.scheduler)"
    )
    parser.add_argument(
        "--force", "-f", action="store_true", help="rerun the stages even if up to date"
    )
    return parser


def _say(line: str) -> None:
    print(line, flush=True)


def _print_summary(summary: Summary, graph: dag.StageGraph, client_jobs: int | None) -> None:
    for stage in summary.named(FAILED):
        outcome = summary.outcomes[stage]
        print(f"\nFAILED {short(stage)} (on {outcome.host}); its last lines:", file=sys.stderr)
        print("\n".join("    " + line for line in outcome.tail.splitlines()), file=sys.stderr)
    if summary.blocked:
        print(
            f"not started, downstream of a failure: {', '.join(map(short, summary.blocked))}",
            file=sys.stderr,
        )
    print(
        f"summary: {len(summary.named(RAN))} ran, {len(summary.named(SKIPPED))} skipped (up to date or "
        f"restored from the run-cache), {len(summary.named(FAILED))} failed, {len(summary.blocked)} blocked"
        f"{', interrupted' if summary.interrupted else ''}"
    )
    if not summary.outcomes:
        return
    path_seconds, path = graph.critical_path({s: o.seconds for s, o in summary.outcomes.items()})
    workers = f" on {client_jobs} worker(s)" if client_jobs else ""
    print(
        f"wall {summary.wall_seconds:.1f} s{workers}; stage time {summary.stage_seconds:.1f} s in total; "
        f"speed-up {summary.stage_seconds / summary.wall_seconds:.2f}x; critical path {path_seconds:.1f} s "
        f"({len(path)} stage(s), ending {short(path[-1])})"
    )


if __name__ == "__main__":
    sys.exit(main())
