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

A study or variant name goes into a path only if it is a NAME (stages/common/params.py): no `/`,
no `..`, nothing a shell would read; stages/common/atomic.py also refuses any write that resolves
outside data/ and reports/.
"""

from pathlib import Path

from .params import check_name

DATA = Path("data")
RESULTS = DATA / "results"
REPORTS = Path("reports")
CLAIMS_REGISTRY = Path("claims.yaml")
PIPELINES = Path(
    "pipelines"
)  # pipelines/<study>/dvc.yaml: a study's own stages; <study>/<experiment>/dvc.yaml: an experiment's train and measure stages; each with its own dvc.lock
CLAIMS_JSON = REPORTS / "claims.json"
CLAIMS_DETAIL = REPORTS / "claims_detail.json"
REPORT_MARKDOWN = REPORTS / "README.md"


def _study(study: str) -> str:
    return check_name("study", study)


def _variant(variant: str, suffix: str) -> str:
    return check_name("variant", variant) + suffix


def generated(study: str) -> Path:
    return DATA / _study(study) / "generated.npz"


def probe(study: str) -> Path:
    return DATA / _study(study) / "probe.json"


def run_arrays(study: str, variant: str) -> Path:
    return DATA / _study(study) / "runs" / _variant(variant, ".npz")


def run_compute(study: str, variant: str) -> Path:
    return DATA / _study(study) / "runs" / _variant(variant, ".json")


def measures_dir(study: str) -> Path:
    return DATA / _study(study) / "measures"


def measure_table(study: str, variant: str) -> Path:
    return measures_dir(study) / _variant(variant, ".parquet")


def measure_compute(study: str, variant: str) -> Path:
    return measures_dir(study) / _variant(variant, ".json")


def results_table(study: str) -> Path:
    return RESULTS / f"{_study(study)}.parquet"


def results_runs(study: str) -> Path:
    return RESULTS / f"{_study(study)}_runs.json"


def loss_curves(study: str) -> Path:
    """Small and committed (`cache: false`), so `dvc plots show` draws it on a clone without data."""
    return REPORTS / "curves" / f"{_study(study)}.csv"


def figures_dir(study: str) -> Path:
    return REPORTS / "figures" / _study(study)


def stage_address(study: str, kind: str) -> str:
    """How DVC names one of a study's single stages from the project root, e.g.
    `pipelines/gpfq/dvc.yaml:render-gpfq` (`dvc repro <address>`). Train and measure stages are
    `<kind>-<study>-<experiment>@<variant>`: find them in DVC's stage list (stages/rerun_claim.py)."""
    return f"{PIPELINES / study / 'dvc.yaml'}:{kind}-{study}"
