"""End to end: `make repro` of the tiny profile (tests/profiles/tiny.yaml) in a temporary copy of the
repository, then a second run that must do nothing, byte-identical outputs when stages rerun on
the same params, and bad params that stop a stage with exit status 2 before it writes anything.

One full pipeline run for the whole module (module-scoped fixture); everything else reruns single
stages directly. Never runs anything inside the working repository itself.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml
from conftest import REPO
from params_profile import apply_profile

from stages.common import paths
from stages.common.decision import VERDICTS
from stages.common.params import Section
from stages.common.study import load_study, study_names
from stages.common.tables import read_table
from stages.parallel.workspace import copy_project

VENV = REPO / ".venv"


def copy_repository(destination: Path) -> Path:
    """A cold copy of the working tree (stages/parallel/workspace.py) with the tiny profile applied."""
    copy_project(REPO, destination)
    apply_profile(destination / "params.yaml", REPO / "tests" / "profiles" / "tiny.yaml")
    return destination


def environment() -> dict:
    env = {
        key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "VIRTUAL_ENV")
    }
    env.update(
        PATH=f"{VENV / 'bin'}{os.pathsep}{env.get('PATH', '')}",
        OMP_NUM_THREADS="1",
        OMP_WAIT_POLICY="PASSIVE",
        PYTHONHASHSEED="0",
        DVC_NO_ANALYTICS="1",
    )
    return env


def run(command: list[str], cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        command, cwd=cwd, env=environment(), capture_output=True, text=True, timeout=timeout
    )


def checked(command: list[str], cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    result = run(command, cwd, timeout)
    if result.returncode != 0:
        pytest.fail(
            f"{' '.join(command)} exited {result.returncode}\n--- stdout\n{result.stdout[-4000:]}"
            f"\n--- stderr\n{result.stderr[-4000:]}"
        )
    return result


def parallel_repro(
    root: Path, *arguments: str, timeout: float = 560
) -> subprocess.CompletedProcess:
    """`make repro`'s command: the stages on a local Dask cluster (stages/parallel)."""
    return checked(
        [str(VENV / "bin" / "python"), "-m", "stages.repro", *arguments], root, timeout=timeout
    )


def output_hashes(root: Path) -> dict[str, str]:
    """Every stage output's hash in dvc.lock, but the compute records (wall-clock seconds inside:
    runs/ and measures/ json per variant, and the study's results/<study>_runs.json)."""
    hashes = {}
    for lock_file in [root / "dvc.lock", *sorted(root.glob("pipelines/*/dvc.lock"))]:
        if not lock_file.exists():  # a run of some targets only: the report's lock is not written
            continue
        for stage, entry in yaml.safe_load(lock_file.read_text())["stages"].items():
            for out in entry.get("outs", []):
                if not re.fullmatch(
                    r"data/([^/]+/(runs|measures)/[^/]+|results/[^/]+_runs)\.json", out["path"]
                ):
                    hashes[f"{stage}:{out['path']}"] = out.get("md5")
    return hashes


class Pipeline:
    def __init__(self, root: Path):
        self.root = root
        self.first = parallel_repro(root, "--jobs", "2")
        # the no-op checks run here, before any test touches an output: plain DVC finds nothing to do
        self.second = checked(["dvc", "repro"], root)
        self.status = checked(["dvc", "status"], root)
        self.params = yaml.safe_load((root / "params.yaml").read_text())
        self.claims = yaml.safe_load((root / "claims.yaml").read_text())

    def variants(self, study: str) -> list[str]:
        """The study's variant names, as its config reads them (params group them by experiment)."""
        definition = load_study(study)
        return definition.variant_names(definition.parse(Section(self.params[study], study)))

    def claim_entries(self):
        for study, entries in self.claims.items():
            if study == "tolerance_rule":
                continue
            for claim_id, entry in entries.items():
                yield study, str(claim_id), entry


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory) -> Pipeline:
    return Pipeline(copy_repository(tmp_path_factory.mktemp("e2e")))


def test_first_run_ran_every_stage_kind(pipeline):
    for kind in ("generate", "train", "measure", "aggregate", "render", "report"):
        assert re.search(rf"\bran {kind}\b", pipeline.first.stdout), kind
    assert re.search(r"summary: \d+ ran, 0 skipped .*, 0 failed, 0 blocked", pipeline.first.stdout)


def test_one_job_gives_the_hashes_of_two(pipeline, tmp_path_factory):
    """One study's chain rerun one stage at a time in a fresh copy: every output hash equals the
    two-worker run's (compute records with their wall-clock seconds aside)."""
    smallest = min(study_names(), key=lambda study: len(pipeline.variants(study)))
    serial = copy_repository(tmp_path_factory.mktemp("serial"))
    parallel_repro(serial, "--jobs", "1", paths.stage_address(smallest, "render"))
    serial_hashes = output_hashes(serial)
    assert len(serial_hashes) >= 2 * len(pipeline.variants(smallest)) + 3
    parallel_hashes = output_hashes(pipeline.root)
    assert {key: parallel_hashes.get(key) for key in serial_hashes} == serial_hashes


