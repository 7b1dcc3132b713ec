"""The Study contract's generic parts: study discovery, and a variant whose training reads another
variant's run (`train_reads`, e.g. a quantizer that reads a trained float network)."""

from __future__ import annotations

import numpy as np
import pytest

import stages.train as train_stage
from stages.common import paths
from stages.common.atomic import read_arrays, read_json, write_arrays
from stages.common.study import STUDY_PACKAGES, Execution, Study, TrainResult, discover_studies


def test_discovery_finds_every_study_package_in_name_order():
    assert discover_studies() == STUDY_PACKAGES
    assert {"sparse_features", "edge_of_stability"} <= set(STUDY_PACKAGES)
    assert list(STUDY_PACKAGES) == sorted(STUDY_PACKAGES)


def _two_stage_study(received: dict) -> Study:
    """`base` trains from the data alone; `derived` doubles base's weights (it reads base's run)."""

    def train(config, variant, data, probe, execution, *upstream):
        received[variant] = upstream
        if variant == "base":
            return TrainResult({"weights": data["inputs"] + 1.0}, run_steps=1, runs=1)
        return TrainResult(
            {"weights": 2.0 * upstream[0]["base"]["weights"]},
            run_steps=1,
            runs=1,
            wall_clock={"quantize_seconds": 0.5},
        )

    return Study(
        name="contract",
        citation="",
        parse=lambda section: None,
        variant_names=lambda config: ["base", "derived"],
        generate=lambda config: {},
        train=train,
        measure=None,
        setting_columns={},
        figures=None,
        checks={},
        describe=None,
        train_reads=lambda config, variant: ["base"] if variant == "derived" else [],
    )


@pytest.fixture()
def contract_study(tmp_path, monkeypatch):
    received: dict = {}
    study = _two_stage_study(received)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(train_stage, "open_study", lambda name: (study, None))
    monkeypatch.setattr(train_stage, "execution", lambda: Execution())
    write_arrays(paths.generated("contract"), {"inputs": np.arange(3.0)})
    return received


def test_train_passes_the_runs_a_variant_reads(contract_study):
    train_stage.main(["contract", "base"])
    train_stage.main(["contract", "derived"])
    assert contract_study["base"] == ({},)  # declared, reads nothing
    assert set(contract_study["derived"][0]) == {"base"}
    np.testing.assert_array_equal(
        read_arrays(paths.run_arrays("contract", "derived"))["weights"], [2.0, 4.0, 6.0]
    )
    compute = read_json(paths.run_compute("contract", "derived"))
    assert compute["wall_clock"] == {"quantize_seconds": 0.5} and compute["runs"] == 1
    assert "wall_clock" not in read_json(paths.run_compute("contract", "base"))


def test_a_missing_upstream_run_is_a_data_error(contract_study):
    from stages.common.atomic import DataError

    with pytest.raises(DataError, match="base.npz is missing"):
        train_stage.main(["contract", "derived"])
