"""Run the stages that must run on a Dask cluster, each as soon as its upstream stages are done.

The driver holds the graph; a worker runs one `dvc repro --single-item <stage>` at a time (one
single-threaded worker per core). Among stages that are ready, the one heading the longest chain of
remaining work goes first (stage times remembered from earlier runs), so the critical path is never
left waiting behind short stages. A failed stage blocks only the stages downstream of it; the others
run to the end. Ctrl-C (or SIGTERM) stops every running stage on every worker before returning.
"""

from __future__ import annotations

import functools
import json
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .dag import StageGraph
from .task import (
    FAILED,
    RAN,
    StageOutcome,
    run_stage,
    running_stages,
    start_forkserver,
    stop_forkserver,
    stop_running,
)

HEARTBEAT_SECONDS = 30.0  # a progress line at least this often while stages run
UNKNOWN_STAGE_SECONDS = 10.0  # priority weight of a stage never timed on this machine
FORKSERVER_MIN_STAGES_PER_SLOT = 3  # fewer stages to run than this per worker: no fork servers


@dataclass
class Summary:
    outcomes: dict[str, StageOutcome] = field(default_factory=dict)
    blocked: list[str] = field(default_factory=list)  # not started: a stage upstream of them failed
    interrupted: bool = False
    wall_seconds: float = 0.0

    def named(self, status: str) -> list[str]:
        return sorted(s for s, outcome in self.outcomes.items() if outcome.status == status)

    @property
    def stage_seconds(self) -> float:
        return sum(outcome.seconds for outcome in self.outcomes.values())

    @property
    def ok(self) -> bool:
        return not (self.interrupted or self.blocked or self.named(FAILED))


class StageHistory:
    """Seconds each stage took when it last ran here (.dvc/tmp, never versioned): the priorities."""

    def __init__(self, path: Path):
        self.path = path
        try:
            self.seconds: dict[str, float] = json.loads(path.read_text())
        except (OSError, ValueError):
            self.seconds = {}

    def record(self, outcome: StageOutcome) -> None:
        if outcome.status == RAN:
            self.seconds[outcome.stage] = round(outcome.seconds, 2)

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_suffix(".partial")
        partial.write_text(json.dumps(self.seconds, indent=1, sort_keys=True))
        partial.replace(self.path)


def remaining_work(graph: StageGraph, seconds: dict[str, float]) -> dict[str, float]:
    """For each stage to run: its time plus the longest chain of to-run stages downstream of it."""
    to_run = set(graph.to_run)
    downstream = {stage: [s for s in to_run if stage in graph.upstream[s]] for stage in to_run}
    work: dict[str, float] = {}
    for stage in reversed(graph.to_run):  # to_run is topological: downstream stages are done first
        own = seconds.get(stage, UNKNOWN_STAGE_SECONDS)
        work[stage] = own + max((work[d] for d in downstream[stage]), default=0.0)
    return work


@dataclass(frozen=True)
class PlannedStage:
    stage: str
    start: float  # seconds after the run starts, on the simulated workers
    seconds: float  # remembered, or UNKNOWN_STAGE_SECONDS when never timed here
    timed: bool  # whether `seconds` was measured here


def plan(graph: StageGraph, seconds: dict[str, float], workers: int) -> list[PlannedStage]:
    """The run `execute` would make, simulated on `workers` workers with the remembered stage times
    and its own rule (a stage starts once its to-run upstream stages are done; among ready stages
    the one heading the longest remaining chain first, then by name): the stages in starting order."""
    to_run = set(graph.to_run)
    waiting_on = {stage: set(graph.upstream[stage]) & to_run for stage in graph.to_run}
    priority = remaining_work(graph, seconds)
    busy: list[tuple[float, str]] = []  # (finish time, stage) of the stages running
    planned, now = [], 0.0
    while waiting_on or busy:
        ready = sorted(
            (s for s, ups in waiting_on.items() if not ups), key=lambda s: (-priority[s], s)
        )
        for stage in ready[: workers - len(busy)]:
            del waiting_on[stage]
            own = seconds.get(stage, UNKNOWN_STAGE_SECONDS)
            planned.append(PlannedStage(stage, now, own, stage in seconds))
            busy.append((now + own, stage))
        if not busy:
            raise ValueError(f"no stage can start among {sorted(waiting_on)}: a cycle")
        busy.sort()
        now, finished = busy.pop(0)
        for upstream in waiting_on.values():
            upstream.discard(finished)
    return planned


