"""A small stage diagram per study, from DVC's own graph: `make dag` writes them into README.md.

    python -m stages.dag_diagram                   print the diagrams (markdown with mermaid blocks)
    python -m stages.dag_diagram --write README.md  replace the block between the markers
    python -m stages.dag_diagram --check README.md  exit 1 if that block is not what DVC says now

`dvc dag` draws every stage instance: 107 of them, 10,745 columns wide. Here the instances of a
foreach block collapse into one node that counts them (`train diag_net ×5`), per study (its
pipelines/<study>/dvc.yaml and pipelines/<study>/<experiment>/dvc.yaml), with the stages outside the study that read it (the report). Names
drop the study (`train-sparse_features-diag_net@...` is `train diag_net` under sparse_features).
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter
from pathlib import Path

from .common import paths

BEGIN = "<!-- stage diagrams: begin (`make dag` writes them from DVC's graph; a test fails when they are stale) -->"
END = "<!-- stage diagrams: end -->"


def stage_edges() -> list[tuple[str, str]]:
    """(upstream, downstream) for every pair of stages where downstream reads upstream's outputs,
    by DVC's addresses (`pipelines/<study>[/<experiment>]/dvc.yaml:<name>`, `report`)."""
    from dvc.repo import Repo

    with Repo(".") as repo:
        graph = repo.index.graph  # edges point from a stage to the stages whose outputs it reads
        edges = [(b.addressing, a.addressing) for a, b in graph.edges]
        lone = [(s.addressing, s.addressing) for s in graph.nodes if graph.degree(s) == 0]
    return sorted(edges + lone)


def study_of(address: str) -> str | None:
    matched = re.fullmatch(
        rf"{re.escape(str(paths.PIPELINES))}/([^/]+)/(?:\w+/)?dvc\.yaml:.+", address
    )
    return matched[1] if matched else None


def block(address: str, study: str | None) -> str:
    """A stage's foreach block without its study: `train diag_net` for
    `pipelines/sparse_features/diag_net/dvc.yaml:train-sparse_features-diag_net@diag_gd_flow`."""
    name = address.rsplit(":", 1)[-1].split("@", 1)[0]
    if study:
        name = name.replace(f"-{study}", "", 1)
    return name.replace("-", " ")


def diagrams(edges: list[tuple[str, str]]) -> str:
    stages = {s for edge in edges for s in edge}
    studies = sorted({study for s in stages if (study := study_of(s))})
    return "\n\n".join(study_diagram(study, stages, edges) for study in studies)


def study_diagram(study: str, stages: set[str], edges: list[tuple[str, str]]) -> str:
    """One study's stages, a node per foreach block, and the stages outside it that read them; an
    arrow where a block reads another, left out where a longer path already implies it (the
    transitive reduction: aggregate reads all of data/<study>, yet generate -> train -> measure
    -> aggregate says enough)."""
    import networkx as nx

    own = {s for s in stages if study_of(s) == study}
    counts = Counter(block(s, study) for s in own)

    def label(address: str) -> str:
        name = block(address, study if address in own else study_of(address))
        return f"{name} ×{counts[name]}" if address in own and counts[name] > 1 else name

    graph = nx.DiGraph()
    graph.add_nodes_from(label(s) for s in own)
    graph.add_edges_from(
        (label(u), label(d)) for u, d in edges if (u in own or d in own) and u != d
    )
    reduced = nx.transitive_reduction(graph)
    order = list(nx.lexicographical_topological_sort(reduced))
    ident = {name: f"n{i}" for i, name in enumerate(order)}
    lines = [f"**{study}**", "", "```mermaid", "flowchart LR"]
    lines += [f'  {ident[name]}["{name}"]' for name in order]
    lines += [
        f"  {ident[u]} --> {ident[d]}"
        for u, d in sorted(reduced.edges, key=lambda e: (order.index(e[0]), order.index(e[1])))
    ]
    return "\n".join([*lines, "```"])


def replaced(text: str, generated: str) -> str:
    if BEGIN not in text or END not in text:
        raise SystemExit(f"error: the markers are missing: {BEGIN} ... {END}")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{BEGIN}\n\n{generated}\n\n{END}{tail}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m stages.dag_diagram", description=__doc__.split("\n\n")[0]
    )
    target = parser.add_mutually_exclusive_group()
    target.add_argument("--write", type=Path, help="the markdown file to rewrite in place")
    target.add_argument("--check", type=Path, help="the markdown file to compare")
    arguments = parser.parse_args(argv)
    generated = diagrams(stage_edges())
    if arguments.write:
        arguments.write.write_text(replaced(arguments.write.read_text(), generated))
        return 0
    if arguments.check:
        text = arguments.check.read_text()
        if replaced(text, generated) != text:
            print(f"error: the stage diagrams in {arguments.check} are stale: run `make dag`")
            return 1
        return 0
    print(generated)
    return 0


if __name__ == "__main__":
    sys.exit(main())
