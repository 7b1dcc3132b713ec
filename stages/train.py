"""Stage train: every run (all seeds) of one variant of a study, in one process.

    python -m stages.train <study> <variant>   ->  data/<study>/runs/<variant>.npz and .json

The .json holds the compute (wall seconds, run-steps); timings never enter the results tables.
"""
import time

from .common import paths
from .common.atomic import read_arrays, read_json, write_arrays, write_json
from .common.entry import execution, open_study, run


def main(argv: list[str]) -> None:
    study, config = open_study(argv[0])
    variant = argv[1]
    study.check_variant(config, variant)
    data = read_arrays(paths.generated(study.name))
    probe = read_json(paths.probe(study.name)) if study.probe is not None else None
    start = time.perf_counter()
    result = study.train(config, variant, data, probe, execution())
    seconds = time.perf_counter() - start
    write_arrays(paths.run_arrays(study.name, variant), result.arrays)
    write_json(paths.run_compute(study.name, variant),
               {"train_seconds": round(seconds, 3), "run_steps": result.run_steps, "runs": result.runs})
    print(f"train {study.name}/{variant}: {result.runs} runs, {result.run_steps} run-steps, {seconds:.1f} s")


if __name__ == "__main__":
    run(main, "python -m stages.train <study> <variant>")
