"""Stage train: every run (all seeds) of one variant of a study, in one process.

    python -m stages.train <study> <variant>   ->  data/<study>/runs/<variant>.npz and .json

The .json holds the compute (wall seconds, run-steps) and any timings the study measures as results
(`TrainResult.wall_clock`); timings never enter the results tables. A variant whose training reads
other variants' runs (config.py's `train_reads`, e.g. a quantizer reading a trained float network)
gets them as `reads`, a mapping of variant name to arrays.
"""

import time

from .common import paths
from .common.atomic import read_arrays, read_json, write_arrays, write_json
from .common.entry import execution, open_study, run


def main(argv: list[str]) -> None:
    study, config = open_study(argv[0])
    variant = argv[1]
    study.check_variant(config, variant)
    device = execution()
    data = read_arrays(paths.generated(study.name))
    probe = read_json(paths.probe(study.name)) if study.probes else None
    reads = {
        name: read_arrays(paths.run_arrays(study.name, name))
        for name in study.train_reads(config, variant)
    }
    training = study.module("training")
    start = time.perf_counter()
    result = training.train(config, variant, data, probe=probe, execution=device, reads=reads)
    seconds = time.perf_counter() - start
    write_arrays(paths.run_arrays(study.name, variant), result.arrays)
    write_json(
        paths.run_compute(study.name, variant),
        {
            "train_seconds": round(seconds, 3),
            "run_steps": result.run_steps,
            "runs": result.runs,
            **({"wall_clock": result.wall_clock} if result.wall_clock else {}),
        },
    )
    print(
        f"train {study.name}/{variant}: {result.runs} runs, {result.run_steps} run-steps, "
        f"{seconds:.1f} s"
    )


if __name__ == "__main__":
    run(main, "python -m stages.train <study> <variant>")
