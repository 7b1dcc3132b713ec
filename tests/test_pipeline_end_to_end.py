"""End to end on a slice of the project: the study with the fewest stages and the report, at the
tiny profile (tests/profiles/tiny.yaml), in temporary copies of the repository (never the working
tree itself). CI's `make check-report` runs every study's full default pipeline; this module keeps
what only a run of the real driver on a real DAG shows:

- `make repro`'s command runs every stage on 2 workers, and then plain DVC has nothing to do;
- a second run, in a fresh copy on 1 worker, gives every output's hash again (determinism across
  runs and across worker counts; compute records and the report's timing lines aside);
- the outputs travel: on a git clone with no data, `dvc plots show` and `dvc plots diff` draw the
  committed curves and figures; after `dvc pull` from a local-directory remote, `dvc status` is
  clean and `make repro` runs nothing.

Bad params stopping every stage before compute: tests/test_bad_params_stop.py.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml
from e2e_project import (
    CEILING_SECONDS,
    VENV,
    checked,
    copy_repository,
    git,
    parallel_repro,
    slice_project,
    smallest_study,
)

from stages.common import paths
from stages.common.decision import VERDICTS
from stages.common.params import Section
from stages.common.study import load_study
from stages.common.tables import read_table

# the compute records (wall-clock seconds inside): runs/ and measures/ json per variant, and the
# study's results/<study>_runs.json; the report's markdown is compared without its timing lines
TIMINGS = re.compile(r"data/([^/]+/(runs|measures)/[^/]+|results/[^/]+_runs)\.json")
TIMING_LINES = re.compile(r"^\*\*(Compute|Wall-clock)[^\n]*$", flags=re.M)


def output_hashes(root: Path) -> dict[str, str]:
    """Every stage output's hash in the lock files, but the compute records and the report's
    markdown (compared apart, without its timing lines)."""
    hashes = {}
    for lock_file in [root / "dvc.lock", *sorted(root.glob("pipelines/**/dvc.lock"))]:
        for stage, entry in yaml.safe_load(lock_file.read_text())["stages"].items():
            for out in entry.get("outs", []):
                if not TIMINGS.fullmatch(out["path"]) and out["path"] != str(paths.REPORT_MARKDOWN):
                    hashes[f"{stage}:{out['path']}"] = out.get("md5")
    return hashes


class Pipeline:
    def __init__(self, root: Path, study: str):
        self.root, self.study = root, study
        self.first = parallel_repro(root, "--jobs", "2")
        # the no-op checks run here, before any test touches an output: plain DVC finds nothing to do
        self.second = checked(["dvc", "repro"], root)
        self.status = checked(["dvc", "status"], root)
        self.params = yaml.safe_load((root / "params.yaml").read_text())
        self.claims = yaml.safe_load((root / "claims.yaml").read_text())

    def variants(self) -> list[str]:
        """The study's variant names, as its config reads them (params group them by experiment)."""
        definition = load_study(self.study)
        return definition.variant_names(
            definition.parse(Section(self.params[self.study], self.study))
        )

    def claim_entries(self):
        for claim_id, entry in self.claims[self.study].items():
            yield str(claim_id), entry


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory) -> Pipeline:
    root = copy_repository(tmp_path_factory.mktemp("e2e"))
    study = smallest_study(root)
    return Pipeline(slice_project(root, {study}), study)


def test_the_slice_holds_one_study_and_the_report(pipeline):
    studies = sorted(p.name for p in (pipeline.root / "pipelines").iterdir())
    assert studies == [pipeline.study]
    assert set(pipeline.claims) == {"tolerance_rule", pipeline.study}


def test_first_run_ran_every_stage_of_the_slice(pipeline):
    kinds = {"generate", "train", "measure", "aggregate", "render", "report"}
    if load_study(pipeline.study).probes:
        kinds.add("probe")
    for kind in kinds:
        assert re.search(rf"\bran {kind}\b", pipeline.first.stdout), kind
    ran = len(re.findall(r"\bran \S+", pipeline.first.stdout))
    assert ran >= 2 * len(pipeline.variants()) + 4
    assert re.search(
        rf"summary: {ran} ran, 0 skipped .*, 0 failed, 0 blocked", pipeline.first.stdout
    )


