"""The catalogue of bad inputs and faults (issue 17), each through a real entry point: a stage run
directly (`python -m stages.<kind>`), the driver (`python -m stages.repro`, what `make repro` runs)
and plain `dvc repro` where DVC is the one that acts.

For every case: the exit status; the message, one line naming the key or file, the value and what
is allowed (under plain `dvc repro` the stage's line sits beside DVC's own `ERROR: failed to
reproduce` line; where DVC itself refuses, before any stage runs, the message is DVC's); and the
hashes of every file under data/, reports/ and of every lock file, identical before and after.
Nothing a name holds is ever run (no `pwned` file appears) and nothing is written outside the
project.

The project is a copy of the working tree with the tiny profile (tests/profiles/tiny.yaml), holding
the stages of the two studies the cases name (sparse_features, float_instability) and the report.
Its outputs are placeholders recorded by `dvc commit` (real reports/ files, small valid .npz, .json
and Parquet files), so `dvc status` is clean and a plain `dvc repro` acts only on what a case
changes. Every case must stop before any compute: none needs real data.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import yaml
from conftest import REPO
from params_profile import apply_profile

from stages.common.atomic import write_arrays
from stages.common.study import load_study
from stages.common.tables import TidyRows, write_table
from stages.parallel.workspace import copy_project

VENV_BIN = REPO / ".venv" / "bin"
STUDIES = ("sparse_features", "float_instability")  # the studies whose pipelines the copy keeps
MARKER = "pwned"  # what a shell command hidden in a name would create
SHELL_NAME = f";touch {MARKER};"
ESCAPING_NAME = "../../../../x"


def environment(**extra: str) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "DVC_STAGE")
    }
    env.update(
        PATH=f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}",
        OMP_NUM_THREADS="1",
        OMP_WAIT_POLICY="PASSIVE",
        PYTHONHASHSEED="0",
        DVC_NO_ANALYTICS="1",
    )
    env.update(extra)
    return env


# ------------------------------------------------------------------------------------ the project


def placeholder(root: Path, output: Path) -> None:
    """A small valid file for a stage output (reports/ files are the committed ones)."""
    target = root / output
    if output.parts[0] == "reports":
        source = REPO / output
        if source.is_dir():
            shutil.copytree(source, target, dirs_exist_ok=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    if output.suffix == ".npz":
        write_arrays(target, {"placeholder": np.zeros(1)})
    elif output.suffix == ".parquet":
        study = output.stem if output.parts[1] == "results" else output.parts[1]
        columns = load_study(study).setting_columns
        rows = TidyRows(columns, **dict.fromkeys(columns))
        rows.add(0, 0, "placeholder", 0.0)
        frame = rows.frame().assign(study=study, variant=output.stem)
        write_table(target, frame, columns)
    elif output.suffix == ".json":
        target.write_text("{}\n")
    else:
        target.write_text("placeholder\n")


def build_project(root: Path) -> Path:
    copy_project(REPO, root)
    apply_profile(root / "params.yaml", REPO / "tests" / "profiles" / "tiny.yaml")
    for pipeline in (root / "pipelines").rglob("dvc.yaml"):
        if pipeline.relative_to(root / "pipelines").parts[0] not in STUDIES:
            pipeline.unlink()
    from dvc.repo import Repo

    with Repo(str(root)) as repo:
        outputs = [Path(o.fs_path).relative_to(root) for s in repo.index.stages for o in s.outs]
    for output in outputs:
        placeholder(root, output)
    subprocess.run(["dvc", "commit", "--force", "--quiet"], cwd=root, env=environment(), check=True)
    return root


def state(root: Path) -> dict[str, str]:
    """sha256 of every file under data/ and reports/ and of every lock file."""
    files = [p for top in ("data", "reports") for p in (root / top).rglob("*") if p.is_file()]
    files += [root / "dvc.lock", *(root / "pipelines").rglob("dvc.lock")]
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


class Project:
    def __init__(self, root: Path):
        self.root = root
        self.pristine = state(root)
        self.backup = root.parent / "pristine"
        for top in ("data", "reports", "pipelines"):
            shutil.copytree(root / top, self.backup / top)
        shutil.copy2(root / "dvc.lock", self.backup / "dvc.lock")
        self.inputs = {name: (root / name).read_bytes() for name in ("params.yaml", "claims.yaml")}
        self.outside = sorted(p.name for p in root.parent.iterdir())
        self.params = yaml.safe_load(self.inputs["params.yaml"])

    def restore(self) -> None:
        for name, payload in self.inputs.items():
            (self.root / name).write_bytes(payload)
        if state(self.root) != self.pristine:  # a case failed and changed something: start clean
            for top in ("data", "reports", "pipelines"):
                shutil.rmtree(self.root / top)
                shutil.copytree(self.backup / top, self.root / top)
            shutil.copy2(self.backup / "dvc.lock", self.root / "dvc.lock")

    def variant(self, study: str, group: str) -> str:
        """The first variant of one experiment's group in the tiny profile."""
        return next(iter(self.params[study]["variants"][group]))


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Project:
    return Project(build_project(tmp_path_factory.mktemp("catalogue") / "repo"))


