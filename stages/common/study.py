"""The contract between the generic stages and a study: one skeleton for every study package.

A study package, stages/studies/<name>/, declares `STUDY = Study(...)` in its `__init__.py` (what
the study is: its name, citation, table schema) and keeps its code in modules with the same names
in every study. Each generic stage imports only the modules its work needs, so a stage's DVC
dependencies are the files it imports (tests/test_stage_dependencies.py checks that):

    config.py       parse(section) -> config     the validated params section (frozen dataclasses)
                    variant_names(config)        the variants, one train instance each
                    train_reads(config, variant) optional: variants whose runs this one's training
                                                 reads (e.g. a float network that a quantizer reads)
                    measure_reads(config, variant) optional: likewise for its measurement
    data.py         generate(config) -> arrays                    data/<study>/generated.npz
    training.py     train(config, variant, data, *, probe, execution, reads) -> TrainResult
                                                                  data/<study>/runs/<variant>.npz
                    probe(config, data) -> mapping                data/<study>/probe.json (studies
                                                                  with `probes=True`)
    measurement.py  measure(config, variant, data, runs, *, reads) -> tidy frame
                                                                  data/<study>/measures/<variant>.parquet
    checks.py       CHECKS = {name: check}                        one function per claim check
    figures.py      figures(config, table) -> {name: Figure}      reports/figures/<study>/<name>.png
    describe.py     describe(config, variants, probe) -> markdown the setup printed in the report

`reads` is a mapping of variant name to that variant's run arrays, empty when the variant reads
none. `parse` raises `ParamError` (key, value, what is allowed) before any compute, and the study
never touches a file path: the generic stages read, validate and write atomically.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from .params import NAME, NAME_ALLOWED, ParamError, Section, check_name

if TYPE_CHECKING:
    import numpy as np

STUDIES_PACKAGE = "stages.studies"
STUDIES_DIRECTORY = Path(__file__).resolve().parents[1] / "studies"
# every study package holds these modules (tests/test_study_skeleton.py); more may sit beside them
SKELETON = ("config", "data", "training", "measurement", "checks", "figures", "describe")


@dataclass(frozen=True)
class Execution:
    """Where runs execute; kept out of every cache key (results on one device are bit-identical
    across reruns; a GPU's float results may differ from the CPU's in the last bits)."""

    device: str = "cpu"


@dataclass
class TrainResult:
    """What one train instance produced.

    arrays: everything measure needs (trajectories, checkpoints, per-run diverged flags).
    run_steps: optimisation steps summed over the runs (the compute the report quotes).
    runs: number of runs (seeds x settings) in this instance.
    wall_clock: timings that are themselves measurements (e.g. a backward pass timed against another),
      in seconds; kept beside the compute in data/<study>/runs/<variant>.json, never in the tables,
      so the tables stay byte-stable. The report prints them on `**Wall-clock:**` lines only.
    """

    arrays: dict[str, np.ndarray]
    run_steps: int
    runs: int
    wall_clock: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Study:
    """What a study is; its code is in the skeleton modules, imported on first use by role.

    setting_columns: the tidy table's setting columns and their types (`string`, `float64`,
      `int64`): every setting that tells rows apart, beside the core columns of stages/common/tables.
    loss_curve_metric: the metric exported for `dvc plots` (median over seeds per step), if any.
    probes: whether training.py defines `probe` (a stage that chooses step sizes before the runs).
    """

    name: str
    citation: str
    setting_columns: dict[str, str]
    loss_curve_metric: str | None = None
    probes: bool = False

    def module(self, role: str) -> ModuleType:
        """One skeleton module of this study, e.g. `module("training")`."""
        if role not in SKELETON:
            raise ValueError(f"{role!r} is not a skeleton module ({', '.join(SKELETON)})")
        return importlib.import_module(f"{STUDIES_PACKAGE}.{self.name}.{role}")

    def parse(self, section: Section) -> Any:
        """The study's config.parse, then every variant name checked: a name becomes a file name,
        a DVC stage name and a dotted params key, so it must be a NAME whatever the study allows."""
        config = self.module("config").parse(section)
        for name in self.variant_names(config):
            if not isinstance(name, str) or not NAME.fullmatch(name):
                raise ParamError(
                    _where(section, name), name, "variant names that are " + NAME_ALLOWED
                )
        return config

    def variant_names(self, config: Any) -> list[str]:
        return self.module("config").variant_names(config)

    def check_variant(self, config: Any, variant: str) -> None:
        """`variant` (a command-line argument or DVC_STAGE's) is a NAME and a variant of the study."""
        check_name("variant", variant)
        names = self.variant_names(config)
        if variant not in names:
            raise ParamError(f"{self.name}.variants", variant, "one of " + ", ".join(names))

    def train_reads(self, config: Any, variant: str) -> list[str]:
        """The variants whose runs `variant`'s training reads (none unless config.py says so)."""
        reads = getattr(self.module("config"), "train_reads", None)
        return reads(config, variant) if reads is not None else []

    def measure_reads(self, config: Any, variant: str) -> list[str]:
        """The variants whose runs `variant`'s measurement reads (none unless config.py says so)."""
        reads = getattr(self.module("config"), "measure_reads", None)
        return reads(config, variant) if reads is not None else []


def _where(section: Section, name: Any) -> str:
    """Where in the study's section the variant `name` is written: the dotted path of the mapping
    that has it as a key (a study may group its variants by experiment), or of the key whose value
    it is; else the section's own path."""
    pending = [(section.mapping, section.path)]
    while pending:
        mapping, path = pending.pop(0)
        if name in mapping:
            return path
        for key, value in mapping.items():
            if value == name:
                return f"{path}.{key}"
            if isinstance(value, Mapping):
                pending.append((value, f"{path}.{key}"))
    return section.path


def study_names() -> tuple[str, ...]:
    """The study packages under stages/studies/, in name order, without importing any of them
    (a stage imports only its own study, so its dependencies stay its own)."""
    return tuple(sorted(m.name for m in pkgutil.iter_modules([str(STUDIES_DIRECTORY)]) if m.ispkg))


def load_study(name: str) -> Study:
    """Import one study package and return its STUDY, checked against the contract."""
    names = study_names()
    check_name("study", name)
    if name not in names:
        raise ParamError("study", name, "one of " + ", ".join(names))
    package = importlib.import_module(f"{STUDIES_PACKAGE}.{name}")
    study = getattr(package, "STUDY", None)
    if not isinstance(study, Study) or study.name != name:
        raise ParamError(
            f"{STUDIES_PACKAGE}.{name}.STUDY", study, f"a Study(name={name!r}, ...) in __init__.py"
        )
    return study


def discover_studies() -> dict[str, Study]:
    """Every study, by importing each package under stages/studies/: a study plugs in by adding its
    package (and its params, claims and pipelines/<study>/dvc.yaml), not by editing a list."""
    return {name: load_study(name) for name in study_names()}