def test_the_two_worker_run_forked_its_commands_from_fork_servers(pipeline):
    """Each worker's fork server logs a line per command it forks (stages/common/forkserver.py);
    only commands that started before their server listened ran in a fresh interpreter."""
    logs = sorted((pipeline.root / ".dvc" / "tmp" / "repro-logs").glob("forkserver-*.log"))
    lines = [line for log in logs for line in log.read_text().splitlines()]
    assert len(logs) == 2
    ran = len(re.findall(r"\bran \S+", pipeline.first.stdout))
    forked = [line for line in lines if line.startswith("forked ")]
    assert len(forked) >= ran // 2, lines
    assert not [line for line in lines if line.startswith("declined ")], lines
    assert len([line for line in lines if line.endswith("ended with status 0")]) == len(forked)


def test_second_run_is_a_no_op(pipeline):
    assert "Running stage" not in pipeline.second.stdout, pipeline.second.stdout
    assert "up to date" in pipeline.second.stdout
    assert "up to date" in pipeline.status.stdout, pipeline.status.stdout


def test_one_worker_in_a_fresh_copy_gives_every_hash_of_two(pipeline, tmp_path_factory):
    """The whole slice again, one stage at a time, in another copy, every command in a fresh
    interpreter: every output hash equals the two-worker run's, whose commands were forked from
    fork servers (stages/common/forkserver.py), the report's markdown too but for its timing
    lines."""
    serial = slice_project(copy_repository(tmp_path_factory.mktemp("serial")), {pipeline.study})
    parallel_repro(serial, "--jobs", "1", "--no-forkserver")
    serial_hashes, parallel_hashes = output_hashes(serial), output_hashes(pipeline.root)
    assert len(serial_hashes) >= 2 * len(pipeline.variants()) + 5
    assert serial_hashes == parallel_hashes
    markdown = [
        TIMING_LINES.sub("", (root / paths.REPORT_MARKDOWN).read_text())
        for root in (serial, pipeline.root)
    ]
    assert markdown[0] == markdown[1]


def test_every_claim_figure_exists(pipeline):
    for claim_id, entry in pipeline.claim_entries():
        assert entry["figures"], f"{pipeline.study}.{claim_id} names no figure"
        for figure in entry["figures"]:
            path = pipeline.root / paths.figures_dir(pipeline.study) / f"{figure}.png"
            assert path.is_file(), f"{pipeline.study}.{claim_id}: {path} missing"
            payload = path.read_bytes()
            assert payload.startswith(b"\x89PNG\r\n\x1a\n") and len(payload) > 2000, path


# the metrics each study's measurement must write (each study's engineers keep their own line)
EXPECTED_METRICS = {
    "sparse_features": {
        "train_loss_half_mse",
        "test_loss_half_mse",
        "train_loss_mse",
        "test_loss_mse",
        "large_step_reruns",
        "effective_nonzeros",
        "nonzeros_paper",
        "feature_sparsity",
    },
    "edge_of_stability": {
        "loss_half_mse",
        "sharpness",
        "lambda2",
        "trace_hessian",
        "distance_to_gd",
        "steps_after_crossing",
        "horizon_met",
        "lambda2_over_lambda1_at_edge",
    },
    "gpfq": {
        "train_loss",
        "relative_square_error",
        "test_accuracy_percent",
        "validation_accuracy_percent",
        "calibration_relative_error",
    },
    "phantom_gradient": {
        "test_accuracy_percent",
        "train_loss_cross_entropy",
        "backward_passes_per_step",
        "backward_passes",
        "jacobian_spectral_radius_max",
        "cosine_with_exact",
        "unrolled_neumann_relative_difference",
    },
    "float_instability": {
        "test_accuracy_last_epochs_mean_percent",
        "relative_weight_difference",
        "prediction_disagreement_percent",
        "unperturbed_twin_identical",
        "prediction_disagreement_across_seeds_percent",
        "loss",
        "sharpness_times_lr_over_2",
        "lowest_curvature_times_lr_over_2",
        "linear_pde_alpha_min",
    },
}


