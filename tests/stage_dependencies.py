"""Which project files each DVC stage's command imports, and whether dvc.yaml declares exactly those.

A stage's code dependencies are the `stages/` modules its entry point imports, at module level or
inside a function, plus the skeleton modules of its study that the entry point asks for by role
(`Study.module`), each with everything they import in turn. The closure is read from the source
(ast), so it costs milliseconds and sees imports in functions that a run may not reach;
tests/test_stage_dependencies.py checks it against what a fresh interpreter really loads.

    python tests/stage_dependencies.py           print each stage's missing and extra code deps
    python tests/stage_dependencies.py --write   rewrite the deps lists in place (comments kept)
"""

from __future__ import annotations

import ast
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(REPO))
# stage kind -> (entry module, skeleton modules of the stage's study it imports by role)
STAGE_KINDS = {
    "generate": ("stages.generate", ("config", "data")),
    "probe": ("stages.probe", ("config", "training")),
    "train": ("stages.train", ("config", "training")),
    "measure": ("stages.measure", ("config", "measurement")),
    "aggregate": ("stages.aggregate", ("config",)),
    "render": ("stages.render", ("config", "figures")),
}
REPORT = ("stages.report", ("config", "checks", "describe"))  # for every study


def module_file(name: str) -> Path | None:
    """The source file of a `stages.*` module or package, or None where `name` is not a module
    (`from .x import function`)."""
    base = REPO / Path(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _type_checking_only(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def imports_of(name: str) -> set[str]:
    """Every `stages.*` module that module `name` imports, at module level or in a function (imports
    under `if TYPE_CHECKING:` never run and do not count), with the packages they sit in."""
    path = module_file(name)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    pending = [ast.parse(path.read_text())]
    while pending:
        for node in ast.iter_child_nodes(pending.pop()):
            if _type_checking_only(node):
                continue
            pending.append(node)
            if isinstance(node, ast.Import):
                found |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(parts + ([base] if base else []))
                found.add(base)
                found |= {f"{base}.{alias.name}" for alias in node.names}
    modules = {m for m in found if m.split(".")[0] == "stages" and module_file(m) is not None}
    return modules | {
        ".".join(m.split(".")[:i]) for m in modules for i in range(1, m.count(".") + 1)
    }


def imported_files(entry: str, studies: list[str], roles: tuple[str, ...]) -> list[str]:
    """The project files that running the stage's code imports: the entry module, the study modules
    it loads by role (`Study.module`), and everything those import in turn."""
    start = {entry} | {f"stages.studies.{study}.{role}" for study in studies for role in roles}
    start |= {".".join(m.split(".")[:i]) for m in start for i in range(1, m.count(".") + 1)}
    closure, frontier = set(start), set(start)
    while frontier:
        frontier = set().union(*(imports_of(m) for m in frontier)) - closure
        closure |= frontier
    return sorted(str(module_file(m).relative_to(REPO)) for m in closure)


def declared_stages() -> list[tuple[Path, str, list[str], list]]:
    """(dvc.yaml, stage name, study names, the deps list) for every stage of the project."""
    from ruamel.yaml import YAML

    found = []
    for path in [REPO / "dvc.yaml", *sorted((REPO / "pipelines").rglob("dvc.yaml"))]:
        document = YAML().load(path.read_text())
        for name, stage in document["stages"].items():
            body = stage.get("do", stage)
            studies = _studies_of(path)
            found.append((path, name, studies, body.get("deps", [])))
    return found


def _studies_of(path: Path) -> list[str]:
    """The study of pipelines/<study>/dvc.yaml or pipelines/<study>/<experiment>/dvc.yaml; none for
    the root dvc.yaml (the report reads every study)."""
    return [path.relative_to(REPO).parts[1]] if path.parent != REPO else []


def expected_code_deps(stage_name: str, studies: list[str]) -> list[str]:
    kind = stage_name.split("-", 1)[0]
    if kind == "report":
        from stages.common.study import study_names

        entry, roles = REPORT
        return imported_files(entry, list(study_names()), roles)
    if kind not in STAGE_KINDS:
        raise ValueError(f"stage {stage_name!r}: unknown kind {kind!r} ({', '.join(STAGE_KINDS)})")
    entry, roles = STAGE_KINDS[kind]
    return imported_files(entry, studies, roles)


def code_deps(deps: list) -> list[str]:
    return [str(d) for d in deps if str(d) == "stages" or str(d).startswith("stages/")]


def differences() -> dict[str, dict[str, list[str]]]:
    """Per stage, the code files its command imports but dvc.yaml omits, and those it lists but the
    command never imports (a folder counts as imprecise: it is always extra)."""
    found = {}
    for path, name, studies, deps in declared_stages():
        expected = set(expected_code_deps(name, studies))
        declared = set(code_deps(deps))
        missing, extra = sorted(expected - declared), sorted(declared - expected)
        if missing or extra:
            found[f"{path.relative_to(REPO)}:{name}"] = {"missing": missing, "extra": extra}
    return found


def write() -> None:
    """Replace every stage's code deps with the closure, keeping data deps, order and comments."""
    from ruamel.yaml import YAML

    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.width = 120
    yaml.indent(mapping=2, sequence=4, offset=2)
    for path in [REPO / "dvc.yaml", *sorted((REPO / "pipelines").rglob("dvc.yaml"))]:
        document = yaml.load(path.read_text())
        studies = _studies_of(path)
        for name, stage in document["stages"].items():
            body = stage.get("do", stage)
            data = [d for d in body.get("deps", []) if str(d) not in code_deps([d])]
            body["deps"] = expected_code_deps(name, studies) + data
        with path.open("w") as handle:
            yaml.dump(document, handle)


if __name__ == "__main__":
    if sys.argv[1:] == ["--write"]:
        write()
    for stage, difference in differences().items():
        print(stage, json.dumps(difference, indent=2))