def execute(
    client,
    graph: StageGraph,
    root: Path,
    environment: dict[str, str],
    force: bool,
    history: StageHistory,
    say: Callable[[str], None],
    forkservers: bool = True,
) -> Summary:
    """Submit each stage of `graph.to_run` once its to-run upstream stages have all succeeded;
    with `forkservers`, each worker forks the commands from a warm interpreter where enough stages
    are to run for its start-up to pay (stages/common/forkserver.py)."""
    from distributed import wait

    to_run = set(graph.to_run)
    waiting_on = {stage: set(graph.upstream[stage]) & to_run for stage in graph.to_run}
    priority = remaining_work(graph, history.seconds)
    summary, running, started = Summary(), {}, {}
    start = time.monotonic()
    slots = sum(client.nthreads().values())
    progress = _Progress(len(to_run), slots, start, say)
    # a fork server costs ~4 s of one core to start and saves ~3 s on every later command
    forkservers = forkservers and len(to_run) >= FORKSERVER_MIN_STAGES_PER_SLOT * slots
    if forkservers:
        client.run(shipped(start_forkserver), str(root), environment)

    def submit_ready() -> None:
        for stage in [s for s, upstream in waiting_on.items() if not upstream]:
            del waiting_on[stage]
            running[
                client.submit(
                    shipped(run_stage),
                    str(root),
                    stage,
                    environment,
                    force,
                    key=f"dvc-stage-{stage}",
                    priority=int(priority[stage] * 1000),
                    pure=False,
                )
            ] = stage
            started[stage] = time.monotonic()

    with _interrupts_as_keyboard_interrupt():
        try:
            submit_ready()
            while running:
                try:
                    finished = wait(
                        list(running), timeout=HEARTBEAT_SECONDS, return_when="FIRST_COMPLETED"
                    ).done
                except TimeoutError:
                    on_workers = client.run(shipped(running_stages))
                    progress.heartbeat(
                        summary, {s: t for stages in on_workers.values() for s, t in stages.items()}
                    )
                    continue
                for future in finished:
                    stage = running.pop(future)
                    outcome = _outcome(future, stage, time.monotonic() - started[stage])
                    summary.outcomes[stage] = outcome
                    history.record(outcome)
                    if outcome.status == FAILED:
                        blocked = sorted(graph.downstream_of(stage) & set(waiting_on))
                        for name in blocked:
                            del waiting_on[name]
                        summary.blocked += blocked
                    else:
                        for upstream in waiting_on.values():
                            upstream.discard(stage)
                    progress.finished(outcome, summary, len(running))
                submit_ready()
        except KeyboardInterrupt:
            summary.interrupted = True
            say(
                f"interrupted: cancelling {len(running)} submitted stage(s), stopping those running ..."
            )
            for future in running:
                future.cancel()
            client.run(shipped(stop_running))
        finally:
            history.save()
            if forkservers:
                client.run(shipped(stop_forkserver))
    summary.wall_seconds = time.monotonic() - start
    return summary


def shipped(function: Callable) -> Callable:
    """`function` as a closure: the standard pickler cannot pickle it, so Dask falls back to
    cloudpickle, which ships it by value (stages.parallel.task is registered for that) and neither
    the scheduler nor a remote worker has to import this project. It keeps `function`'s signature
    (`Client.run` passes `dask_worker` only to functions that name it)."""
    return functools.wraps(function)(
        lambda *arguments, **keywords: function(*arguments, **keywords)
    )


def _outcome(future, stage: str, seconds: float) -> StageOutcome:
    """The task's own report, or a failure naming what killed it (a lost worker, a broken pickle)."""
    try:
        return future.result()
    except Exception as error:  # noqa: BLE001 - any task error is this stage's failure, shown to the user
        reason = " ".join(f"{type(error).__name__}: {error}".split())
        return StageOutcome(stage, FAILED, seconds, reason, "unknown", reason)


def short(stage: str) -> str:
    """A stage's name without its dvc.yaml path (`pipelines/gpfq/dvc.yaml:train-gpfq-float_training@float_mlp` ->
    `train-gpfq-float_training@float_mlp`): names carry their study, so they are unique on their own."""
    return stage.rsplit(":", 1)[-1]


class _Progress:
    """One line per finished stage, and a heartbeat naming the running stages while none finishes."""

    def __init__(self, total: int, slots: int, start: float, say: Callable[[str], None]):
        self.total, self.slots, self.start, self.say = total, slots, start, say

    def _clock(self) -> str:
        return f"[{time.monotonic() - self.start:7.1f}s]"

    def finished(self, outcome: StageOutcome, summary: Summary, submitted: int) -> None:
        done, running = len(summary.outcomes), min(submitted, self.slots)
        left = self.total - done - submitted - len(summary.blocked)
        self.say(
            f"{self._clock()} {outcome.status:>7} {short(outcome.stage)} ({outcome.seconds:.1f}s)"
            f"  | done {done}/{self.total}, running {running}, queued {submitted - running}, "
            f"waiting on upstream {left}"
        )

    def heartbeat(self, summary: Summary, running_for: dict[str, float]) -> None:
        names = ", ".join(
            f"{short(stage)} {seconds:.0f}s" for stage, seconds in sorted(running_for.items())
        )
        self.say(
            f"{self._clock()} running: {names or '(starting)'}  | done {len(summary.outcomes)}/{self.total}"
        )


class _interrupts_as_keyboard_interrupt:
    """SIGTERM (a CI runner's or a scheduler's stop) takes the same path as Ctrl-C."""

    def __enter__(self):
        self.previous = signal.signal(signal.SIGTERM, self._raise)

    def __exit__(self, *exc):
        signal.signal(signal.SIGTERM, self.previous)
        return False

    @staticmethod
    def _raise(signum, frame):
        raise KeyboardInterrupt