def test_results_table_passes_the_schema(pipeline):
    study = pipeline.study
    path = pipeline.root / paths.results_table(study)
    definition = load_study(study)
    table = read_table(path, definition.setting_columns)
    assert len(table) > 0 and (table["study"] == study).all()
    # every variant the study declares (a study may keep variants that read other runs in a section of their own)
    assert set(table["variant"]) == set(pipeline.variants())
    assert "diverged" in set(table["metric"])  # every study records divergence as data
    assert EXPECTED_METRICS[study] <= set(table["metric"])


def test_loss_curves_are_long_form_with_one_row_per_variant_and_step(pipeline):
    import numpy as np
    import pandas as pd

    metric = load_study(pipeline.study).loss_curve_metric
    curves = pd.read_csv(pipeline.root / paths.loss_curves(pipeline.study))
    assert list(curves.columns) == ["step", "variant", f"{metric}_median"]
    assert not curves.duplicated(["variant", "step"]).any()
    assert np.isfinite(curves[f"{metric}_median"]).all()
    assert (curves.groupby("variant").size() >= 2).all()
    table = read_table(pipeline.root / paths.results_table(pipeline.study))
    recorded = table[table.metric == metric].groupby("variant")["step"].nunique()
    assert set(curves.variant) == set(recorded[recorded >= 2].index)


def test_claims_json_has_a_verdict_per_claim(pipeline):
    metrics = json.loads((pipeline.root / paths.CLAIMS_JSON).read_text())
    detail = json.loads((pipeline.root / paths.CLAIMS_DETAIL).read_text())
    fields = {
        "verdict",
        "statistic",
        "interval",
        "p_holds",
        "halves",
        "control",
        "tolerance_source",
    }
    assert set(metrics) == {pipeline.study}
    for claim_id, _ in pipeline.claim_entries():
        entry = metrics[pipeline.study][claim_id]
        assert entry["verdict"] in VERDICTS, claim_id
        assert set(entry) == fields, (claim_id, sorted(entry))
        assert set(entry["halves"].values()) <= set(VERDICTS) and entry["control"] in VERDICTS
        assert detail[pipeline.study][claim_id]["verdict"] == entry["verdict"]
        assert detail[pipeline.study][claim_id]["parts"]
        assert detail[pipeline.study][claim_id]["control_parts"]
    assert len(metrics[pipeline.study]) == sum(1 for _ in pipeline.claim_entries())


def test_report_opens_with_the_summary_and_has_one_section_per_claim(pipeline):
    text = (pipeline.root / paths.REPORT_MARKDOWN).read_text()
    metrics = json.loads((pipeline.root / paths.CLAIMS_JSON).read_text())
    study = pipeline.study
    assert text.index("## Summary") < text.index("| claim | verdict |") < text.index("## Revisions")
    leftover = re.search(r"\{[A-Za-z_][A-Za-z0-9_.]*(:[^}]*)?\}", text)
    assert not leftover, f"template text left in the report: {leftover.group(0)}"
    for claim_id, entry in pipeline.claim_entries():
        headers = list(re.finditer(rf"^### {study} {re.escape(claim_id)} .*$", text, flags=re.M))
        assert len(headers) == 1, f"{claim_id}: {len(headers)} sections"
        rest = text[headers[0].end() :]
        following = re.search(r"^#{2,3} ", rest, flags=re.M)
        section = rest[: following.start()] if following else rest
        assert f"make claim CLAIM={study}.{claim_id}" in section
        assert section.lstrip().startswith(f"**{metrics[study][claim_id]['verdict']}**")
        assert f"stages/studies/{study}/checks.py::" in section
        for figure in entry["figures"]:
            assert f"figures/{study}/{figure}.png" in section