# ------------------------------------------------------------------------------------ the edits


def set_params(*changes: tuple[tuple[str, ...], object]) -> Callable[[Project], None]:
    """Set keys of params.yaml (a path of keys, as names may hold dots); None deletes."""

    def edit(project: Project) -> None:
        params = yaml.safe_load((project.root / "params.yaml").read_text())
        for path, value in changes:
            node = params
            for key in path[:-1]:
                node = node[key]
            if value is None:
                del node[path[-1]]
            else:
                node[path[-1]] = value
        (project.root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))

    return edit


def set_claims(study: str, claim: str, key: str, value) -> Callable[[Project], None]:
    def edit(project: Project) -> None:
        claims = yaml.safe_load((project.root / "claims.yaml").read_text())
        claims[study][claim][key] = value
        (project.root / "claims.yaml").write_text(yaml.safe_dump(claims, sort_keys=False))

    return edit


def write_text(name: str, text: str) -> Callable[[Project], None]:
    return lambda project: (project.root / name).write_text(text)


def append_text(name: str, text: str) -> Callable[[Project], None]:
    return lambda project: (project.root / name).write_text(
        (project.root / name).read_text() + text
    )


def repeat_claim(study: str) -> Callable[[Project], None]:
    """claims.yaml with the study's first claim written a second time, under the same id."""

    def edit(project: Project) -> None:
        text = (project.root / "claims.yaml").read_text()
        claims = yaml.safe_load(text)
        first = next(iter(claims[study]))
        again = yaml.safe_dump({first: claims[study][first]}, sort_keys=False)
        anchor = f"\n{study}:\n"
        indented = "".join("  " + line + "\n" for line in again.splitlines())
        (project.root / "claims.yaml").write_text(text.replace(anchor, anchor + indented, 1))

    return edit


def variant_entry(project: Project, study: str, group: str) -> dict:
    return dict(project.params[study]["variants"][group][project.variant(study, group)])


def add_variant(study: str, group: str, name: str) -> Callable[[Project], None]:
    def edit(project: Project) -> None:
        set_params(((study, "variants", group, name), variant_entry(project, study, group)))(
            project
        )

    return edit


def damage(path: Callable[[Project], str], how: str) -> Callable[[Project], None]:
    """Damage a data file in place: `flip` one bit of the last byte of a Parquet file's `value`
    page (what an unchecked read returns as another number), `garbage` replaces the file."""

    def edit(project: Project) -> None:
        target = project.root / path(project)
        if how == "garbage":
            target.write_bytes(b"\x00 not what was written " * 20)
            return
        group = pq.ParquetFile(target).metadata.row_group(0)
        value = next(
            group.column(i)
            for i in range(group.num_columns)
            if group.column(i).path_in_schema == "value"
        )
        start = (
            value.dictionary_page_offset if value.has_dictionary_page else value.data_page_offset
        )
        payload = bytearray(target.read_bytes())
        payload[start + value.total_compressed_size - 1] ^= 0x01
        target.write_bytes(bytes(payload))

    return edit


def nothing(project: Project) -> None:
    return None


@dataclass(frozen=True)
class Case:
    name: str
    entry: str  # stage, driver or dvc
    command: Callable[[Project], list[str]]
    edit: Callable[[Project], None]
    status: int  # dvc repro exits 255 when a stage's command fails, whatever its status
    says: tuple[str, ...]  # in the one line (for `dvc` cases: in DVC's or the stage's line)
    env: dict[str, str] = field(default_factory=dict)
    dvc_refuses: bool = False  # DVC itself refuses before any stage: the message is DVC's


def stage(kind: str, *arguments: str | Callable[[Project], str]) -> Callable[[Project], list[str]]:
    return lambda project: (
        ["python", "-m", f"stages.{kind}"] + [a(project) if callable(a) else a for a in arguments]
    )


