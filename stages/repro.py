"""`dvc repro` on every core, or on a Dask cluster: `python -m stages.repro` (what `make repro` runs).

    python -m stages.repro [--jobs N] [--scheduler ADDRESS] [--force] [--dry] [--no-forkserver]
                           [STAGE ...]

First it checks params.yaml and claims.yaml in full (stages/parallel/preflight.py): a bad input
stops it with one line and exit status 2 before DVC runs anything, so no output is deleted. Then it
waits for any stage an earlier, killed run left running, and drops the dvc.lock entries of stages
no dvc.yaml declares any more (DVC keeps them, and pays for them at every stage). The stages that
`dvc status` says must run (all of them, or STAGE and its upstream stages) each run as
`dvc --wait-for-lock repro --single-item <stage>` as soon as their upstream stages are done, N at
once on a local Dask cluster (one
single-threaded worker process per job; N defaults to the cores this process may use,
os.sched_getaffinity, whatever OMP_NUM_THREADS says), or on the workers of the Dask scheduler at
ADDRESS (`--scheduler`, or `execution.scheduler` in params.yaml; workers must see this project at
the same path). Each worker that is to run several stages first starts a fork server that imports
torch and the other heavy libraries once and forks the stages' commands from it, bit-identical to
fresh interpreters and about 3 s of one core cheaper each (stages/common/forkserver.py;
`--no-forkserver` runs every command in a fresh interpreter). Outputs, dvc.lock and the run-cache are DVC's own, so a plain `dvc repro` afterwards
is a no-op: this command checks that and fails loudly if not. `--dry` prints what would run, in
starting order, with the times remembered from earlier runs here and the critical path, and runs
nothing (it works on a fresh clone with no data/). Exit status: 0 all done; 1 a stage failed (its
dependants did not start); 2 bad input; 130 interrupted (running stages stopped, nothing
half-written kept).
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import sys
from contextlib import contextmanager
from pathlib import Path

from .common.atomic import DataError
from .common.params import ParamError
from .common.runtime import usable_cores
from .parallel import dag, task
from .parallel.preflight import check_inputs, is_this_project, wait_for_earlier_stages
from .parallel.runner import (
    UNKNOWN_STAGE_SECONDS,
    StageHistory,
    Summary,
    execute,
    plan,
    shipped,
    short,
)
from .parallel.task import FAILED, RAN, SKIPPED

HISTORY_FILE = Path(".dvc/tmp/stage-seconds.json")
EXIT_FAILED, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 1, 2, 130
NAMES_SHOWN = 3  # stale dvc.lock entries named in the line that says they were dropped


def main(argv: list[str] | None = None) -> int:
    arguments = _parser().parse_args(argv)
    root = Path.cwd()
    try:
        if arguments.jobs < 1:
            raise ParamError("--jobs", arguments.jobs, "an integer >= 1")
        scheduler, source = arguments.scheduler, "--scheduler"
        if is_this_project(root):
            inputs = check_inputs()
            if not scheduler and inputs.scheduler:
                scheduler, source = inputs.scheduler, "execution.scheduler"
            _say(
                f"params.yaml and claims.yaml are valid: {inputs.studies} studies, "
                f"{inputs.variants} variants, {inputs.claims} claims"
            )
    except (ParamError, DataError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if not arguments.dry:
        wait_for_earlier_stages(root, _say)
    from dvc.exceptions import DvcException

    try:
        if not arguments.dry:
            for lock_file, names in dag.prune_lock_entries(root).items():
                shown = ", ".join(names[:NAMES_SHOWN]) + (
                    f" and {len(names) - NAMES_SHOWN} more" if len(names) > NAMES_SHOWN else ""
                )
                _say(
                    f"{lock_file}: dropped {len(names)} entries of stages no longer in its "
                    f"dvc.yaml ({shown})"
                )
        graph = dag.load(root, arguments.stages or None, force=arguments.force)
    except (ParamError, DvcException) as error:  # bad targets, dvc.yaml or dvc.lock
        print(f"error: {one_line(error)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    history = StageHistory(root / HISTORY_FILE)
    if arguments.dry:
        _print_plan(graph, history, arguments.jobs)
        return 0
    if not graph.to_run:
        print(f"nothing to run: all {len(graph.stages)} stages are up to date")
        return 0
    where = (
        f"the Dask scheduler at {scheduler}" if scheduler else f"{arguments.jobs} local worker(s)"
    )
    print(f"{len(graph.to_run)} of {len(graph.stages)} stages to run on {where}", flush=True)
    try:
        with dask_client(arguments.jobs, scheduler, source, arguments.dashboard) as client:
            summary = execute(
                client,
                graph,
                root,
                worker_environment(),
                arguments.force,
                history,
                _say,
                forkservers=not arguments.no_forkserver,
            )
    except ParamError as error:  # the scheduler did not answer
        print(f"error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
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


def one_line(error: BaseException) -> str:
    """An error and the errors it was raised from, on one line (DVC's messages span several)."""
    parts, seen = [], error
    while seen is not None:
        text = " ".join(str(seen).split())
        if text and all(text not in part for part in parts):
            parts.append(text)
        seen = seen.__cause__ or seen.__context__
    return ": ".join(parts) or type(error).__name__


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
def dask_client(jobs: int, scheduler: str | None, source: str, dashboard: str | None):
    """A client of the scheduler at `scheduler` (given by `source`), or of a local cluster of `jobs`
    single-threaded worker processes (no memory limit: a stage's memory is its own business; no
    dashboard unless `dashboard` gives its address). A scheduler that does not answer within
    Dask's connect timeout is a ParamError naming the address and what was tried."""
    import cloudpickle
    import dask
    from distributed import Client, LocalCluster

    cloudpickle.register_pickle_by_value(task)  # workers need not import this project
    # idle local workers sampled their own stacks every 10 ms: 5% of a core each, taken from the stages
    dask.config.set(
        {
            "distributed.worker.profile.enabled": False,
            "distributed.admin.system-monitor.interval": "5s",
            "distributed.admin.tick.interval": "1s",
            "distributed.scheduler.work-stealing": False,
        }
    )
    if scheduler:
        with _connected(
            scheduler, source, dask.config.get("distributed.comm.timeouts.connect")
        ) as client:
            yield client
        return
    with (
        LocalCluster(
            n_workers=jobs,
            threads_per_worker=1,
            processes=True,
            memory_limit=0,
            dashboard_address=dashboard,
            # without a dashboard the scheduler still serves its HTTP routes, on 8787 by default:
            # a port another program may hold (a warning); any free local port will do
            scheduler_kwargs=None if dashboard else {"dashboard_address": "127.0.0.1:0"},
            silence_logs=logging.ERROR,
        ) as cluster,
        Client(cluster) as client,
    ):
        client.run(
            shipped(task.ignore_interrupts)
        )  # Ctrl-C reaches the driver, which stops the stages itself
        yield client


@contextmanager
def _connected(scheduler: str, source: str, timeout):
    from distributed import Client

    logging.getLogger("distributed").setLevel(logging.CRITICAL)  # its retries: one line below
    try:
        client = Client(scheduler, timeout=timeout)
    except (OSError, TimeoutError, ValueError, TypeError) as error:
        tried = re.sub(r"in <[^>]*>: ", "", one_line(error))  # drop a connector object's repr
        raise ParamError(
            source,
            scheduler,
            f"the address of a running Dask scheduler (none answered within {timeout}, "
            f"distributed.comm.timeouts.connect: {tried})",
        ) from None
    finally:
        logging.getLogger("distributed").setLevel(logging.WARNING)
    with client:
        yield client


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
        default=usable_cores(),
        help="local worker processes, one stage each (default: the cores this process may use)",
    )
    parser.add_argument(
        "--scheduler", help="address of a running Dask scheduler (default: execution.scheduler)"
    )
    parser.add_argument(
        "--force", "-f", action="store_true", help="rerun the stages even if up to date"
    )
    parser.add_argument(
        "--dry",
        action="store_true",
        help="print what would run, in order, with the expected times, and run nothing",
    )
    parser.add_argument(
        "--no-forkserver",
        action="store_true",
        help="start every stage command in a fresh interpreter (default: fork it from a warm one)",
    )
    parser.add_argument(
        "--dashboard", metavar="ADDRESS", help="serve the local cluster's Dask dashboard there"
    )
    return parser


