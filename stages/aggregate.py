"""Stage aggregate: one tidy, schema-checked, byte-stable Parquet table per study.

python -m stages.aggregate <study>  ->  data/results/<study>.parquet, <study>_runs.json (compute per
                                        variant, probe choice), reports/curves/<study>.csv (the
                                        median loss curve per variant, committed for `dvc plots`)
"""

import numpy as np
import pandas as pd

from .common import paths
from .common.atomic import read_json, write_json, write_text
from .common.entry import open_study, run
from .common.tables import read_table, write_table

CURVE_DIGITS = "%.4g"  # four significant digits: a curve to look at, not a number to judge


def loss_curves(table: pd.DataFrame, metric: str) -> pd.DataFrame:
    """The median over each variant's runs of `metric` at every step the variant recorded it, in
    long form (`step`, `variant`, `<metric>_median`, one row per variant and step), so that no
    variant reads another's steps as missing cells. Steps where no run has a finite value are left
    out, which leaves a gap in the curve rather than a point at 0; so is a variant that records the
    metric at fewer than two steps (a final value, not a curve)."""
    rows = table[table["metric"] == metric]
    medians = rows.groupby(["variant", "step"], sort=True)["value"].median()
    medians = medians[np.isfinite(medians)].rename(f"{metric}_median").reset_index()
    steps = medians.groupby("variant")["step"].transform("size")
    return medians.loc[steps >= 2, ["step", "variant", f"{metric}_median"]].reset_index(drop=True)


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
        write_text(
            paths.loss_curves(study.name), curves.to_csv(index=False, float_format=CURVE_DIGITS)
        )
    print(f"aggregate {study.name}: {len(table)} rows from {len(variants)} variants")


if __name__ == "__main__":
    run(main, "python -m stages.aggregate <study>")