def driver(*arguments: str) -> Callable[[Project], list[str]]:
    return lambda project: ["python", "-m", "stages.repro", *arguments]


def dvc(*arguments: str) -> Callable[[Project], list[str]]:
    return lambda project: ["dvc", "repro", *arguments]


def first(study: str, group: str) -> Callable[[Project], str]:
    return lambda project: project.variant(study, group)


SF, FI = "sparse_features", "float_instability"
T1 = first(SF, "diag_table1")
CNN = first(FI, "cnn")
SF_SETUP = (SF, "setup", "diag_net")
KNOWN_KEYS = "a known key here"
NAME_RULE = "a name of letters, digits, _ and - (not first)"

CASES = [
    # names: a shell command, a path out of the project, a folder
    Case("shell name, stage", "stage", stage("train", SF), add_variant(SF, "diag_table1", SHELL_NAME), 2,
         ("sparse_features.variants.diag_table1", repr(SHELL_NAME), NAME_RULE),
         env={"DVC_STAGE": f"pipelines/{SF}/diag_table1/dvc.yaml:train-{SF}-diag_table1@{SHELL_NAME}"}),
    Case("shell name, driver", "driver", driver(), add_variant(SF, "diag_table1", SHELL_NAME), 2,
         ("sparse_features.variants.diag_table1", repr(SHELL_NAME), NAME_RULE)),
    Case("shell name, dvc repro", "dvc", dvc(), add_variant(SF, "diag_table1", SHELL_NAME), 255,
         ("sparse_features.variants.diag_table1", repr(SHELL_NAME), NAME_RULE)),
    Case("shell name with a quote, dvc repro", "dvc", dvc(), add_variant(SF, "diag_net", f"x';touch {MARKER};'"), 255,
         ("sparse_features.variants.diag_net", NAME_RULE)),
    Case("escaping name, stage argument", "stage", stage("train", SF, ESCAPING_NAME), nothing, 2,
         ("variant", repr(ESCAPING_NAME), NAME_RULE)),
    Case("escaping name, driver", "driver", driver(), add_variant(FI, "cnn", ESCAPING_NAME), 2,
         ("float_instability.variants.cnn", repr(ESCAPING_NAME), NAME_RULE)),
    Case("escaping name, dvc repro", "dvc", dvc(), add_variant(FI, "cnn", ESCAPING_NAME), 255,
         ("x.json' is specified in",), dvc_refuses=True),
    Case("folder in a name, measure", "stage", stage("measure", FI), add_variant(FI, "cnn", "a/b"), 2,
         ("float_instability.variants.cnn", "'a/b'", NAME_RULE),
         env={"DVC_STAGE": f"pipelines/{FI}/cnn/dvc.yaml:measure-{FI}-cnn@a/b"}),
    Case("dotted name, generate", "stage", stage("generate", SF), add_variant(SF, "relu_net", "relu.v2"), 2,
         ("sparse_features.variants.relu_net", "'relu.v2'", NAME_RULE)),
    Case("DVC_STAGE of another study", "stage", stage("train", SF), nothing, 2,
         ("DVC_STAGE", f"train-{SF}[-<experiment>]@<variant>"),
         env={"DVC_STAGE": "pipelines/gpfq/dvc.yaml:train-gpfq@mlp"}),
    Case("unknown variant", "stage", stage("measure", SF, "no_such_variant"), nothing, 2,
         ("sparse_features.variants", "'no_such_variant'", "one of ")),
    Case("unknown study", "stage", stage("generate", "sparse_feature"), nothing, 2,
         ("study", "'sparse_feature'", "one of ", SF)),
    # the YAML itself
    Case("empty params.yaml, stage", "stage", stage("generate", FI), write_text("params.yaml", ""), 2,
         ("params.yaml", "'<empty>'", "a YAML mapping at the top level")),
    Case("empty params.yaml, driver", "driver", driver(), write_text("params.yaml", "# nothing\n"), 2,
         ("params.yaml", "'<empty>'", "a YAML mapping at the top level")),
    Case("unparsable params.yaml", "stage", stage("train", FI, CNN), append_text("params.yaml", "oops: [1, 2\n"), 2,
         ("params.yaml line", "'<unparsable>'", "valid YAML (")),
    Case("YAML tag", "stage", stage("generate", SF),
         append_text("params.yaml", f"notes: !!python/object/apply:os.system [touch {MARKER}]\n"), 2,
         ("params.yaml line", "'<unparsable>'", "constructor for the tag")),
    Case("repeated top-level key, stage", "stage", stage("generate", SF), append_text("params.yaml", "execution: {device: cpu}\n"), 2,
         ("params.yaml line", "execution", "'<repeated>'", "each key once per mapping (it is first at line")),
    Case("repeated key, dvc repro", "dvc", dvc(), append_text("params.yaml", "execution: {device: cpu}\n"), 255,
         ("params.yaml", "duplicate key"), dvc_refuses=True),
    Case("repeated claim id, report", "stage", stage("report"), repeat_claim(FI), 2,
         ("claims.yaml line", "float_instability.F1", "'<repeated>'", "each key once per mapping")),
    Case("repeated claim id, driver", "driver", driver(), repeat_claim(SF), 2,
         ("claims.yaml line", "sparse_features.C1", "'<repeated>'")),
    Case("misspelt study section, stage", "stage", stage("generate", SF),
         append_text("params.yaml", "sparse_feature: {setup: {}}\n"), 2,
         ("params.yaml: sparse_feature", "'<unknown section>'", "a study's section or execution (")),
    Case("misspelt study section, driver", "driver", driver(), append_text("params.yaml", "gpfg: {}\n"), 2,
         ("params.yaml: gpfg", "a study's section or execution (", "gpfq")),
    Case("misspelt setup key", "stage", stage("generate", SF), set_params(((*SF_SETUP, "n_trian"), 20)), 2,
         ("sparse_features.setup.diag_net.n_trian", KNOWN_KEYS, "n_train")),
    # values
    Case("a number as a string", "stage", stage("train", SF, T1),
         set_params(((SF, "setup", "diag_table1", "init_scale"), "0.1")), 2,
         ("sparse_features.setup.diag_table1.init_scale", "'0.1'", "a number > 0")),
    Case("no seeds", "stage", stage("train", FI, CNN), set_params(((FI, "variants", "cnn", "cnn_relu", "seeds"), 0)), 2,
         ("float_instability.variants.cnn.cnn_relu.seeds", "= 0", "an integer >= 2")),
    Case("decay beyond the run", "stage", stage("measure", SF, T1),
         set_params(((SF, "variants", "diag_table1", "t1_sgd_decay10", "schedule", "decay_at"), 1.5)), 2,
         ("sparse_features.variants.diag_table1.t1_sgd_decay10.schedule.decay_at", "1.5", "a number in (0, 1)")),
    Case("unknown device", "stage", stage("train", FI, CNN), set_params((("execution", "device"), "tpu")), 2,
         ("execution.device", "'tpu'", "one of cpu, cuda")),
    Case("bad value, driver", "driver", driver(), set_params(((FI, "setup", "board", "sizes", "small", "steps"), -5)), 2,
         ("float_instability.setup.board.sizes.small.steps", "-5", "an integer >= 1")),
    Case("unknown check, dvc repro keeps the report", "dvc", dvc("--single-item", "dvc.yaml:report"),
         set_claims(SF, "C1", "check", "no_such_check"), 255,
         ("claims.yaml:sparse_features.C1.check", "'no_such_check'", "one of ")),
    Case("unknown check, driver", "driver", driver(), set_claims(FI, "F2", "check", "regime_mpa"), 2,
         ("claims.yaml:float_instability.F2.check", "'regime_mpa'", "regime_map")),
    # sizes: bounds and memory estimates before compute
    Case("huge steps", "stage", stage("train", SF, T1), set_params(((*SF_SETUP, "steps"), 10**12)), 2,
         ("sparse_features.setup.diag_net.steps", str(10**12), "INTEGER_LIMIT")),
    Case("huge eval_points", "stage", stage("probe", SF),
         set_params(((*SF_SETUP, "eval_points"), 10**8), ((*SF_SETUP, "dim"), 10**6)), 2,
         ("sparse_features.setup.diag_net", "GiB for 8 bytes x seeds", "this machine's memory")),
    Case("huge image", "stage", stage("generate", FI),
         set_params(((FI, "setup", "board", "sizes", "small", "image_side"), 10**6),
                    ((FI, "setup", "board", "sizes", "small", "kernel_side"), 4)), 2,
         ("float_instability.setup.board.sizes.small", "image_side^2", "this machine's memory")),
    Case("huge channels, driver", "driver", driver(), set_params(((FI, "setup", "cnn", "channels"), [10**6, 10**6])), 2,
         ("float_instability.setup.cnn", "GiB for 4 bytes", "this machine's memory")),
    # data: damaged or incomplete inputs, refused before anything is written
    Case("run file missing an array", "stage", stage("measure", SF, T1), nothing, 2,
         (f"data/{SF}/runs/", ".npz has no array", "dvc checkout")),
    Case("flipped byte in a measure table", "stage", stage("aggregate", FI),
         damage(lambda p: f"data/{FI}/measures/{p.variant(FI, 'cnn')}.parquet", "flip"), 2,
         (f"data/{FI}/measures/", "corrupt", "dvc repro")),
    Case("garbage data set", "stage", stage("train", FI, CNN),
         damage(lambda p: f"data/{FI}/generated.npz", "garbage"), 2,
         (f"data/{FI}/generated.npz is corrupt",)),
    Case("results table deleted", "stage", stage("render", FI),
         lambda p: (p.root / f"data/results/{FI}.parquet").unlink(), 2,
         (f"data/results/{FI}.parquet is missing", "dvc repro")),
    # the driver's own arguments
    Case("no jobs", "driver", driver("--jobs", "0"), nothing, 2, ("--jobs = 0", "an integer >= 1")),
    Case("unknown stage", "driver", driver("train-no_such_stage"), nothing, 2,
         ("stage = 'train-no_such_stage'", "dvc stage list --all")),
    Case("unreachable scheduler", "driver",
         lambda p: driver("--force", "--scheduler", f"tcp://127.0.0.1:{free_port()}")(p),
         # then Dask's own reason, which depends on timing: "Connection refused" on an idle
         # machine, a bare "Timed out trying to connect" on a loaded one
         nothing, 2, ("--scheduler = 'tcp://127.0.0.1:", "none answered within 1s",
                      "distributed.comm.timeouts.connect: "),
         env={"DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT": "1s"}),
]  # fmt: skip


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_bad_input_stops_in_one_line_and_changes_nothing(project, case):
    root = project.root
    try:
        case.edit(project)
        before = state(root)
        result = subprocess.run(
            case.command(project),
            cwd=root,
            env=environment(**case.env),
            capture_output=True,
            text=True,
            timeout=300,
        )
        after = state(root)
    finally:
        project.restore()
    lines = result.stderr.strip().splitlines()
    assert result.returncode == case.status, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    if case.dvc_refuses:
        message = result.stderr
    elif case.entry == "dvc":  # the stage's own line, and DVC's
        ours = [line for line in lines if line.startswith("error: ")]
        assert len(ours) == 1, result.stderr
        assert all(
            line.startswith("ERROR: failed to reproduce") for line in lines if line not in ours
        )
        message = ours[0]
    else:
        assert len(lines) == 1, result.stderr
        message = lines[0]
    for text in case.says:
        assert text in message, (text, message)
    assert after == before, "the refused input changed files: " + ", ".join(
        sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
    )
    assert not (root / MARKER).exists(), "a shell command in a name ran"
    assert sorted(p.name for p in root.parent.iterdir()) == project.outside, "wrote outside"


