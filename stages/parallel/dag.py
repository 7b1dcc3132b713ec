"""The stage graph as DVC itself declares it (dvc.yaml + dvc.lock), and which stages must run.

Nothing here keeps a second list of stages: the graph, the stage names and the "changed" test are
DVC's own (`Repo.index.graph`, `Stage.changed()`, the same calls `dvc repro` and `dvc status` make).
A stage must run when DVC says it changed, or when any stage upstream of it must run (its inputs are
about to change); every other stage is up to date and is left alone.

DVC never removes a stage's entry from dvc.lock once the stage is renamed or removed from dvc.yaml,
and it rewrites the whole lock file (a round-trip YAML load and dump) after every stage it runs, so
stale entries cost every later stage: `prune_lock_entries` drops them before a run.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from ..common.atomic import write_text
from ..common.params import ParamError


@dataclass(frozen=True)
class StageGraph:
    """upstream[s]: the stages whose outputs s reads; to_run: the stages that must run, in an order
    where every stage comes after its upstream stages (a topological order)."""

    upstream: dict[str, frozenset[str]]
    to_run: tuple[str, ...]

    @property
    def stages(self) -> list[str]:
        return list(self.upstream)

    def downstream_of(self, stage: str) -> set[str]:
        """Every stage that reads, directly or through others, what `stage` writes."""
        found, frontier = set(), {stage}
        while frontier:
            frontier = {s for s, ups in self.upstream.items() if ups & frontier} - found
            found |= frontier
        return found

    def critical_path(self, seconds: dict[str, float]) -> tuple[float, list[str]]:
        """The longest chain of stage times through the graph: the least wall time any number of
        workers could reach for these stage times (stages absent from `seconds` count 0)."""
        longest: dict[str, tuple[float, list[str]]] = {}
        for stage in self.topological():
            before = max(
                (longest[u] for u in self.upstream[stage]), default=(0.0, []), key=lambda t: t[0]
            )
            longest[stage] = (before[0] + seconds.get(stage, 0.0), before[1] + [stage])
        return max(longest.values(), default=(0.0, []), key=lambda t: t[0])

    def topological(self) -> list[str]:
        order, placed = [], set()
        remaining = dict(self.upstream)
        while remaining:
            ready = sorted(s for s, ups in remaining.items() if ups <= placed)
            if not ready:
                raise ValueError(f"the stage graph has a cycle among {sorted(remaining)}")
            order += ready
            placed |= set(ready)
            for stage in ready:
                del remaining[stage]
        return order


def load(root: Path, targets: list[str] | None = None, force: bool = False) -> StageGraph:
    """DVC's graph of the project at `root`, restricted to `targets` and their upstream stages
    when given; with `force` every selected stage must run whatever its state (as `dvc repro --force`)."""
    from dvc.repo import Repo

    logging.getLogger("dvc").setLevel(
        logging.WARNING
    )  # Stage.changed() logs every changed dep at INFO
    with Repo(str(root)) as repo:
        graph = repo.index.graph  # edges point from a stage to the stages whose outputs it reads
        stages = {stage.addressing: stage for stage in graph.nodes}
        upstream = {
            name: frozenset(dep.addressing for dep in graph.successors(stage))
            for name, stage in stages.items()
        }
        selected = set(stages)
        if targets:
            unknown = [t for t in targets if t not in stages]
            if unknown:
                raise ParamError(
                    "stage",
                    unknown[0],
                    "a stage of this project (`dvc stage list --all` names them all)",
                )
            selected = set(targets) | {u for t in targets for u in _ancestors(upstream, t)}
        upstream = {name: ups & selected for name, ups in upstream.items() if name in selected}
        ordered = StageGraph(upstream, ()).topological()
        must_run: set[str] = set(upstream) if force else set()
        with repo.lock:
            for name in ordered:
                if name not in must_run and (upstream[name] & must_run or stages[name].changed()):
                    must_run.add(name)
    return StageGraph(upstream, tuple(name for name in ordered if name in must_run))


def _ancestors(upstream: dict[str, frozenset[str]], stage: str) -> set[str]:
    found, frontier = set(), set(upstream[stage])
    while frontier:
        found |= frontier
        frontier = {u for s in frontier for u in upstream[s]} - found
    return found


def stale_lock_entries(root: Path) -> dict[str, list[str]]:
    """The dvc.lock entries of stages their dvc.yaml no longer declares, by lock file (relative to
    `root`); reads only."""
    from dvc.repo import Repo

    with Repo(str(root)) as repo:
        return {name: stale for name, _, stale, _ in _stale(repo, root)}


def prune_lock_entries(root: Path) -> dict[str, list[str]]:
    """Drop from every dvc.lock the entries of stages its dvc.yaml no longer declares; returns the
    names dropped, by lock file. Live entries keep their bytes: the file is loaded and dumped as DVC
    does it (ruamel round trip, dvc.utils.serialize) and replaced atomically, under DVC's repo lock.

    A 10,495-line lock with 34 stale entries of 80 cost a 1.1 s measure stage 6.5 s; pruned to
    6,037 lines, 4.0 s (README, performance)."""
    from dvc.repo import Repo
    from dvc.utils.serialize import dumps_yaml

    dropped: dict[str, list[str]] = {}
    with Repo(str(root)) as repo, repo.lock:
        for name, path, stale, lock in _stale(repo, root):
            for stage in stale:
                del lock["stages"][stage]
            write_text(path, dumps_yaml(lock))
            dropped[name] = stale
    return dropped


def _stale(repo, root: Path):
    """(lock file relative to `root`, its path, stale stage names, the lock loaded for a round trip)
    per lock file with any. Each lock is first read with DVC's plain YAML load; only one with stale
    entries gets the round-trip load, which costs ~4x as much (1.2 s for a 6,000-line lock)."""
    from dvc.utils.serialize import parse_yaml, parse_yaml_for_update

    declared: dict[Path, set[str]] = {}
    for stage in repo.index.stages:
        declared.setdefault(Path(stage.dvcfile.path).with_suffix(".lock"), set()).add(stage.name)
    for path, names in sorted(declared.items()):
        if path.exists():
            text = path.read_text()
            stale = [
                name for name in parse_yaml(text, str(path)).get("stages", {}) if name not in names
            ]
            if stale:
                lock = parse_yaml_for_update(text, str(path))
                yield str(path.relative_to(Path(root).resolve())), path, stale, lock
