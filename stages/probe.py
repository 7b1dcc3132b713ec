"""Stage probe: choose a step size before the runs, on seeds the runs never use.

    python -m stages.probe <study>         ->  data/<study>/probe.json

The choice is a declared, cached stage so the report can print it and a reviewer can rerun it.
"""

from .common import paths
from .common.atomic import read_arrays, write_json
from .common.entry import open_study, run
from .common.params import ParamError


def main(argv: list[str]) -> None:
    study, config = open_study(argv[0])
    if not study.probes:
        raise ParamError("study", study.name, "a study that probes (Study.probes)")
    data = read_arrays(paths.generated(study.name))
    write_json(paths.probe(study.name), study.module("training").probe(config, data))


if __name__ == "__main__":
    run(main, "python -m stages.probe <study>")