def test_the_catalogue_is_long_enough_and_covers_every_entry_point():
    assert len(CASES) >= 30
    assert {case.entry for case in CASES} == {"stage", "driver", "dvc"}
    assert len({case.name for case in CASES}) == len(CASES)


def test_plain_dvc_repro_deletes_a_refused_stage_s_cached_outputs_and_dvc_checkout_restores_them(
    project,
):
    """Where plain `dvc repro` runs a stage whose input is bad, DVC deletes that stage's outputs
    before the command refuses (DVC's order; `make repro` checks first and never gets there). For
    the outputs DVC caches, `dvc checkout` brings them back byte for byte; the committed report and
    figures persist (dvc.yaml) and need nothing (the report case above)."""
    root, variant = project.root, project.variant(FI, "cnn")
    outputs = [f"data/{FI}/runs/{variant}.npz", f"data/{FI}/runs/{variant}.json"]
    try:
        set_params(((FI, "variants", "cnn", variant, "seeds"), 0))(project)
        result = subprocess.run(
            [
                "dvc",
                "repro",
                "--single-item",
                f"pipelines/{FI}/cnn/dvc.yaml:train-{FI}-cnn@{variant}",
            ],
            cwd=root,
            env=environment(),
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert result.returncode != 0 and "seeds = 0" in result.stderr, result.stderr
        deleted = [path for path in outputs if not (root / path).exists()]
        (root / "params.yaml").write_bytes(project.inputs["params.yaml"])
        subprocess.run(["dvc", "checkout", *outputs], cwd=root, env=environment(), check=True)
        restored = state(root)
    finally:
        project.restore()
    assert deleted == outputs, "DVC kept them: then this test's premise no longer holds"
    assert restored == project.pristine
