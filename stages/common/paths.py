"""Where every stage reads and writes; each path says what it holds.

data/<study>/generated.npz               generate: data sets (one per seed where the study draws them per seed)
data/<study>/probe.json                  probe: step sizes chosen before the runs (studies that probe)
data/<study>/runs/<variant>.npz|.json    train: trajectories / checkpoints, and their compute
data/<study>/measures/<variant>.parquet|.json   measure: tidy measurements, and their compute
data/results/<study>.parquet             aggregate: the study's tidy table
data/results/<study>_runs.json           aggregate: compute per variant and the probe's choice (kept out of the table)
reports/curves/<study>.csv               aggregate: median loss per step and variant, long form (DVC plots; committed)
reports/figures/<study>/<figure>.png     render
reports/claims.json, claims_detail.json, README.md   report
"""

from pathlib import Path

DATA = Path("data")
RESULTS = DATA / "results"
REPORTS = Path("reports")
CLAIMS_REGISTRY = Path("claims.yaml")
PIPELINES = Path(
    "pipelines"
)  # pipelines/<study>/dvc.yaml: one study's stages, with its own dvc.lock
CLAIMS_JSON = REPORTS / "claims.json"
CLAIMS_DETAIL = REPORTS / "claims_detail.json"
REPORT_MARKDOWN = REPORTS / "README.md"


def generated(study: str) -> Path:
    return DATA / study / "generated.npz"


def probe(study: str) -> Path:
    return DATA / study / "probe.json"


def run_arrays(study: str, variant: str) -> Path:
    return DATA / study / "runs" / f"{variant}.npz"


def run_compute(study: str, variant: str) -> Path:
    return DATA / study / "runs" / f"{variant}.json"


def measures_dir(study: str) -> Path:
    return DATA / study / "measures"


def measure_table(study: str, variant: str) -> Path:
    return measures_dir(study) / f"{variant}.parquet"


def measure_compute(study: str, variant: str) -> Path:
    return measures_dir(study) / f"{variant}.json"


def results_table(study: str) -> Path:
    return RESULTS / f"{study}.parquet"


def results_runs(study: str) -> Path:
    return RESULTS / f"{study}_runs.json"


def loss_curves(study: str) -> Path:
    """Small and committed (`cache: false`), so `dvc plots show` draws it on a clone without data."""
    return REPORTS / "curves" / f"{study}.csv"


def figures_dir(study: str) -> Path:
    return REPORTS / "figures" / study


def stage_address(study: str, kind: str, variant: str | None = None) -> str:
    """How DVC names a study's stage from the project root, e.g.
    `pipelines/gpfq/dvc.yaml:train-gpfq@mlp` (`dvc repro <address>`)."""
    name = f"{kind}-{study}" + (f"@{variant}" if variant else "")
    return f"{PIPELINES / study / 'dvc.yaml'}:{name}"
