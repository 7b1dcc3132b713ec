"""Stage measure: measurements of one variant's runs, as a tidy table.

    python -m stages.measure <study> <variant>  ->  data/<study>/measures/<variant>.parquet and .json

A variant whose measurement reads other variants' runs (config.py's `measure_reads`, e.g. a
trajectory measured by its distance to another one) gets them as `reads`, read-only. Every input is
read and checked before anything is written.
"""

import time

from .common import paths
from .common.atomic import read_arrays, read_json, write_json
from .common.entry import open_study, run


def main(argv: list[str]) -> None:
    from .common.tables import write_table  # pandas: loaded where the command runs (entry.run)

    study, config = open_study(argv[0])
    variant = argv[1]
    study.check_variant(config, variant)
    data = read_arrays(paths.generated(study.name))
    runs = read_arrays(paths.run_arrays(study.name, variant))
    compute = read_json(paths.run_compute(study.name, variant))
    reads = {
        name: read_arrays(paths.run_arrays(study.name, name))
        for name in study.measure_reads(config, variant)
    }
    measurement = study.module("measurement")
    start = time.perf_counter()
    frame = measurement.measure(config, variant, data, runs, reads=reads)
    seconds = time.perf_counter() - start
    frame.insert(0, "study", study.name)
    frame.insert(1, "variant", variant)
    write_table(paths.measure_table(study.name, variant), frame, study.setting_columns)
    write_json(
        paths.measure_compute(study.name, variant),
        {**compute, "measure_seconds": round(seconds, 3)},
    )


if __name__ == "__main__":
    run(main, "python -m stages.measure <study> <variant>")