def test_every_claim_figure_exists(pipeline):
    for study, claim_id, entry in pipeline.claim_entries():
        assert entry["figures"], f"{study}.{claim_id} names no figure"
        for figure in entry["figures"]:
            path = pipeline.root / "reports" / "figures" / study / f"{figure}.png"
            assert path.is_file(), f"{study}.{claim_id}: {path} missing"
            payload = path.read_bytes()
            assert payload.startswith(b"\x89PNG\r\n\x1a\n") and len(payload) > 2000, path


EXPECTED_METRICS = {
    "sparse_features": {
        "train_loss",
        "test_loss",
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
        "calibration_relative_error",
        "calibration_relative_error_before_bias_shift",
    },
    "phantom_gradient": {
        "test_accuracy_fraction",
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


def test_results_tables_pass_the_schema(pipeline):
    for study in study_names():
        path = pipeline.root / "data" / "results" / f"{study}.parquet"
        assert path.is_file(), path
        definition = load_study(study)
        table = read_table(path, definition.setting_columns)
        assert len(table) > 0 and (table["study"] == study).all()
        # every variant the study declares (a study may keep variants that read other runs in a section of their own)
        declared = definition.variant_names(
            definition.parse(Section(pipeline.params[study], study))
        )
        assert set(table["variant"]) == set(declared)
        assert "diverged" in set(table["metric"])  # every study records divergence as data
        assert EXPECTED_METRICS[study] <= set(table["metric"])


def test_every_run_of_the_tiny_profile_is_in_the_table(pipeline):
    study = "sparse_features"
    table = read_table(pipeline.root / "data" / "results" / f"{study}.parquet")
    setup = pipeline.params[study]["setup"]
    for experiment, group in pipeline.params[study]["variants"].items():
        for variant in group:
            rows = table[(table.variant == variant) & (table.metric == "train_loss")]
            assert sorted(rows.seed.unique()) == list(range(setup[experiment]["seeds"])), variant
            assert rows.step.min() == 0 and rows.step.max() == setup[experiment]["steps"], variant
            assert (rows.experiment == experiment).all(), variant


def test_claims_json_has_a_verdict_per_claim(pipeline):
    metrics = json.loads((pipeline.root / "reports" / "claims.json").read_text())
    detail = json.loads((pipeline.root / "reports" / "claims_detail.json").read_text())
    fields = {
        "verdict",
        "statistic",
        "interval",
        "p_holds",
        "halves",
        "control",
        "tolerance_source",
    }
    for study, claim_id, _ in pipeline.claim_entries():
        entry = metrics[study][claim_id]
        assert entry["verdict"] in VERDICTS, (study, claim_id)
        assert set(entry) == fields, (study, claim_id, sorted(entry))
        assert set(entry["halves"].values()) <= set(VERDICTS) and entry["control"] in VERDICTS
        assert detail[study][claim_id]["verdict"] == entry["verdict"]
        assert detail[study][claim_id]["parts"] and detail[study][claim_id]["control_parts"]
    assert sum(len(entries) for entries in metrics.values()) == sum(
        1 for _ in pipeline.claim_entries()
    )


def test_report_opens_with_the_summary_and_has_one_section_per_claim(pipeline):
    text = (pipeline.root / "reports" / "README.md").read_text()
    metrics = json.loads((pipeline.root / "reports" / "claims.json").read_text())
    assert text.index("## Summary") < text.index("| claim | verdict |") < text.index("## Revisions")
    leftover = re.search(r"\{[A-Za-z_][A-Za-z0-9_.]*(:[^}]*)?\}", text)
    assert not leftover, f"template text left in the report: {leftover.group(0)}"
    for study, claim_id, entry in pipeline.claim_entries():
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


def test_second_run_is_a_no_op(pipeline):
    assert "Running stage" not in pipeline.second.stdout, pipeline.second.stdout
    assert "up to date" in pipeline.second.stdout
    assert "up to date" in pipeline.status.stdout, pipeline.status.stdout


def _pick(params: dict, experiment: str) -> str:
    """A decay variant of one experiment (probed where possible): the stages rerun for the byte check."""
    variants = params["sparse_features"]["variants"][experiment]
    candidates = [n for n, e in variants.items() if "decay_at" in e["schedule"]]
    probed = [n for n in candidates if variants[n]["schedule"]["lr"] == "probe"]
    return (probed or candidates or list(variants))[0]


def test_same_params_give_identical_bytes(pipeline):
    """Delete outputs and rerun the stages on the same params: the Parquet tables (and every other
    result without a wall-clock timing in it) come back byte for byte."""
    root, study = pipeline.root, "sparse_features"
    variants = [_pick(pipeline.params, "diag_net"), _pick(pipeline.params, "relu_net")]
    data = Path("data") / study
    outputs = [
        data / "generated.npz",
        data / "probe.json",
        Path("data/results") / f"{study}.parquet",
        Path("data/results") / f"{study}_loss_curves.csv",
        Path("reports/claims.json"),
    ]
    outputs += [data / "runs" / f"{v}.npz" for v in variants] + [
        data / "measures" / f"{v}.parquet" for v in variants
    ]
    outputs += sorted(
        p.relative_to(root) for p in (root / "reports" / "figures" / study).glob("*.png")
    )
    before = {path: (root / path).read_bytes() for path in outputs}
    for path in outputs:
        (root / path).unlink()
    commands = [["generate", study], ["probe", study]]
    commands += [[kind, study, v] for v in variants for kind in ("train", "measure")]
    commands += [["aggregate", study], ["render", study], ["report"]]
    for command in commands:
        checked(["python", "-m", f"stages.{command[0]}", *command[1:]], root)
    changed = [str(path) for path in outputs if (root / path).read_bytes() != before[path]]
    assert not changed, f"outputs differ after a rerun on the same params: {changed}"


# ----------------------------------------------------------------------------- bad params, exit 2


@pytest.fixture()
def fresh_copy(tmp_path) -> Path:
    return copy_repository(tmp_path / "repo")


def set_param(root: Path, path: tuple, value) -> None:
    params = yaml.safe_load((root / "params.yaml").read_text())
    node = params
    for part in path[:-1]:
        node = node[part]
    if value is None:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def assert_stopped_before_output(
    result: subprocess.CompletedProcess, root: Path, *expected: str
) -> None:
    assert result.returncode == 2, (result.returncode, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, f"expected a one-line message, got:\n{result.stderr}"
    assert "Traceback" not in result.stderr
    for text in expected:
        assert text in lines[0], (text, lines[0])
    assert not (root / "data").exists(), "a stage wrote data before validating its params"
    assert not (root / "reports").exists(), "a stage wrote a report before validating its params"


def test_unknown_variant_stops_train(fresh_copy):
    result = run(["python", "-m", "stages.train", "sparse_features", "no_such_variant"], fresh_copy)
    assert_stopped_before_output(
        result, fresh_copy, "sparse_features.variants", "no_such_variant", "one of "
    )


def test_unknown_study_stops_generate(fresh_copy):
    result = run(["python", "-m", "stages.generate", "no_such_study"], fresh_copy)
    assert_stopped_before_output(
        result,
        fresh_copy,
        "study",
        "no_such_study",
        "one of ",
        "sparse_features",
        "edge_of_stability",
    )


def test_negative_step_size_stops_every_stage(fresh_copy):
    params = yaml.safe_load((fresh_copy / "params.yaml").read_text())
    experiment, group = next(iter(params["sparse_features"]["variants"].items()))
    variant = next(iter(group))
    set_param(
        fresh_copy, ("sparse_features", "variants", experiment, variant, "schedule", "lr"), -0.2
    )
    key = f"sparse_features.variants.{experiment}.{variant}.schedule.lr = -0.2"
    for command in (
        ["generate", "sparse_features"],
        ["probe", "sparse_features"],
        ["train", "sparse_features", variant],
        ["report"],
    ):
        result = run(["python", "-m", f"stages.{command[0]}", *command[1:]], fresh_copy)
        assert_stopped_before_output(result, fresh_copy, key, "a number > 0")


@pytest.mark.parametrize(
    "path, value, expected",
    [
        (
            ("variants", "*experiment", "*", "schedule", "kind"),
            "linear",
            "allowed: one of constant, step_decay, cosine",
        ),
        (
            ("variants", "*experiment", "*decay", "schedule", "decay_at"),
            1.5,
            "allowed: a number in (0, 1)",
        ),
        (("setup", "diag_net", "n_train"), None, "'<missing>'"),
        (("setup", "relu_net", "steps"), "300", "allowed: an integer >= 1"),
    ],
)
def test_bad_params_stop_train_with_the_key(fresh_copy, path, value, expected):
    params = yaml.safe_load((fresh_copy / "params.yaml").read_text())
    groups = params["sparse_features"]["variants"]
    experiment, name = next(
        (experiment, n)
        for experiment, variants in groups.items()
        for n, e in variants.items()
        if "*decay" not in path or "decay_at" in e["schedule"]
    )
    stand_in = {"*experiment": experiment, "*": name, "*decay": name}
    path = tuple(stand_in.get(part, part) for part in path)
    set_param(fresh_copy, ("sparse_features", *path), value)
    result = run(["python", "-m", "stages.train", "sparse_features", name], fresh_copy)
    assert_stopped_before_output(
        result, fresh_copy, "sparse_features." + ".".join(path) + " = ", expected
    )
