"""Stage aggregate: one tidy, schema-checked, byte-stable Parquet table per study.

python -m stages.aggregate <study>  ->  data/results/<study>.parquet, <study>_runs.json (compute per
                                        variant, probe choice), <study>_loss_curves.csv (DVC plots)
"""

import pandas as pd

from .common import paths
from .common.atomic import read_json, write_json, write_text
from .common.entry import open_study, run
from .common.tables import read_table, write_table


def loss_curves(table: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Median over seeds of `metric` per step, one column per variant (wide, for `dvc plots show`)."""
    rows = table[table["metric"] == metric]
    medians = rows.groupby(["step", "variant"])["value"].median().unstack("variant")
    return medians.sort_index().reset_index()


def main(argv: list[str]) -> None:
    study, config = open_study(argv[0])
    variants = study.variant_names(config)
    frames = [
        read_table(paths.measure_table(study.name, v), study.setting_columns) for v in variants
    ]
    table = pd.concat(frames, ignore_index=True)
    compute = {v: read_json(paths.measure_compute(study.name, v)) for v in variants}
    probe = read_json(paths.probe(study.name)) if study.probes else None
    write_table(paths.results_table(study.name), table, study.setting_columns)
    write_json(paths.results_runs(study.name), {"compute": compute, "probe": probe})
    if study.loss_curve_metric:
        curves = loss_curves(table, study.loss_curve_metric)
        write_text(paths.loss_curves(study.name), curves.to_csv(index=False, float_format="%.6g"))
    print(f"aggregate {study.name}: {len(table)} rows from {len(variants)} variants")


if __name__ == "__main__":
    run(main, "python -m stages.aggregate <study>")