def _say(line: str) -> None:
    print(line, flush=True)


def _print_plan(graph: dag.StageGraph, history: StageHistory, workers: int) -> None:
    """`--dry`: the stages that would run, in the order the driver would start them on `workers`
    workers, each with its remembered time, then the totals and the critical path."""
    if not graph.to_run:
        print(f"nothing to run: all {len(graph.stages)} stages are up to date")
        return
    planned = plan(graph, history.seconds, workers)
    untimed = [p for p in planned if not p.timed]
    print(
        f"{len(planned)} of {len(graph.stages)} stages would run, in this order on {workers} "
        f"worker(s) (times from {HISTORY_FILE}; a stage never timed here counts "
        f"{UNKNOWN_STAGE_SECONDS:g} s and shows ?):"
    )
    print(f"{'#':>4} {'start s':>8} {'stage s':>8}  stage")
    for number, step in enumerate(planned, 1):
        seconds = f"{step.seconds:.1f}" + ("" if step.timed else "?")
        print(f"{number:>4} {step.start:>8.1f} {seconds:>8}  {short(step.stage)}")
    known = {p.stage: p.seconds for p in planned}
    path_seconds, path = graph.critical_path(known)
    total = sum(known.values())
    wall = max(p.start + p.seconds for p in planned)
    print(
        f"expected: {total:.0f} s of stage time, about {wall:.0f} s on {workers} worker(s); "
        f"critical path {path_seconds:.0f} s ({len(path)} stage(s), ending {short(path[-1])})"
        + (f"; {len(untimed)} stage(s) never timed here" if untimed else "")
    )


def _print_summary(summary: Summary, graph: dag.StageGraph, client_jobs: int | None) -> None:
    for stage in summary.named(FAILED):
        outcome = summary.outcomes[stage]
        print(f"\nFAILED {short(stage)} (on {outcome.host}): {outcome.reason}", file=sys.stderr)
        if not outcome.reason.startswith(
            ("its command was killed", "its command exited with status 2:")
        ):
            print("  its last lines:", file=sys.stderr)
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
