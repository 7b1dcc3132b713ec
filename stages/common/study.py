"""The contract between the generic stages and a study.

A study package (stages/studies/<name>/) exposes `STUDY = Study(...)`. The generic stages only
dispatch to these callables, time them, validate what comes back and write it atomically; the
study never touches a file path.

    generate(config)                         -> arrays           data/<study>/generated.npz
    probe(config, data)                      -> json mapping     data/<study>/probe.json (optional)
    train(config, variant, data, probe, ex)  -> TrainResult      data/<study>/runs/<variant>.npz
      (+ upstream) when the study declares train_reads(config, variant) -> [other variants]: the runs
      of those variants, e.g. a trained float network that a quantizer variant quantizes
    measure(config, variant, data, run)      -> tidy frame       data/<study>/measures/<variant>.parquet
      (+ references) when the study declares measure_reads(config, variant) -> [other variants]:
      the runs of those variants, e.g. a trajectory measured by its distance to another one
    figures(config, table)                   -> {name: Figure}   reports/figures/<study>/<name>.png
    checks[name](table, tolerance)           -> ClaimOutcome     reports/claims.json, reports/README.md
    describe(config, variants, probe)        -> markdown         the "setup we ran" of a claim's section

`config` is whatever `parse(section)` returns after validating the study's whole params section;
`parse` must raise `ParamError` (key, value, what is allowed) before any compute.
A *variant* is the unit one train instance covers (a schedule, a quantizer, a gradient estimator).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .params import ParamError, Section

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from .verdicts import ClaimOutcome


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
    name: str
    citation: str
    parse: Callable[[Section], Any]
    variant_names: Callable[[Any], list[str]]
    generate: Callable[[Any], dict[str, np.ndarray]]
    train: Callable[[Any, str, dict[str, np.ndarray], Mapping | None, Execution], TrainResult]
    measure: Callable[[Any, str, dict[str, np.ndarray], dict[str, np.ndarray]], pd.DataFrame]
    setting_columns: dict[str, str]
    figures: Callable[[Any, pd.DataFrame], dict[str, Any]]
    checks: dict[str, Callable[[pd.DataFrame, Section], ClaimOutcome]]
    describe: Callable[[Any, list[str], Mapping | None], str]
    probe: Callable[[Any, dict[str, np.ndarray]], dict] | None = None
    loss_curve_metric: str | None = (
        None  # metric exported as a DVC plot (median over seeds per step)
    )
    # Other variants whose runs a variant's measurement reads (declare them as deps in dvc.yaml too);
    # when set, measure receives {variant: run arrays} as a fifth argument.
    measure_reads: Callable[[Any, str], list[str]] | None = None
    # Other variants whose runs a variant's *training* reads (declare them as deps in dvc.yaml too, per
    # item: `- data/<study>/runs/${item.<key>}.npz`); when set, train receives {variant: run arrays}
    # as a sixth argument. A variant must not read itself (DVC would see a cycle).
    train_reads: Callable[[Any, str], list[str]] | None = None

    def check_variant(self, config: Any, variant: str) -> None:
        names = self.variant_names(config)
        if variant not in names:
            raise ParamError(f"{self.name}.variants", variant, "one of " + ", ".join(names))


def lazy(module: str, function: str) -> Callable:
    """A callable that imports `module` on first use: stages that never train never import torch,
    and stages that never plot never import seaborn (each costs ~2 s of a stage's start-up)."""

    def call(*args, **kwargs):
        return getattr(importlib.import_module(module), function)(*args, **kwargs)

    call.__name__ = function
    return call


def discover_studies() -> tuple[str, ...]:
    """Every package under stages/studies/ whose __init__.py defines STUDY, in name order: a study
    plugs in by adding its package (and its params, claims and dvc.yaml entries), not by editing a list."""
    root = Path(__file__).resolve().parents[1] / "studies"
    return tuple(
        sorted(
            path.parent.name
            for path in root.glob("*/__init__.py")
            if "STUDY = Study(" in path.read_text()
        )
    )


STUDY_PACKAGES = discover_studies()


def load_study(name: str) -> Study:
    if name not in STUDY_PACKAGES:
        raise ParamError("study", name, "one of " + ", ".join(STUDY_PACKAGES))
    return importlib.import_module(f"stages.studies.{name}").STUDY