# ------------------------------------------- a fresh clone: plots without data, then a DVC remote


@pytest.fixture(scope="module")
def clone(pipeline, tmp_path_factory) -> Path:
    """The first run committed and pushed to a local-directory remote (`dvc remote add -d`, the
    README's first example), then `git clone`d: a clone with no data and no DVC cache."""
    remote = tmp_path_factory.mktemp("remote")
    checked(["dvc", "remote", "add", "--default", "shared", str(remote)], pipeline.root)
    git(pipeline.root, "add", "-A")
    git(pipeline.root, "commit", "-q", "-m", "the slice, run")
    pushed = checked(["dvc", "push"], pipeline.root)
    assert re.search(r"\b[1-9]\d* files? pushed", pushed.stdout), pushed.stdout
    destination = tmp_path_factory.mktemp("clone") / "repo"
    git(destination.parent, "clone", "-q", str(pipeline.root), str(destination))
    (destination / ".venv").symlink_to(VENV, target_is_directory=True)
    assert not (destination / "data" / pipeline.study).exists()
    return destination


def test_a_clone_without_data_plots_the_curves_and_the_figures(pipeline, clone):
    checked(["dvc", "plots", "show", "-o", "shown"], clone)
    page = (clone / "shown" / "index.html").read_text()
    specs = [json.loads(s) for s in re.findall(r"var spec = (\{.*?\});\s*vegaEmbed", page, re.S)]
    curves = [s for s in specs if str(paths.loss_curves(pipeline.study)) in json.dumps(s)]
    assert len(curves) == 1, [s.get("title") for s in specs]
    values = curves[0]["data"]["values"]
    rows = (clone / paths.loss_curves(pipeline.study)).read_text().splitlines()[1:]
    assert rows and len(values) == len(rows)
    assert {row["rev"] for row in values} == {"workspace"}
    assert curves[0]["spec"]["encoding"]["y"]["scale"] == {"type": "log"}
    assert curves[0]["spec"]["encoding"]["y"]["title"].endswith("_median")
    figures = sorted((clone / paths.figures_dir(pipeline.study)).glob("*.png"))
    images = set(re.findall(r"<img src=\"static/([^\"]+)\"", page))
    assert figures and len(images) == len(figures), (len(images), len(figures))
    checked(["dvc", "plots", "diff", "HEAD", "-o", "diffed"], clone)
    diffed = (clone / "diffed" / "index.html").read_text()
    revisions = re.findall(r"<img src=\"static/(HEAD|workspace)_", diffed)
    assert sorted(revisions) == sorted(["HEAD", "workspace"] * len(figures))
    specs = re.findall(r"var spec = (\{.*?\});\s*vegaEmbed", diffed, re.S)
    curves = [json.loads(s) for s in specs if str(paths.loss_curves(pipeline.study)) in s]
    assert {row["rev"] for row in curves[0]["data"]["values"]} == {"HEAD", "workspace"}


def test_a_clone_pulls_from_the_remote_and_has_nothing_to_run(pipeline, clone):
    planned = checked(["make", "--dry-run", "repro"], clone)
    if "pip install" in planned.stdout:  # never install into the project's own .venv from a test
        pytest.fail(f"{VENV} is not installed from this requirements.txt: run `make test`")
    checked(["dvc", "pull"], clone)
    status = checked(["dvc", "status"], clone)
    assert "Data and pipelines are up to date" in status.stdout, status.stdout
    made = checked(["make", "repro"], clone, timeout=CEILING_SECONDS)
    assert re.search(r"nothing to run: all \d+ stages are up to date", made.stdout), made.stdout
    assert output_hashes(clone) == output_hashes(pipeline.root)
    tracked = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"],
        cwd=clone,
        capture_output=True,
        text=True,
        check=True,
    )
    assert tracked.stdout == "", f"pull and repro changed committed files:\n{tracked.stdout}"
